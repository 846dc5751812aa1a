"""The daily IdP metadata refresh (connections/tasks.py) against a real HTTPS server on 127.0.0.1: a rotated
certificate is taken and recorded; metadata that is not usable, or not reachable, leaves the connection as
it was and records why."""

from datetime import UTC, datetime, timedelta

import pytest

from connections import services, tasks
from connections.models import SSOConnection
from cryptr_sso.models import AuditEvent
from tests.connections.metadata_server import Routes, metadata_server

from . import idp

pytestmark = pytest.mark.django_db
PATH = "/app/exk1/sso/saml/metadata"


@pytest.fixture
def served(tmp_path, settings):
    """The IdP's metadata URL; `routes` can be changed between fetches."""
    routes = Routes()
    with metadata_server(tmp_path, routes) as (base_url, ca_file):
        settings.SAML_METADATA_ALLOW_PRIVATE_URLS = True
        settings.SAML_METADATA_CA_BUNDLE = ca_file
        yield routes, f"{base_url}{PATH}"


def _serve(routes, document: bytes, status: int = 200):
    routes[PATH] = (status, {"Content-Type": "application/samlmetadata+xml"}, document)


@pytest.fixture
def configured(org, make_connection, served):
    """A connection set up from the metadata URL, with the IdP's first certificate."""
    routes, url = served
    first = idp.certificate("Misapret IdP 2025")
    _serve(routes, idp.metadata(first))
    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    connection = services.connection_update(connection=connection, data={"saml_config": {"idp_metadata_url": url}})
    assert connection.idp_metadata_url == url and len(connection.idp_certificates) == 1
    return connection, routes, first


def _events(type):
    return list(AuditEvent.objects.filter(type=type).order_by("inserted_at"))


def test_a_rotated_certificate_is_taken_and_the_change_recorded(configured):
    connection, routes, first = configured
    fetched_before = connection.idp_metadata_fetched_at
    second = idp.certificate("Misapret IdP 2026")
    _serve(routes, idp.metadata(second, first))  # the IdP publishes the new certificate beside the old

    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "changed"
    connection.refresh_from_db()
    assert [idp.fingerprint(pem) for pem in connection.idp_certificates] == [
        idp.fingerprint(second),
        idp.fingerprint(first),
    ]
    assert connection.idp_metadata_fetched_at > fetched_before
    [event] = _events("connection.metadata_refreshed")
    assert event.organization == connection.organization and event.connection_id == connection.id
    assert event.actor == "system"
    assert event.data["old_certificate_fingerprints"] == [idp.fingerprint(first)]
    assert event.data["new_certificate_fingerprints"] == [idp.fingerprint(second), idp.fingerprint(first)]
    assert event.data["changed"] == ["idp_certificates"]

    _serve(routes, idp.metadata(second))  # then retires the old one
    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "changed"
    connection.refresh_from_db()
    assert [idp.fingerprint(pem) for pem in connection.idp_certificates] == [idp.fingerprint(second)]
    assert len(_events("connection.metadata_refreshed")) == 2


def test_unchanged_metadata_records_nothing(configured):
    connection, _routes, _first = configured
    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "unchanged"
    assert _events("connection.metadata_refreshed") == [] and _events("connection.metadata_refresh_failed") == []


NEW = idp.certificate("New IdP certificate")


@pytest.mark.parametrize(
    ("document", "status", "code", "words"),
    [
        (b"<html>Maintenance</html>", 200, "invalid_metadata", "EntityDescriptor"),
        (b"", 200, "invalid_metadata", "empty"),
        (b"not xml at all", 200, "invalid_metadata", "not XML"),
        (idp.metadata(NEW)[:-40], 200, "invalid_metadata", "well-formed"),
        (idp.metadata(NEW, role="SPSSODescriptor"), 200, "not_idp_metadata", "service-provider"),
        (idp.metadata(NEW, use="encryption"), 200, "no_signing_certificate", "signing certificate"),
        (idp.metadata(), 200, "no_signing_certificate", "signing certificate"),
        (idp.metadata(NEW, entity_id="https://attacker.example/idp"), 200, "metadata_refused", "attacker.example"),
        (
            idp.metadata(idp.certificate("old", not_after=datetime.now(UTC) - timedelta(days=1))),
            200,
            "metadata_refused",
            "expired",
        ),
        (idp.metadata(NEW), 500, "metadata_fetch_failed", "HTTP 500"),
        (idp.metadata(NEW), 404, "metadata_fetch_failed", "HTTP 404"),
    ],
)
def test_unusable_metadata_keeps_the_old_certificate_and_records_why(configured, document, status, code, words):
    connection, routes, first = configured
    before = SSOConnection.objects.get(pk=connection.pk)
    _serve(routes, document, status)

    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "failed"
    after = SSOConnection.objects.get(pk=connection.pk)
    assert [idp.fingerprint(pem) for pem in after.idp_certificates] == [idp.fingerprint(first)]
    for field in ("idp_entity_id", "idp_sso_url", "idp_metadata_xml", "idp_metadata_fetched_at", "updated_at"):
        assert getattr(after, field) == getattr(before, field), field
    [event] = _events("connection.metadata_refresh_failed")
    assert event.data["error"] == code and words in event.data["reason"], event.data
    assert event.data["certificate_fingerprints"] == [idp.fingerprint(first)]
    assert event.connection_id == connection.id and event.organization == connection.organization
    assert _events("connection.metadata_refreshed") == []


def test_the_refresh_keeps_the_ssrf_rules(configured, settings):
    connection, routes, first = configured
    _serve(routes, idp.metadata(NEW))
    settings.SAML_METADATA_ALLOW_PRIVATE_URLS = False
    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "failed"
    [event] = _events("connection.metadata_refresh_failed")
    assert event.data["error"] == "metadata_url_refused" and "127.0.0.1" in event.data["reason"]
    connection.refresh_from_db()
    assert [idp.fingerprint(p) for p in connection.idp_certificates] == [idp.fingerprint(first)]


def test_an_unreachable_idp_keeps_the_configuration(configured):
    connection, routes, first = configured
    routes.clear()
    SSOConnection.objects.filter(pk=connection.pk).update(idp_metadata_url="https://127.0.0.1:9/metadata")
    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "failed"
    [event] = _events("connection.metadata_refresh_failed")
    assert event.data["error"] == "metadata_fetch_failed"
    connection.refresh_from_db()
    assert [idp.fingerprint(p) for p in connection.idp_certificates] == [idp.fingerprint(first)]


def test_the_daily_task_queues_one_refresh_per_connection_configured_by_url(
    configured, org, make_connection, monkeypatch
):
    connection, _routes, _first = configured
    by_hand = make_connection(org)
    services.connection_update(
        connection=by_hand,
        data={
            "saml_config": {
                "idp_entity_id": idp.ENTITY_ID,
                "idp_sso_url": idp.SSO_URL,
                "idp_certificates": [idp.certificate("x")],
            }
        },
    )
    make_connection(org)  # nothing configured
    queued = []
    monkeypatch.setattr(tasks.refresh_connection_metadata, "delay", lambda **kwargs: queued.append(kwargs))
    assert tasks.refresh_idp_metadata() == 1
    assert queued == [{"connection_id": connection.id}]


def test_a_connection_reconfigured_during_the_fetch_is_left_alone(configured, monkeypatch):
    connection, routes, _first = configured
    _serve(routes, idp.metadata(NEW))
    real = tasks.fetch_idp_metadata

    def fetch_then_reconfigure(url):
        result = real(url)
        SSOConnection.objects.filter(pk=connection.pk).update(idp_metadata_url="", idp_metadata_xml="typed")
        return result

    monkeypatch.setattr(tasks, "fetch_idp_metadata", fetch_then_reconfigure)
    assert tasks.refresh_connection_metadata(connection_id=connection.id) == "skipped"
    assert SSOConnection.objects.get(pk=connection.pk).idp_metadata_xml == "typed"
