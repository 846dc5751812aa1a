"""The webhook operations in the OpenAPI schema, documented like the rest of the v2 API (tests/api/v2/test_schema.py
checks that the schema as a whole is valid and matches the URLconf)."""

import json

import pytest
from rest_framework.test import APIClient

ENDPOINT = "/api/v2/org/{domain}/webhooks/{endpoint_id}"
DELIVERY = f"{ENDPOINT}/deliveries/{{delivery_id}}"
ERROR = {"$ref": "#/components/schemas/ErrorOutput"}


@pytest.fixture
def schema(db):
    return json.loads(APIClient().get("/api/v2/schema?format=json").content)


def _schema_of(operation, status):
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_every_webhook_operation_is_documented_with_the_error_shape(schema):
    operations = {
        (ENDPOINT, "patch"): "200",
        (f"{ENDPOINT}/rotate-secret", "post"): "200",
        (f"{ENDPOINT}/test", "post"): "202",
        (f"{ENDPOINT}/deliveries", "get"): "200",
        (DELIVERY, "get"): "200",
        (f"{DELIVERY}/redeliver", "post"): "202",
    }
    for (path, method), success in operations.items():
        operation = schema["paths"][path][method]
        assert operation["summary"] and success in operation["responses"], (path, method)
        for status in ("400", "401", "403", "404"):
            assert _schema_of(operation, status) == ERROR, (path, method, status)
    for path in (f"{DELIVERY}/redeliver", f"{ENDPOINT}/test"):
        for status in ("409", "422"):
            assert _schema_of(schema["paths"][path]["post"], status) == ERROR


def test_the_delivery_log_documents_pages_and_the_status_filter(schema):
    operation = schema["paths"][f"{ENDPOINT}/deliveries"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert {"page", "per_page", "status"} <= set(parameters)
    assert set(parameters["status"]["schema"]["enum"]) == {"pending", "retrying", "delivered", "failed"}
    components = schema["components"]["schemas"]
    assert {"__type__", "data", "pagination", "total"} <= set(components["WebhookDeliveryList"]["properties"])
    assert "payload" in components["WebhookDeliveryDetailOutput"]["properties"]
    assert "payload" not in components["WebhookDeliveryOutput"]["properties"]


def test_only_creation_and_rotation_document_a_secret(schema):
    components = schema["components"]["schemas"]
    with_secret = {name for name, component in components.items() if "secret" in component.get("properties", {})}
    assert {"WebhookEndpointCreatedOutput", "WebhookEndpointRotatedOutput"} <= with_secret
    assert "secret" not in components["WebhookEndpointOutput"]["properties"]
    rotate = schema["paths"][f"{ENDPOINT}/rotate-secret"]["post"]
    body = rotate["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert components[body]["properties"]["expire_previous_in"]["maximum"] == 7 * 24 * 3600
