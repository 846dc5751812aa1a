"""The wizard's tests: an invitation made through the onboarding service, opened with Django's test
client (the gateway's BASE_URL is the test client's host, so our SAML values are its URLs)."""

import pytest

from onboarding.services import onboarding_invite
from tests.connections.saml.idp import TestIdp


@pytest.fixture(autouse=True)
def _gateway_on_testserver(settings):
    settings.BASE_URL = "http://testserver"


@pytest.fixture
def invited(connection):
    """(connection, token) of a fresh invitation."""
    _invitation, token = onboarding_invite(connection=connection, email="it@misapret.example")
    connection.refresh_from_db()
    return connection, token


@pytest.fixture
def token(invited):
    return invited[1]


@pytest.fixture
def wizard_url(token):
    def url(page: str = "") -> str:
        return f"/onboarding/{token}/{page}"

    return url


@pytest.fixture(scope="session")
def test_idp():
    return TestIdp("a")
