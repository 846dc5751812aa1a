"""The OIDC callback against a crafted IdP (tests/connections/oidc/fake_idp.py): every ID token, state
or key the relying party must refuse, each refused with its error code and nothing signed in; and the
good path, for contrast."""

import time

import pytest

from connections.login_session import SESSION_KEY
from organizations.models import Identity, User
from tests.connections.oidc.conftest import CLIENT_ID, CLIENT_SECRET, callback, make_oidc_connection, start
from tests.connections.oidc.fake_idp import fake_idp, hs256_with_public_key, unsigned


def answer_with(idp, id_token, **extra):
    idp.token_response = {"access_token": "at-1", "token_type": "Bearer", "id_token": id_token, **extra}


def assert_refused(response, code):
    assert response.status_code == 403, response.content[:300]
    assert code in response.content.decode(), response.content.decode()[:2000]
    assert SESSION_KEY not in response.wsgi_request.session
    assert not User.objects.exists()


def test_good_id_token_signs_in_and_returns_to_next(client, connection, idp):
    request = start(client, connection)
    assert request["_endpoint"] == f"{idp.issuer}/authorize"
    assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43
    assert request["client_id"] == CLIENT_ID and request["scope"].split()[0] == "openid"
    assert request["redirect_uri"].endswith(f"/sso/oidc/callback/{connection.id}")
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))

    response = callback(client, connection, code="code-1", state=request["state"])

    assert response.status_code == 302 and response["Location"] == "/after-login"
    user = User.objects.get(email="alice@example.com")
    assert (user.profile["given_name"], user.profile["family_name"]) == ("Alice", "Liddell")
    identity = Identity.objects.get(user=user)
    assert (identity.idp_id, identity.subject, identity.provider) == (connection.id, "user-123", "oidc.generic_oidc")
    assert client.session[SESSION_KEY]["idp_id"] == connection.id
    # PKCE: the verifier sent to the token endpoint is the one the challenge was made from.
    sent = idp.token_requests[0]
    assert sent["form"]["code"] == "code-1" and len(sent["form"]["code_verifier"]) >= 43
    assert sent["authorization"].startswith("Basic ") and CLIENT_SECRET not in str(sent["form"])


def test_es256_id_token_is_accepted(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"]), alg="ES256"))
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302


def test_missing_claims_are_read_from_userinfo_whose_sub_must_match(client, connection, idp):
    request = start(client, connection)
    answer_with(
        idp,
        idp.sign(
            idp.claims(client_id=CLIENT_ID, nonce=request["nonce"], email=None, given_name=None, family_name=None)
        ),
    )
    idp.userinfo = {"sub": "user-123", "email": "bob@example.com", "given_name": "Bob", "iss": "https://evil"}
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302
    assert User.objects.get().email == "bob@example.com"


def test_userinfo_about_another_subject_is_refused(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"], email=None)))
    idp.userinfo = {"sub": "someone-else", "email": "mallory@example.com"}
    assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_userinfo_invalid")


TOKEN_ATTACKS = [
    ("alg_none", lambda idp, c: unsigned(c), "oidc_id_token_algorithm"),
    ("alg_none_with_kid", lambda idp, c: unsigned(c, {"alg": "none", "kid": idp.kid}), "oidc_id_token_algorithm"),
    (
        "hs256_signed_with_the_idp_public_key",
        lambda idp, c: hs256_with_public_key(c, idp.rsa_public_pem(), idp.kid),
        "oidc_id_token_algorithm",
    ),
    ("wrong_issuer", lambda idp, c: idp.sign({**c, "iss": "https://evil.example"}), "oidc_wrong_issuer"),
    ("issuer_with_trailing_slash", lambda idp, c: idp.sign({**c, "iss": c["iss"] + "/"}), "oidc_wrong_issuer"),
    ("wrong_audience", lambda idp, c: idp.sign({**c, "aud": "another-client"}), "oidc_wrong_audience"),
    (
        "several_audiences_without_azp",
        lambda idp, c: idp.sign({**c, "aud": [CLIENT_ID, "other"]}),
        "oidc_wrong_audience",
    ),
    (
        "azp_of_another_client",
        lambda idp, c: idp.sign({**c, "aud": [CLIENT_ID, "other"], "azp": "other"}),
        "oidc_wrong_audience",
    ),
    (
        "expired",
        lambda idp, c: idp.sign({**c, "iat": int(time.time()) - 900, "exp": int(time.time()) - 120}),
        "oidc_id_token_expired",
    ),
    (
        "issued_in_the_future",
        lambda idp, c: idp.sign({**c, "iat": int(time.time()) + 600}),
        "oidc_id_token_not_yet_valid",
    ),
    ("nonce_mismatch", lambda idp, c: idp.sign({**c, "nonce": "another-nonce"}), "oidc_nonce_mismatch"),
    ("nonce_missing", lambda idp, c: idp.sign({k: v for k, v in c.items() if k != "nonce"}), "oidc_nonce_mismatch"),
    ("no_exp", lambda idp, c: idp.sign({k: v for k, v in c.items() if k != "exp"}), "oidc_id_token_malformed"),
    ("kid_not_in_jwks", lambda idp, c: idp.sign(c, kid="unknown-kid"), "oidc_unknown_signing_key"),
    ("tampered_payload", lambda idp, c: _tamper(idp.sign(c)), "oidc_id_token_signature"),
    ("not_a_jwt", lambda idp, c: "not-a-jwt", "oidc_id_token_malformed"),
    ("encrypted_jwe", lambda idp, c: "a.b.c.d.e", "oidc_id_token_malformed"),
]


def _tamper(token: str) -> str:
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("make_token", "code"), [(m, c) for _, m, c in TOKEN_ATTACKS], ids=[name for name, _, _ in TOKEN_ATTACKS]
)
def test_callback_refuses_id_token(client, connection, idp, make_token, code):
    request = start(client, connection)
    answer_with(idp, make_token(idp, idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert_refused(callback(client, connection, code="c", state=request["state"]), code)


def test_unknown_kid_refetches_the_jwks_once_and_accepts_a_rotated_key(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302
    fetches = idp.jwks_fetches
    # The IdP rotates its key: the cached key set does not know the new kid.
    from cryptography.hazmat.primitives.asymmetric import rsa

    idp.rsa_key, idp.kid = rsa.generate_private_key(65537, 2048), "rsa-2"
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302
    assert idp.jwks_fetches == fetches + 1


def test_jwks_without_the_kid_is_fetched_once_more_then_refused(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"]), kid="missing"))
    before = idp.jwks_fetches
    assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_unknown_signing_key")
    assert idp.jwks_fetches - before <= 2  # at most the first read and one refetch


def test_state_missing_is_refused(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert_refused(callback(client, connection, code="c"), "oidc_state_invalid")
    assert not idp.token_requests  # the code is never redeemed


def test_state_mismatch_is_refused(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert_refused(callback(client, connection, code="c", state=request["state"] + "x"), "oidc_state_invalid")
    assert not idp.token_requests


def test_state_from_another_browser_is_refused(client, connection, idp, django_user_model):
    from django.test import Client

    request = start(Client(), connection)  # the attacker's own sign-in
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_state_invalid")


def test_state_is_used_once(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302
    response = callback(client, connection, code="c", state=request["state"])
    assert response.status_code == 403 and "oidc_state_invalid" in response.content.decode()


def test_idp_error_answer_is_shown(client, connection, idp):
    request = start(client, connection)
    response = callback(
        client, connection, state=request["state"], error="access_denied", error_description="User not assigned"
    )
    assert_refused(response, "oidc_idp_error")
    assert "User not assigned" in response.content.decode()


def test_token_from_another_connections_idp_is_refused(client, org, app, connection, idp, tls):
    with fake_idp(tls) as other_idp:
        other_idp.kid = idp.kid  # even with the same kid: the key is not this IdP's
        make_oidc_connection(org, app, other_idp)
        request = start(client, connection)
        claims = other_idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])
        answer_with(idp, other_idp.sign(claims))
        assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_id_token_signature")
        # Re-issued with this IdP's issuer, still signed by the other one.
        request = start(client, connection)
        answer_with(idp, other_idp.sign({**claims, "iss": idp.issuer, "nonce": request["nonce"]}))
        assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_id_token_signature")


def test_state_of_another_connection_is_refused(client, org, app, connection, idp, tls):
    with fake_idp(tls) as other_idp:
        other = make_oidc_connection(org, app, other_idp)
        request = start(client, other)
        answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))
        assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_state_invalid")


def test_email_verified_false_is_refused(client, connection, idp):
    request = start(client, connection)
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"], email_verified=False)))
    assert_refused(callback(client, connection, code="c", state=request["state"]), "oidc_email_not_verified")


def test_token_endpoint_refusal_is_shown_without_the_secret(client, connection, idp, caplog):
    request = start(client, connection)
    idp.token_response = None
    response = callback(client, connection, code="c", state=request["state"])
    assert_refused(response, "oidc_token_request_failed")
    assert CLIENT_SECRET not in response.content.decode()
    assert CLIENT_SECRET not in caplog.text


def test_next_outside_the_gateway_is_refused(client, connection):
    response = client.get(f"/sso/start/{connection.id}", {"next": "https://evil.example/"})
    assert response.status_code == 400 and "invalid_next_url" in response.content.decode()


def _arm_admin_test(client, connection, return_path):
    """What the onboarding wizard's test step does (connections.admin_test_login.arm_admin_test)."""
    from importlib import import_module

    from django.conf import settings
    from django.core import signing

    from connections.admin_test_login import _SALT, MARKER_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[MARKER_KEY] = signing.dumps({"idp_id": connection.id, "return_path": return_path}, salt=_SALT)
    store.save()
    client.cookies[settings.SAML_SESSION_COOKIE_NAME] = store.session_key
    return store


def test_it_admin_test_login_on_an_inactive_connection_signs_nobody_in(client, connection, idp):
    from connections.admin_test_login import RESULT_KEY
    from connections.models import SSOConnection

    SSOConnection.objects.filter(pk=connection.pk).update(active=False)
    store = _arm_admin_test(client, connection, "/onboarding/tok/test")
    request = start(client, connection, next_path="/onboarding/tok/test")
    answer_with(idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])))

    response = callback(client, connection, code="c", state=request["state"])

    assert response.status_code == 302 and response["Location"] == "/onboarding/tok/test"
    assert not User.objects.exists() and SESSION_KEY not in client.session
    result = type(store)(store.session_key)[RESULT_KEY]
    assert result["ok"] is True and result["name_id"] == "user-123" and result["claims"]["email"] == "alice@example.com"


def test_it_admin_test_login_shows_a_refusal_to_the_wizard(client, connection, idp):
    from connections.admin_test_login import RESULT_KEY
    from connections.models import SSOConnection

    SSOConnection.objects.filter(pk=connection.pk).update(active=False)
    store = _arm_admin_test(client, connection, "/onboarding/tok/test")
    request = start(client, connection, next_path="/onboarding/tok/test")
    answer_with(idp, idp.sign(idp.claims(client_id="someone-else", nonce=request["nonce"])))
    response = callback(client, connection, code="c", state=request["state"])
    assert response.status_code == 302 and response["Location"] == "/onboarding/tok/test"
    result = type(store)(store.session_key)[RESULT_KEY]
    assert result["ok"] is False and result["error_code"] == "oidc_wrong_audience"


def test_inactive_connection_without_an_armed_test_is_refused(client, connection):
    from connections.models import SSOConnection

    SSOConnection.objects.filter(pk=connection.pk).update(active=False)
    response = client.get(f"/sso/start/{connection.id}", {"next": "/onboarding/tok/test"})
    assert response.status_code == 403


def test_missing_email_explains_the_oidc_fix(client, connection, idp):
    request = start(client, connection)
    answer_with(
        idp, idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"], email=None, sub="someone@example.com"))
    )
    idp.userinfo = {"sub": "someone@example.com", "name": "Someone"}
    response = callback(client, connection, code="c", state=request["state"])
    assert_refused(response, "missing_email")
    assert "preferred_username" in response.content.decode()  # the sub, email-looking, is never taken for it
