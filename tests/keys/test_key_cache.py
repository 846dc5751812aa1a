"""Each process keeps its view of the signing key table for KEY_CACHE_SECONDS (cryptr_sso.signing_keys):
rotation still works across that cache. "Another process" rotates here through the services with this
process's invalidation switched off, so only the view's age makes the switch visible, as it does for
every process but the operator's."""

from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from cryptr_sso import signing_keys
from cryptr_sso.models import SigningKey
from cryptr_sso.signing_keys import (
    KEY_CACHE_SECONDS,
    key_cache,
    signing_key_activate,
    signing_key_publish,
    token_key_retention,
)
from tests.keys.conftest import OPERATOR
from tests.keys.test_token_key_rotation import jwks_kids, kid_of

TOKEN = SigningKey.Purpose.TOKEN


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(key_cache, "clock", clock)
    return clock


@pytest.fixture
def elsewhere(monkeypatch):
    """Rotations made by another process: this one's view is not dropped."""

    def rotate(step, **kwargs):
        with monkeypatch.context() as patch:
            patch.setattr(signing_keys, "_forget_keys_now_and_on_commit", lambda: None)
            return step(by=OPERATOR, **kwargs)

    return rotate


def key_table_reads(queries) -> int:
    return sum('"cryptr_sso_signingkey"' in query["sql"] for query in queries.captured_queries)


def test_signing_reads_the_key_table_once_per_view(client, tenant, clock):
    signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    tenant.tokens(client)  # loads the view
    with CaptureQueriesContext(connection) as queries:
        tenant.tokens(client)
        client.get(tenant.url("/.well-known/jwks"))
    assert key_table_reads(queries) == 0
    clock.now += KEY_CACHE_SECONDS
    with CaptureQueriesContext(connection) as queries:
        tenant.tokens(client)
    assert key_table_reads(queries) == 1, "an expired view is read again, once"


def test_a_switch_made_elsewhere_signs_here_within_the_cache_time_and_both_tokens_verify(
    client, tenant, clock, elsewhere
):
    old = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    new = elsewhere(signing_key_publish, purpose=TOKEN)
    clock.now += KEY_CACHE_SECONDS  # the published key is seen before the switch, as in the rotation design
    assert jwks_kids(client, tenant)[:2] == [old.kid, new.kid]
    elsewhere(signing_key_activate, key=new)

    stale = tenant.tokens(client)
    assert kid_of(stale["id_token"]) == kid_of(stale["access_token"]) == old.kid, "the view is still fresh"
    clock.now += KEY_CACHE_SECONDS
    fresh = tenant.tokens(client)
    assert kid_of(fresh["id_token"]) == kid_of(fresh["access_token"]) == new.kid
    assert jwks_kids(client, tenant)[:2] == [new.kid, old.kid]
    for tokens in (stale, fresh):  # the overlap: both sides of the switch verify
        assert tenant.decode(client, tokens["id_token"])["sub"] == str(tenant.user.pk)
        assert tenant.decode(client, tokens["access_token"])["jtt"] == "access"


def test_the_retention_covers_a_token_signed_by_a_process_that_had_not_seen_the_switch_yet(
    client, tenant, clock, elsewhere
):
    old = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    new = elsewhere(signing_key_publish, purpose=TOKEN)
    clock.now += KEY_CACHE_SECONDS
    tenant.tokens(client)
    elsewhere(signing_key_activate, key=new)
    old.refresh_from_db()
    # The latest this process can sign with the old key is just before its view expires.
    with freeze_time(old.retired_at + timedelta(seconds=KEY_CACHE_SECONDS - 0.5)):
        late = tenant.tokens(client)
    assert kid_of(late["id_token"]) == old.kid
    expiry = jwt.decode(late["id_token"], options={"verify_signature": False})["exp"]
    with freeze_time(old.retired_at + token_key_retention() - timedelta(seconds=1)):
        clock.now += KEY_CACHE_SECONDS
        assert old.retired_at.timestamp() + token_key_retention().total_seconds() > expiry
        assert old.kid in jwks_kids(client, tenant), "still published while the late token lives"


def test_once_the_retirement_is_seen_no_token_carries_the_old_kid_and_it_leaves_the_jwks(
    client, tenant, clock, elsewhere
):
    old = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    new = elsewhere(signing_key_publish, purpose=TOKEN)
    clock.now += KEY_CACHE_SECONDS
    tenant.tokens(client)
    elsewhere(signing_key_activate, key=new)
    clock.now += KEY_CACHE_SECONDS
    for _ in range(3):
        tokens = tenant.tokens(client)
        assert kid_of(tokens["id_token"]) == kid_of(tokens["access_token"]) == new.kid
    old.refresh_from_db()
    with freeze_time(old.retired_at + token_key_retention() + timedelta(seconds=1)):
        clock.now += KEY_CACHE_SECONDS
        assert old.kid not in jwks_kids(client, tenant)
        tokens = tenant.tokens(client)
    assert old.kid not in {kid_of(tokens["id_token"]), kid_of(tokens["access_token"])}


def test_the_rotating_process_signs_with_the_new_key_at_once(client, tenant, clock):
    old = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    assert kid_of(tenant.tokens(client)["id_token"]) == old.kid  # the view is loaded
    new = signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
    assert kid_of(tenant.tokens(client)["id_token"]) == new.kid, "no wait in the operator's own process"


def test_the_view_is_dropped_again_when_the_rotation_commits(db, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signing_key_activate(key=signing_key_publish(purpose=TOKEN, by=OPERATOR), by=OPERATOR)
        stale = key_cache.current()  # another thread of this process reads before the commit
    assert key_cache.current() is not stale


def test_the_saml_sp_keys_come_from_the_same_view(db, clock):
    from connections.saml.keys import sp_key_pair, sp_next_key_pairs

    active = signing_key_activate(key=signing_key_publish(purpose=SigningKey.Purpose.SAML_SP, by=OPERATOR), by=OPERATOR)
    signing_key_publish(purpose=SigningKey.Purpose.SAML_SP, by=OPERATOR)
    sp_key_pair()  # loads the view
    with CaptureQueriesContext(connection) as queries:
        pair, next_pairs = sp_key_pair(), sp_next_key_pairs()
    assert key_table_reads(queries) == 0, "an AuthnRequest or an ACS reads no key row"
    assert pair.private_key_pem == active.private_key_pem and len(next_pairs) == 1
