"""record_event itself: one row in the caller's transaction, secrets masked at every depth, listeners
called after the commit only (and a failing listener never breaks the recorded action)."""

import pytest
from django.db import transaction

from cryptr_sso import audit
from cryptr_sso.audit import EVENT_LISTENERS, Actor, mask_secrets, record_event
from cryptr_sso.models import AuditEvent

pytestmark = pytest.mark.django_db

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "key",
    [
        "client_secret",
        "password",
        "refresh_token",
        "api_key",
        "SAMLAssertion",
        "code",
        "code_verifier",
        "oidc_client_secret_encrypted",
        "Authorization-Token",
    ],
)
def test_secret_looking_keys_are_masked_at_every_depth(key):
    masked = mask_secrets({"outer": [{key: "value-that-must-not-stay"}], key: {"nested": "x"}})
    assert masked == {"outer": [{key: "[masked]"}], key: "[masked]"}


@pytest.mark.parametrize(
    "value",
    [
        JWT,
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----",
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>',
        "SAMLResponse=PHNhbWxwOlJlc3BvbnNl",
    ],
)
def test_secret_looking_values_are_masked_whatever_their_key(value):
    assert mask_secrets({"note": value, "list": [value]}) == {"note": "[masked]", "list": ["[masked]"]}


def test_plain_values_are_kept_and_made_json_safe():
    import datetime as dt
    import uuid

    key = uuid.uuid4()
    data = mask_secrets(
        {
            "email": "ada@misapret.fr",
            "n": 3,
            "ok": True,
            "none": None,
            "id": key,
            "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            "empty_secret": "",
        }
    )
    assert data == {
        "email": "ada@misapret.fr",
        "n": 3,
        "ok": True,
        "none": None,
        "id": str(key),
        "at": "2026-01-02 00:00:00+00:00",
        "empty_secret": "",
    }


def test_record_event_stores_who_what_where(org):
    event = record_event(
        type="organization.updated",
        organization=org,
        actor="operator:alice",
        connection_id="misapret_x",
        user="u1",
        ip="192.0.2.1",
        user_agent="x" * 2000,
        data={"changes": {"client_secret": {"old": "a", "new": "b"}}},
    )
    event.refresh_from_db()
    assert (event.type, event.organization, event.organization_domain, event.actor) == (
        "organization.updated",
        org,
        "misapret",
        "operator:alice",
    )
    assert event.connection_id == "misapret_x" and event.user_id == "u1" and len(event.user_agent) == 512
    assert event.data == {"changes": {"client_secret": "[masked]"}}


def test_changes_lists_only_what_changed_and_summarizes_long_values(org):
    before = audit.snapshot(org)
    org.locality, org.name = "Lyon", "M" * 400
    changes = audit.changes(before, org)
    assert changes == {
        "locality": {"old": "Paris", "new": "Lyon"},
        "name": {"old": "Misapret", "new": "[400 characters]"},
    }


def test_the_event_row_is_part_of_the_callers_transaction(org):
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(type="user.created", organization=org)
        raise RuntimeError("the action failed")
    assert not AuditEvent.objects.filter(type="user.created").exists()


def test_listeners_are_called_after_the_commit_only(org, django_capture_on_commit_callbacks, monkeypatch):
    seen = []

    def broken(event):
        raise ValueError("a listener's bug")

    monkeypatch.setattr(audit, "EVENT_LISTENERS", [broken, seen.append])
    assert EVENT_LISTENERS is not audit.EVENT_LISTENERS  # the patched list is the one read at commit time
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = record_event(type="connection.activated", organization=org)
    assert seen == []  # not before the commit
    for callback in callbacks:
        callback()
    assert seen == [event]


def test_actor_of_a_request():
    class Request:
        META = {"REMOTE_ADDR": "203.0.113.5", "HTTP_USER_AGENT": "curl/8.5"}

    assert Actor.of_request(Request(), "api_key:key_1") == Actor("api_key:key_1", "203.0.113.5", "curl/8.5")
