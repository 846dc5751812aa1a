"""Generated client secrets are stored with a one-iteration PBKDF2 (applications.models.GeneratedSecretHasher),
so a confidential client's token exchange does not spend ~250 ms of CPU on the password hasher."""

import base64

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.services import application_create
from tests.oauth.conftest import REDIRECT_URI


def _confidential_app(tenant):
    return application_create(
        organization=tenant.org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
    )


def _exchange(client, tenant, app, secret):
    code, _ = tenant.code_for(client, app, verifier=None)
    return tenant.exchange(client, code, None, app, client_secret=secret)


def test_a_generated_secret_is_stored_with_one_pbkdf2_iteration_and_authenticates(client, tenant_a, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # production's: PBKDF2 first
    app, secret = _confidential_app(tenant_a)
    assert len(secret) >= 64
    assert app.client_secret.startswith("pbkdf2_sha256$1$") and secret not in app.client_secret
    tenant_a.sign_in(client)
    wrong = _exchange(client, tenant_a, app, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    response = _exchange(client, tenant_a, app, secret)
    assert response.status_code == 200, response.content
    # Saving the application again keeps the stored hash (it is not hashed twice).
    stored = app.client_secret
    app.save()
    app.refresh_from_db()
    assert app.client_secret == stored and check_password(secret, stored)


def _legacy_app(tenant):
    """An application whose generated secret is stored with the password hasher, as before the change."""
    app, secret = _confidential_app(tenant)
    app.client_secret = make_password(secret)
    app.save()
    app.refresh_from_db()
    assert app.client_secret.startswith("pbkdf2_sha256$1000000$")
    return app, secret


def _basic(app, secret) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()}


@pytest.mark.parametrize("authentication", ["body", "basic"])
def test_a_secret_hashed_by_the_password_hasher_before_is_rehashed_on_its_first_successful_use(
    client, tenant_a, settings, authentication
):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    app, secret = _legacy_app(tenant_a)
    tenant_a.sign_in(client)

    def exchange():
        code, _ = tenant_a.code_for(client, app, verifier=None)
        if authentication == "basic":
            data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
            return client.post(tenant_a.url("/oauth2/token"), data, headers=_basic(app, secret))
        return tenant_a.exchange(client, code, None, app, client_secret=secret)

    assert exchange().status_code == 200
    app.refresh_from_db()
    assert app.client_secret.startswith("pbkdf2_sha256$1$") and check_password(secret, app.client_secret)
    with CaptureQueriesContext(connection) as queries:
        assert exchange().status_code == 200
    assert not [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "applications_application"')]


def test_a_wrong_secret_leaves_the_legacy_hash_alone(client, tenant_a, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    app, secret = _legacy_app(tenant_a)
    stored = app.client_secret
    tenant_a.sign_in(client)
    wrong = _exchange(client, tenant_a, app, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    app.refresh_from_db()
    assert app.client_secret == stored


def test_a_short_secret_keeps_the_password_hasher(client, tenant_a, settings):
    """Secrets shorter than the gateway generates may have been chosen by a person: they keep the work factor."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    app, _ = _confidential_app(tenant_a)
    secret = "a-person-chose-this-secret-" + "x" * 20
    app.client_secret = secret
    app.save()
    app.refresh_from_db()
    assert app.client_secret.startswith("pbkdf2_sha256$1000000$")
    tenant_a.sign_in(client)
    assert _exchange(client, tenant_a, app, secret).status_code == 200
    app.refresh_from_db()
    assert app.client_secret.startswith("pbkdf2_sha256$1000000$")


def test_without_pbkdf2_in_password_hashers_the_default_hasher_is_used(client, tenant_a, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    app, secret = _confidential_app(tenant_a)
    assert app.client_secret.startswith("md5$")
    tenant_a.sign_in(client)
    assert _exchange(client, tenant_a, app, secret).status_code == 200
