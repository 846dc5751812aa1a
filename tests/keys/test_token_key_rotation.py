"""Rotation of the token signing key: publish, then switch, then retire, with tokens signed before and
after the switch both verifying against the JWKS during the overlap."""

from datetime import timedelta

import jwt
from django.utils import timezone
from freezegun import freeze_time

from applications.oauth.keys import signing_jwk
from cryptr_sso.models import AuditEvent, SigningKey
from cryptr_sso.signing_keys import (
    KEY_CACHE_SECONDS,
    signing_key_activate,
    signing_key_publish,
    signing_key_retire,
    token_key_retention,
)
from tests.keys.conftest import OPERATOR

TOKEN = SigningKey.Purpose.TOKEN


def jwks_kids(client, tenant) -> list[str]:
    response = client.get(tenant.url("/.well-known/jwks"))
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_a_published_key_is_in_the_jwks_but_signs_nothing_yet(client, tenant):
    configured_kid = signing_jwk().thumbprint()
    key = signing_key_publish(purpose=TOKEN, by=OPERATOR)
    assert key.state == SigningKey.State.PUBLISHED
    assert jwks_kids(client, tenant) == [configured_kid, key.kid]
    tokens = tenant.tokens(client)
    assert kid_of(tokens["access_token"]) == kid_of(tokens["id_token"]) == configured_kid


def test_after_the_switch_new_tokens_carry_the_new_kid_and_old_tokens_still_verify(client, tenant):
    before = tenant.tokens(client)
    old_kid = kid_of(before["id_token"])
    key = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    after = tenant.tokens(client)
    assert kid_of(after["id_token"]) == kid_of(after["access_token"]) == key.kid != old_kid
    assert jwks_kids(client, tenant)[0] == key.kid, "the signing key comes first"
    # Overlap: a relying party holding tokens from both sides of the switch verifies them all.
    for token in (before["id_token"], after["id_token"]):
        assert tenant.decode(client, token)["sub"] == str(tenant.user.pk)
    for token in (before["access_token"], after["access_token"]):
        assert tenant.decode(client, token)["jtt"] == "access"


def test_a_second_switch_retires_the_previous_rotated_key_which_stays_published_until_its_tokens_expire(client, tenant):
    first = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    signed_by_first = tenant.tokens(client)
    second = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    first.refresh_from_db()
    assert first.state == SigningKey.State.RETIRED and first.retired_by == OPERATOR.name
    assert SigningKey.objects.filter(purpose=TOKEN, state=SigningKey.State.ACTIVE).get() == second
    assert first.kid in jwks_kids(client, tenant)
    assert tenant.decode(client, signed_by_first["id_token"])["sub"] == str(tenant.user.pk)

    with freeze_time(first.retired_at + token_key_retention() - timedelta(seconds=5)):
        assert first.kid in jwks_kids(client, tenant)
    with freeze_time(first.retired_at + token_key_retention() + timedelta(seconds=5)):
        kids = jwks_kids(client, tenant)
    assert first.kid not in kids and second.kid in kids


def test_the_retention_is_the_longest_token_lifetime(settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "ACCESS_TOKEN_EXPIRE_SECONDS": 600,
        "ID_TOKEN_EXPIRE_SECONDS": 7200,
    }
    # Plus the seconds a process may sign with a key before it sees the switch (cryptr_sso.signing_keys).
    assert token_key_retention() == timedelta(seconds=7200 + KEY_CACHE_SECONDS)


def test_an_id_token_hint_signed_by_a_retired_key_is_still_accepted_at_logout(client, tenant):
    tokens = tenant.tokens(client)
    signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    response = client.get(
        tenant.url("/oauth2/logout"),
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://app.example/signed-out"},
    )
    assert response.status_code == 302 and response["Location"].startswith("https://app.example/signed-out")


def test_every_step_is_in_the_audit_trail(db):
    key = signing_key_publish(purpose=TOKEN, by=OPERATOR)
    signing_key_activate(key=key, by=OPERATOR)
    spare = signing_key_publish(purpose=TOKEN, by=OPERATOR)
    signing_key_retire(key=spare, by=OPERATOR)
    events = list(AuditEvent.objects.filter(type__startswith="signing_key.").order_by("inserted_at", "id"))
    assert sorted((event.type, event.data["kid"]) for event in events) == sorted(
        [
            ("signing_key.published", key.kid),
            ("signing_key.activated", key.kid),
            ("signing_key.published", spare.kid),
            ("signing_key.retired", spare.kid),
        ]
    )
    assert {event.actor for event in events} == {OPERATOR.name}
    assert all("private" not in str(event.data).lower() for event in events)


def test_the_private_key_is_encrypted_at_rest(db):
    key = signing_key_publish(purpose=TOKEN, by=OPERATOR)
    stored = SigningKey.objects.values_list("private_key_encrypted", flat=True).get(pk=key.pk)
    assert stored.startswith("enc:v1:") and "PRIVATE KEY" not in stored
    assert key.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert timezone.now() - key.created_at < timedelta(minutes=1)
