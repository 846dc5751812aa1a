import os

import pytest
from rest_framework.test import APIClient

from organizations import services
from organizations.scopes import ALL_SCOPES

# Fixtures shared by several test packages: headless Chromium (chromium, page); force_login of a
# staff user also passes the operators' MFA gate (tests/operators/plugin.py).
pytest_plugins = ["tests.browser", "tests.operators.plugin"]


def pytest_sessionstart(session):
    # CI must test on PostgreSQL; a run that silently fell back to SQLite would prove little.
    if os.environ.get("CI") and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI runs the suite on PostgreSQL: set DATABASE_URL (make test does).")


@pytest.fixture
def make_org(db):
    def make(name="Misapret", locality="Paris", **extra):
        return services.organization_create(name=name, locality=locality, **extra)

    return make


@pytest.fixture
def org(make_org):
    return make_org()


@pytest.fixture
def make_api(db):
    """An API client authenticated with a fresh key: make_api(organizations=[org], scopes=[...])."""

    def make(*, organizations=None, scopes=None):
        api_key, secret = services.api_key_create(
            name="test key", organizations=organizations, scopes=scopes or list(ALL_SCOPES)
        )
        token, _ = services.api_token_issue(api_key=api_key)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.api_key, client.secret = api_key, secret
        return client

    return make


@pytest.fixture
def api(make_api):
    return make_api()


@pytest.fixture(autouse=True)
def _fresh_signing_key_view(monkeypatch):
    """cryptr_sso.signing_keys keeps each process's view of the key table for KEY_CACHE_SECONDS. Every test
    starts from no view (its database is its own), and the view does not expire by itself during a test (on
    a slow machine the number of queries would change), only when a rotation drops it;
    tests/keys/test_key_cache.py drives the expiry with its own clock."""
    from cryptr_sso.signing_keys import key_cache

    monkeypatch.setattr(key_cache, "clock", lambda: 0.0)
    key_cache.clear()
    yield
    key_cache.clear()


@pytest.fixture(autouse=True)
def _fresh_tenant_lookup():
    """applications.oauth.tenancy keeps each process's organizations by domain, dropped by the signals of a
    save or delete; a test's rolled-back rows send none, so every test starts with nothing kept."""
    from applications.oauth import tenancy

    tenancy._kept.clear()
    yield
    tenancy._kept.clear()
