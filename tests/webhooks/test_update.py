"""PATCH /api/v2/org/{domain}/webhooks/{id}, and the admin's edit through the same service: the rules of
creation, the audit trail with old and new values, tenant scoping."""

import pytest
from django.contrib.auth.models import User as Operator

from cryptr_sso.models import AuditEvent
from organizations.webhooks.models import WebhookDelivery, WebhookEndpoint
from organizations.webhooks.services import webhook_deliveries_create

from ..api.v2.helpers import assert_error, send
from .test_delivery import _event

pytestmark = pytest.mark.django_db
URL = "https://hooks.misapret.example/cryptr"


def _patch(api, endpoint, body, domain=None, as_="json"):
    domain = domain or endpoint.organization.domain
    return send(api, "patch", f"/api/v2/org/{domain}/webhooks/{endpoint.pk}", body, as_=as_)


@pytest.fixture
def endpoint(org, make_endpoint):
    created, _secret = make_endpoint(org, URL, event_types=["user.provisioned"], description="Provisioning")
    return created


def test_the_fields_sent_change_and_the_trail_has_old_and_new_values(api, org, endpoint):
    response = _patch(
        api,
        endpoint,
        {"url": f"{URL}/v2?token=abc123", "events": ["sso.login.failed", "user.provisioned"], "active": False},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["url"] == f"{URL}/v2?token=abc123" and body["events"] == ["sso.login.failed", "user.provisioned"]
    assert body["active"] is False and body["description"] == "Provisioning"  # not sent, unchanged
    assert "secret" not in body and body["id"] == str(endpoint.pk)
    stored = WebhookEndpoint.objects.get()
    assert (stored.url, stored.event_types, stored.active) == (
        f"{URL}/v2?token=abc123",
        ["sso.login.failed", "user.provisioned"],
        False,
    )
    assert stored.secret_encrypted == endpoint.secret_encrypted and stored.updated_at > endpoint.updated_at

    [event] = AuditEvent.objects.filter(type="webhook.updated")
    assert event.actor == f"api_key:{api.api_key.client_id}" and event.organization_id == org.pk
    assert event.data == {
        "endpoint_id": str(endpoint.pk),
        "changes": {
            # The query string may hold the receiver's own token: the trail keeps the rest of the URL.
            "url": {"old": URL, "new": f"{URL}/v2?[masked]"},
            "event_types": {"old": ["user.provisioned"], "new": ["sso.login.failed", "user.provisioned"]},
            "active": {"old": True, "new": False},
        },
    }
    assert "abc123" not in str(event.data)


def test_a_patch_that_changes_nothing_records_nothing(api, endpoint):
    assert _patch(api, endpoint, {"description": "Provisioning", "active": True}).status_code == 200
    assert _patch(api, endpoint, {}).status_code == 200
    assert not AuditEvent.objects.filter(type="webhook.updated").exists()


def test_a_form_encoded_patch_is_read_like_json(api, endpoint):
    response = _patch(api, endpoint, {"events[]": ["certificate.expiring"], "description": "Certs"}, as_="form")
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["certificate.expiring"] and response.json()["description"] == "Certs"


def test_the_new_subscription_and_the_active_flag_decide_the_next_deliveries(api, org, endpoint):
    assert webhook_deliveries_create(event=_event(org, "sso.login.failed")) == []
    _patch(api, endpoint, {"events": ["sso.login.failed"]})
    assert len(webhook_deliveries_create(event=_event(org, "sso.login.failed"))) == 1
    _patch(api, endpoint, {"active": False})
    assert webhook_deliveries_create(event=_event(org, "sso.login.failed")) == []
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.misapret.example/cryptr"}, "url"),
        ({"url": "http://127.0.0.1:8080/cryptr"}, "url"),  # loopback over http: development only
        # Addresses written in the URL are checked when it is saved (names are resolved and checked at each send).
        ({"url": "https://10.0.0.7/cryptr"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "https://127.0.0.1/cryptr"}, "url"),
        ({"url": "https://[::ffff:127.0.0.1]/cryptr"}, "url"),
        ({"url": "https://[fd00::1]:8443/cryptr"}, "url"),
        ({"url": "ftp://hooks.misapret.example/cryptr"}, "url"),
        ({"url": "https://user:pass@hooks.misapret.example/"}, "url"),
        ({"url": f"{URL}#fragment"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "https://" + "a" * 2000 + ".example/"}, "url"),
        ({"events": ["user.deleted"]}, "events"),
        ({"events": []}, "events"),
        ({"events": "user.provisioned"}, "events"),
        ({"active": "sometimes"}, "active"),
        ({"description": "x" * 256}, "description"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"organization": "boreal"}, "organization"),
    ],
)
def test_bad_changes_are_refused_with_the_field_and_change_nothing(api, endpoint, settings, body, field):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    error = assert_error(_patch(api, endpoint, body), 400)
    assert field in error["fields"], error
    stored = WebhookEndpoint.objects.get()
    assert (stored.url, stored.event_types, stored.active, stored.description) == (
        URL,
        ["user.provisioned"],
        True,
        "Provisioning",
    )
    assert not AuditEvent.objects.filter(type="webhook.updated").exists()


def test_another_organizations_endpoint_cannot_be_changed(make_api, make_org, make_endpoint):
    mine, theirs = make_org(name="Misapret"), make_org(name="Boreal")
    theirs_endpoint, _secret = make_endpoint(theirs, "https://hooks.boreal.example/cryptr")
    limited = make_api(organizations=[mine])
    assert_error(_patch(limited, theirs_endpoint, {"active": False}), 404, "not_found")
    assert_error(_patch(limited, theirs_endpoint, {"active": False}, domain=mine.domain), 404, "not_found")
    # Even a key that sees both organizations cannot reach it under the wrong one.
    assert_error(_patch(make_api(), theirs_endpoint, {"active": False}, domain=mine.domain), 404, "not_found")
    assert WebhookEndpoint.objects.get().active is True


def test_a_patch_needs_the_write_scope(make_api, endpoint):
    reader = make_api(scopes=["read:webhooks"])
    assert "write:webhooks" in assert_error(_patch(reader, endpoint, {"active": False}), 403)["error_description"]
    assert WebhookEndpoint.objects.get().active is True


@pytest.fixture
def operator_client(client):
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client


def _admin_form(endpoint, **changes):
    form = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "active": "on" if endpoint.active else "",
    }
    return {**form, **changes}


def test_the_admin_edit_goes_through_the_service_and_is_audited_as_the_operator(operator_client, endpoint):
    response = operator_client.post(
        f"/admin/organizations/webhookendpoint/{endpoint.pk}/change/",
        _admin_form(endpoint, url=f"{URL}/moved", event_types=["user.provisioned", "certificate.expiring"]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = WebhookEndpoint.objects.get()
    assert stored.url == f"{URL}/moved" and stored.event_types == ["user.provisioned", "certificate.expiring"]
    assert stored.secret_encrypted == endpoint.secret_encrypted
    event = AuditEvent.objects.get(type="webhook.updated")
    assert event.actor == "operator:operator"
    assert event.data["changes"]["url"] == {"old": URL, "new": f"{URL}/moved"}
    assert set(event.data["changes"]) == {"url", "event_types"}


def test_the_admin_edit_refuses_what_the_api_refuses(operator_client, endpoint, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = operator_client.post(
        f"/admin/organizations/webhookendpoint/{endpoint.pk}/change/",
        _admin_form(endpoint, url="http://hooks.misapret.example/cryptr"),
    )
    assert response.status_code == 200 and "must start with https://" in response.content.decode()
    assert WebhookEndpoint.objects.get().url == URL
    assert not AuditEvent.objects.filter(type="webhook.updated").exists()


def test_creating_and_deleting_are_audited_too(api, org):
    created = send(api, "post", f"/api/v2/org/{org.domain}/webhooks", {"url": URL}).json()
    api.delete(f"/api/v2/org/{org.domain}/webhooks/{created['id']}")
    events = {event.type: event for event in AuditEvent.objects.filter(type__startswith="webhook.")}
    assert set(events) == {"webhook.created", "webhook.deleted"}
    assert all(event.data["endpoint_id"] == created["id"] for event in events.values())
    assert created["secret"] not in str([event.data for event in events.values()])
