import pytest
from django.contrib.auth import get_user_model

from cryptr_sso.audit import Actor
from tests.oauth.conftest import Tenant

OPERATOR = Actor(name="operator:rotator")


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db):
    return Tenant("Misapret")


@pytest.fixture
def operator_client(client, db):
    operator = get_user_model().objects.create_superuser("rotator", "rotator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client
