"""POST /api/v2/org/{domain}/webhooks/{id}/rotate-secret: the new secret once, the previous one signing beside
it during the overlap (two v1= in X-Cryptr-Signature), then the new one only. Checked with the test receiver,
which verifies each request the way an integrator does and refuses (400) what does not verify."""

import json
import time

import pytest
from django.contrib.auth.models import User as Operator
from django.utils import timezone

from connections.crypto import decrypt_text
from cryptr_sso.models import AuditEvent
from organizations.webhooks.models import WebhookEndpoint
from organizations.webhooks.services import webhook_deliveries_create
from organizations.webhooks.tasks import deliver_webhook

from ..api.v2.helpers import assert_error, send
from .test_delivery import _event

pytestmark = pytest.mark.django_db


def _rotate(api, endpoint, body=None, domain=None):
    domain = domain or endpoint.organization.domain
    return send(api, "post", f"/api/v2/org/{domain}/webhooks/{endpoint.pk}/rotate-secret", body or {})


def _deliver(org) -> str:
    """One event to the endpoint, one attempt; what the task says happened."""
    [delivery] = webhook_deliveries_create(event=_event(org, "user.provisioned"))
    outcome = deliver_webhook.apply(kwargs={"delivery_id": str(delivery.pk), "attempt": 1}).get()
    return outcome


def _v1_count(request) -> int:
    return request.headers["X-Cryptr-Signature"].count("v1=")


def test_during_the_overlap_either_secret_verifies_and_after_it_only_the_new_one(api, org, receiver, make_endpoint):
    endpoint, old = make_endpoint(org, receiver.url)
    receiver.refuse_invalid = True
    response = _rotate(api, endpoint, {"expire_previous_in": 5})
    assert response.status_code == 200, response.content
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old

    # A receiver still holding the old secret accepts; one that already switched accepts too.
    receiver.secret = old
    assert _deliver(org) == "delivered"
    receiver.secret = new
    assert _deliver(org) == "delivered"
    first, second = receiver.received
    assert _v1_count(first) == _v1_count(second) == 2
    assert all(request.valid_for(old) and request.valid_for(new) for request in (first, second))
    assert not first.valid_for("whsec_someone_else")

    endpoint.refresh_from_db()
    time.sleep(max(0, (endpoint.previous_secret_expires_at - timezone.now()).total_seconds()) + 0.1)  # it ends
    receiver.secret = old
    assert _deliver(org) == "failed"  # the receiver refused it: the old secret no longer signs
    receiver.secret = new
    assert _deliver(org) == "delivered"
    after_old, after_new = receiver.received[2:]
    assert (after_old.signature_valid, after_new.signature_valid) == (False, True)
    assert _v1_count(after_old) == _v1_count(after_new) == 1
    assert not after_new.valid_for(old)


def test_zero_overlap_drops_the_previous_secret_at_once(api, org, receiver, make_endpoint):
    endpoint, old = make_endpoint(org, receiver.url)
    new = _rotate(api, endpoint, {"expire_previous_in": 0}).json()["secret"]
    receiver.secret, receiver.refuse_invalid = old, True
    assert _deliver(org) == "failed"
    [request] = receiver.received
    assert _v1_count(request) == 1 and request.valid_for(new) and not request.valid_for(old)
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_encrypted == "" and endpoint.previous_secret_expires_at is None


def test_a_second_rotation_keeps_only_the_last_previous_secret(api, org, receiver, make_endpoint):
    endpoint, first = make_endpoint(org, receiver.url)
    second = _rotate(api, endpoint).json()["secret"]
    third = _rotate(api, endpoint).json()["secret"]
    receiver.secret = third
    assert _deliver(org) == "delivered"
    [request] = receiver.received
    assert request.valid_for(third) and request.valid_for(second) and not request.valid_for(first)


def test_the_new_secret_is_shown_once_and_both_are_stored_encrypted(api, org, make_endpoint):
    endpoint, old = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    response = _rotate(api, endpoint)
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    new = body["secret"]
    assert body["id"] == str(endpoint.pk) and body["__type__"] == "WebhookEndpoint"
    assert body["previous_secret_expires_at"] is not None

    stored = WebhookEndpoint.objects.get()
    assert decrypt_text(stored.secret_encrypted) == new and decrypt_text(stored.previous_secret_encrypted) == old
    for ciphertext in (stored.secret_encrypted, stored.previous_secret_encrypted):
        assert ciphertext.startswith("enc:v1:") and old not in ciphertext and new not in ciphertext
    # Re-encrypted, not copied: the previous secret's ciphertext is not the one it had as the current secret.
    assert stored.previous_secret_encrypted != endpoint.secret_encrypted
    # About 24 hours by default.
    overlap = (stored.previous_secret_expires_at - stored.updated_at).total_seconds()
    assert 86390 < overlap <= 86400

    shown = api.get(f"/api/v2/org/{org.domain}/webhooks/{endpoint.pk}").json()
    assert "secret" not in shown and shown["previous_secret_expires_at"] == body["previous_secret_expires_at"]

    [event] = AuditEvent.objects.filter(type="webhook.secret_rotated")
    assert event.actor == f"api_key:{api.api_key.client_id}" and event.organization_id == org.pk
    assert event.data["endpoint_id"] == str(endpoint.pk) and event.data["previous_valid_until"]
    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert old not in everything and new not in everything and "whsec_" not in everything


def test_once_the_overlap_is_over_the_endpoint_says_so(api, org, make_endpoint):
    endpoint, _old = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    _rotate(api, endpoint, {"expire_previous_in": 1})
    time.sleep(1.1)
    assert api.get(f"/api/v2/org/{org.domain}/webhooks/{endpoint.pk}").json()["previous_secret_expires_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"expire_previous_in": -1},
        {"expire_previous_in": 7 * 24 * 3600 + 1},
        {"expire_previous_in": "tomorrow"},
        {"expire_previous_in": 1.5},
        {"secret": "whsec_mine"},
    ],
)
def test_bad_rotation_requests_change_nothing(api, org, make_endpoint, body):
    endpoint, _old = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    error = assert_error(_rotate(api, endpoint, body), 400, "invalid_request")
    assert set(error["fields"]) == set(body)
    assert WebhookEndpoint.objects.get().secret_encrypted == endpoint.secret_encrypted
    assert not AuditEvent.objects.filter(type="webhook.secret_rotated").exists()


def test_another_organizations_endpoint_cannot_be_rotated(make_api, make_org, make_endpoint):
    mine, theirs = make_org(name="Misapret"), make_org(name="Boreal")
    their_endpoint, _secret = make_endpoint(theirs, "https://hooks.boreal.example/cryptr")
    limited = make_api(organizations=[mine])
    assert_error(_rotate(limited, their_endpoint), 404, "not_found")
    assert_error(_rotate(limited, their_endpoint, domain=mine.domain), 404, "not_found")
    assert WebhookEndpoint.objects.get().secret_encrypted == their_endpoint.secret_encrypted


def test_rotation_needs_the_write_scope(make_api, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    body = assert_error(_rotate(make_api(scopes=["read:webhooks"]), endpoint), 403)
    assert "write:webhooks" in body["error_description"]
    assert WebhookEndpoint.objects.get().previous_secret_encrypted == ""


def test_the_admin_rotates_and_shows_the_new_secret_once(client, org, make_endpoint):
    endpoint, old = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    response = client.post(
        "/admin/organizations/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [str(endpoint.pk)]},
        follow=True,
    )
    stored = WebhookEndpoint.objects.get()
    new = decrypt_text(stored.secret_encrypted)
    page = response.content.decode()
    assert new != old and new in page and "will not be shown again" in page
    assert decrypt_text(stored.previous_secret_encrypted) == old
    assert AuditEvent.objects.get(type="webhook.secret_rotated").actor == "operator:operator"
    change = client.get(f"/admin/organizations/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert new not in change and old not in change


def test_the_reference_verify_accepts_either_secret_of_a_two_signature_header():
    from organizations.webhooks import signing

    body = b'{"id":"1","type":"user.provisioned"}'
    header = signing.sign(["whsec_new", "whsec_old"], body)
    assert header.count("v1=") == 2 and header.startswith("t=")
    assert signing.verify("whsec_new", body, header) and signing.verify("whsec_old", body, header)
    assert not signing.verify("whsec_other", body, header)
    assert not signing.verify("whsec_old", body + b" ", header)
    assert signing.sign("whsec_new", body, timestamp=1) == signing.sign(["whsec_new"], body, timestamp=1)
