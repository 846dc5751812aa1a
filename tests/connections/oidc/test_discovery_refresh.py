"""The daily refresh of OIDC connections (connections/tasks.py refresh_connection_discovery) against the crafted
HTTPS IdP: endpoints that moved are taken and recorded, an issuer that changed or a broken document changes
nothing and records why."""

import pytest

from connections import tasks
from connections.models import SSOConnection
from cryptr_sso.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events(type_):
    return list(AuditEvent.objects.filter(type=type_).order_by("inserted_at"))


def test_beat_queues_oidc_connections_too(connection, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.refresh_connection_discovery, "delay", lambda **kwargs: queued.append(kwargs))
    assert tasks.refresh_idp_metadata() >= 1
    assert queued == [{"connection_id": connection.id}]


def test_moved_endpoints_and_a_new_end_session_endpoint_are_taken(connection, idp):
    assert connection.oidc_end_session_endpoint == ""
    assert tasks.refresh_connection_discovery(connection_id=connection.id) == "unchanged"
    assert _events("connection.metadata_refreshed") == []

    idp.discovery_overrides = {"jwks_uri": f"{idp.issuer}/keys-2026", "end_session_endpoint": f"{idp.issuer}/logout"}
    assert tasks.refresh_connection_discovery(connection_id=connection.id) == "changed"
    connection.refresh_from_db()
    assert connection.oidc_jwks_uri == f"{idp.issuer}/keys-2026"
    assert connection.oidc_end_session_endpoint == f"{idp.issuer}/logout"
    (event,) = _events("connection.metadata_refreshed")
    assert event.actor == "system" and event.connection_id == connection.id
    assert event.data["changed"] == ["oidc_end_session_endpoint", "oidc_jwks_uri"]
    assert event.data["changes"]["oidc_jwks_uri"] == {"old": f"{idp.issuer}/jwks", "new": f"{idp.issuer}/keys-2026"}


def test_a_document_naming_another_issuer_changes_nothing(connection, idp):
    idp.discovery_overrides = {"issuer": "https://attacker.example", "jwks_uri": "https://attacker.example/jwks"}
    assert tasks.refresh_connection_discovery(connection_id=connection.id) == "failed"
    stored = SSOConnection.objects.get(pk=connection.pk)
    assert stored.oidc_jwks_uri == f"{idp.issuer}/jwks"
    (event,) = _events("connection.metadata_refresh_failed")
    assert event.data["issuer"] == idp.issuer and event.data["reason"]


def test_an_unusable_document_changes_nothing(connection, idp):
    idp.discovery_overrides = {"jwks_uri": "http://plain-http.example/jwks"}
    assert tasks.refresh_connection_discovery(connection_id=connection.id) == "failed"
    assert SSOConnection.objects.get(pk=connection.pk).oidc_jwks_uri == f"{idp.issuer}/jwks"
    assert _events("connection.metadata_refresh_failed")[0].data["error"]


def test_saml_and_unconfigured_connections_are_skipped(org, app):
    from connections.services import connection_create

    oidc = connection_create(organization=org, application=app, protocol="oidc")
    saml = connection_create(organization=org, application=app, provider_type="okta")
    assert tasks.refresh_connection_discovery(connection_id=oidc.id) == "skipped"
    assert tasks.refresh_connection_discovery(connection_id=saml.id) == "skipped"
    assert tasks.refresh_connection_discovery(connection_id="nope") == "skipped"
