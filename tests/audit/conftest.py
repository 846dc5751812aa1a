from pathlib import Path

import pytest

from cryptr_sso.models import AuditEvent

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "idp-samples"
OKTA_METADATA = (SAMPLES / "okta/okta_metadata_crewjam_2020.xml").read_text(encoding="utf-8")
CALLBACK = "https://app.misapret.example/callback"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def events(type_: str | None = None, **filters) -> list[AuditEvent]:
    """The recorded events, oldest first."""
    found = AuditEvent.objects.order_by("inserted_at", "id")
    if type_:
        found = found.filter(type=type_)
    return list(found.filter(**filters))


def one_event(type_: str, **filters) -> AuditEvent:
    found = events(type_, **filters)
    assert len(found) == 1, [(e.type, e.data) for e in events()]
    return found[0]


@pytest.fixture
def make_app(api):
    def make(org, uri=CALLBACK, application_type="spa"):
        response = api.post(
            f"/api/v2/org/{org.domain}/applications",
            {"name": "App", "application_type": application_type, "allowed_redirect_uris_after_login": [uri]},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def make_connection(api, make_app):
    def make(org, **extra):
        application = make_app(org)
        response = api.post(
            "/api/v2/sso-connections",
            {"organization_id": org.domain, "application_id": application["id"], **extra},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return make
