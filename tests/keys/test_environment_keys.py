"""The environment's token keys (OIDC_RSA_PRIVATE_KEY, OIDC_RSA_PRIVATE_KEYS_INACTIVE) once the rotation
table takes over: published for the retention after the first switch, like a retired table key, then
gone from the JWKS; never signing again."""

from datetime import timedelta

import pytest
from freezegun import freeze_time
from oauth2_provider.utils import jwk_from_pem

from applications.oauth.keys import generate_rsa_private_key_pem, signing_jwk
from cryptr_sso.models import SigningKey
from cryptr_sso.signing_keys import signing_key_activate, signing_key_publish, token_key_retention
from tests.keys.conftest import OPERATOR
from tests.keys.test_token_key_rotation import jwks_kids, kid_of

TOKEN = SigningKey.Purpose.TOKEN


@pytest.fixture
def inactive_env_kid(settings):
    """A key the deployment had rotated out through the environment before the table existed."""
    pem = generate_rsa_private_key_pem()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [pem]}
    return jwk_from_pem(pem).thumbprint()


def switch():
    return signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)


def test_the_environment_keys_stay_published_for_the_retention_after_the_first_switch_then_leave(
    client, tenant, inactive_env_kid
):
    env_kid = signing_jwk().thumbprint()
    before = tenant.tokens(client)
    assert kid_of(before["id_token"]) == env_kid
    assert jwks_kids(client, tenant) == [env_kid, inactive_env_kid]

    key = switch()
    assert jwks_kids(client, tenant) == [key.kid, env_kid, inactive_env_kid]
    assert tenant.decode(client, before["id_token"])["sub"] == str(tenant.user.pk), "the overlap"

    with freeze_time(key.activated_at + token_key_retention() - timedelta(seconds=5)):
        assert jwks_kids(client, tenant) == [key.kid, env_kid, inactive_env_kid]
    with freeze_time(key.activated_at + token_key_retention() + timedelta(seconds=5)):
        assert jwks_kids(client, tenant) == [key.kid]
        tokens = tenant.tokens(client)
    assert kid_of(tokens["id_token"]) == kid_of(tokens["access_token"]) == key.kid


def test_a_later_switch_does_not_extend_the_environment_keys_publication(client, tenant):
    env_kid = signing_jwk().thumbprint()
    first = switch()
    with freeze_time(first.activated_at + token_key_retention() / 2):
        second = switch()
    first.refresh_from_db()
    with freeze_time(first.activated_at + token_key_retention() + timedelta(seconds=5)):
        kids = jwks_kids(client, tenant)
    assert env_kid not in kids
    assert kids == [second.kid, first.kid], "the first table key is retired later: still in its own overlap"


def test_without_an_active_table_key_the_environment_key_signs_and_stays_published(client, tenant):
    env_kid = signing_jwk().thumbprint()
    published = signing_key_publish(purpose=TOKEN, by=OPERATOR)
    with freeze_time(published.created_at + 10 * token_key_retention()):
        assert jwks_kids(client, tenant)[0] == env_kid
        assert kid_of(tenant.tokens(client)["id_token"]) == env_kid
