"""Operators add endpoints in the admin (the secret shown once) and read the delivery log (filters, retry)."""

import pytest
from django.contrib.auth.models import User as Operator

from connections.crypto import decrypt_text
from cryptr_sso import audit
from organizations.webhooks.models import WebhookDelivery, WebhookEndpoint
from organizations.webhooks.services import webhook_deliveries_create
from organizations.webhooks.tasks import deliver_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
def operator_client(client, db):
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client


def test_an_endpoint_added_in_the_admin_shows_its_secret_once(operator_client, org):
    response = operator_client.post(
        "/admin/organizations/webhookendpoint/add/",
        {
            "organization": org.pk,
            "url": "https://hooks.misapret.example/cryptr",
            "description": "",
            "event_types": ["connection.activated", "certificate.expiring"],
            "active": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["connection.activated", "certificate.expiring"]
    secret = decrypt_text(endpoint.secret_encrypted)
    assert secret.startswith("whsec_") and secret in page and "will not be shown again" in page
    change = operator_client.get(f"/admin/organizations/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in change and endpoint.secret_encrypted not in change


def test_the_admin_refuses_a_plain_http_endpoint(operator_client, org, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = operator_client.post(
        "/admin/organizations/webhookendpoint/add/",
        {
            "organization": org.pk,
            "url": "http://hooks.misapret.example/cryptr",
            "event_types": ["user.provisioned"],
        },
    )
    assert response.status_code == 200 and "must start with https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_filters_by_status_and_event_and_retries(
    operator_client, org, make_endpoint, queued, django_capture_on_commit_callbacks
):
    make_endpoint(org, "https://hooks.misapret.example/cryptr")
    [provisioned] = webhook_deliveries_create(event=audit.record_event(type="user.provisioned", organization=org))
    [failed] = webhook_deliveries_create(event=audit.record_event(type="sso.login.failed", organization=org))
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=8, last_response_code=404)

    def rows(query):
        page = operator_client.get(f"/admin/organizations/webhookdelivery/?{query}").content.decode()
        return [delivery for delivery in (provisioned, failed) if f"{delivery.pk}/change/" in page]

    assert rows("") == [provisioned, failed]
    assert rows("status__exact=failed") == [failed]
    assert rows("event_type=user.provisioned") == [provisioned]
    assert rows(f"endpoint__organization__id__exact={org.pk}") == [provisioned, failed]

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/organizations/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [str(failed.pk)]},
            follow=True,
        )
    assert "Queued 1" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "pending"
    assert queued == [{"delivery_id": str(failed.pk), "attempt": 9}]
    assert operator_client.get(f"/admin/organizations/webhookdelivery/{provisioned.pk}/change/").status_code == 200


def test_the_admin_does_not_queue_a_delivery_already_in_flight(operator_client, org, make_endpoint, queued):
    make_endpoint(org, "https://hooks.misapret.example/cryptr")
    [pending] = webhook_deliveries_create(event=audit.record_event(type="user.provisioned", organization=org))
    response = operator_client.post(
        "/admin/organizations/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [str(pending.pk)]},
        follow=True,
    )
    page = response.content.decode()
    assert "Not queued" in page and "queued or being sent right now" in page and "Queued 1" not in page
    assert queued == []


def test_deleting_an_endpoint_in_the_admin_is_audited_as_the_operator(operator_client, org, make_endpoint):
    from cryptr_sso.models import AuditEvent

    endpoint, _secret = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    response = operator_client.post(
        f"/admin/organizations/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not WebhookEndpoint.objects.exists()
    event = AuditEvent.objects.get(type="webhook.deleted")
    assert event.actor == "operator:operator" and event.data["endpoint_id"] == str(endpoint.pk)
