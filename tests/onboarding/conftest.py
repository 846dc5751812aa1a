"""Fixtures of the onboarding tests: an organization's application and SSO connection, made through
the services (the API paths are what the tests call)."""

import pytest

from applications.services import application_create
from connections.services import connection_create

CALLBACK = "https://app.misapret.example/callback"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # DOT hashes client secrets with PBKDF2 (~0.5 s each); these tests do not look at the hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_connection(db):
    def make(organization, *, app_name="Misapret Portal", sso_admin_email="", **extra):
        application, _secret = application_create(
            organization=organization,
            name=app_name,
            application_type="regular_web",
            allowed_redirect_uris_after_login=[CALLBACK],
        )
        return connection_create(
            organization=organization, application=application, sso_admin_email=sso_admin_email, **extra
        )

    return make


@pytest.fixture
def connection(org, make_connection):
    return make_connection(org)
