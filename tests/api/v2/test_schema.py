"""The OpenAPI schema at /api/v2/schema is valid, matches the URLconf, and the docs are served."""

import json

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from .helpers import METHODS, api_routes, assert_error


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/v2/schema?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_command_validates_without_warnings(tmp_path):
    # --fail-on-warn turns every generator warning (unresolved authenticator, operationId collision,
    # unknown serializer field...) into a failure.
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["openapi"].startswith("3.")


def test_served_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_served_schema_is_yaml_by_default(db):
    response = APIClient().get("/api/v2/schema")
    assert response.status_code == 200
    assert "openapi" in response["Content-Type"]
    assert yaml.safe_load(response.content)["info"]["title"]


def test_documented_paths_and_methods_are_exactly_the_routed_ones(schema):
    documented = {path: set(operations) & set(METHODS) for path, operations in schema["paths"].items()}
    routed = api_routes()
    assert "/api/v2/organizations/{domain}" in routed  # the walk finds the API at all
    assert documented == routed


def test_operation_ids_are_unique(schema):
    ids = [op["operationId"] for ops in schema["paths"].values() for m, op in ops.items() if m in METHODS]
    assert len(ids) == len(set(ids))
    assert {"organizations_list", "organizations_retrieve", "org_users_list", "org_users_retrieve"} <= set(ids)


def test_every_operation_but_the_token_endpoint_requires_the_bearer_scheme(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        **schema["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path == "/api/v2/oauth/token":
                assert not operation.get("security"), "the token endpoint takes client credentials"
            else:
                assert operation["security"] == [{"bearerAuth": []}], (path, method)


def test_directory_operations_document_the_error_shape(schema):
    error = {"$ref": "#/components/schemas/ErrorOutput"}
    for path in (
        "/api/v2/organizations",
        "/api/v2/organizations/{domain}",
        "/api/v2/org/{domain}/users",
        "/api/v2/org/{domain}/users/{user_id}",
    ):
        for method, operation in schema["paths"][path].items():
            for status in ("400", "401", "403", "404"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == error, (
                    path,
                    method,
                    status,
                )
    assert set(schema["components"]["schemas"]["ErrorOutput"]["required"]) == {"error", "error_description", "fields"}


def test_lists_document_page_parameters_and_the_per_page_cap(schema, settings):
    for path in ("/api/v2/organizations", "/api/v2/org/{domain}/users"):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}
        assert {"page", "per_page"} <= set(parameters)
        assert f"at most {settings.API_MAX_PER_PAGE}" in parameters["per_page"]["description"]
        assert parameters["per_page"]["schema"]["minimum"] == 1


def test_schema_describes_the_resources_with_type_and_domain(schema):
    components = schema["components"]["schemas"]
    for name in ("OrganizationOutput", "UserOutput"):
        assert {"__type__", "__domain__"} <= set(components[name]["properties"]), name
    assert {"__type__", "data", "pagination", "total"} <= set(components["OrganizationList"]["properties"])


def test_schema_lists_request_bodies_as_json_and_form(schema):
    content = schema["paths"]["/api/v2/organizations"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)


def test_docs_page_is_served(db):
    response = APIClient().get("/api/v2/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"/api/v2/schema" in response.content


def test_schema_and_docs_need_no_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert client.get("/api/v2/schema").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v2/nope"),
        ("post", "/api/v2/nope"),
        ("get", "/api/v3/organizations"),
        ("get", "/api/"),
        ("get", "/api/v2/organizations/misapret/extra"),
        ("delete", "/api/v2/org/misapret"),
    ],
)
def test_unknown_api_url_is_a_json_404(db, method, path):
    response = getattr(APIClient(), method)(path)
    body = assert_error(response, 404, "not_found")
    assert path in body["error_description"]
