"""Logout at the customer's OpenID provider (RP-Initiated Logout 1.0) when an application signs a user
out through the gateway: the browser goes to the IdP's end_session_endpoint with the IdP's ID token as
id_token_hint, comes back to the gateway's logout callback, whose state must be the one this browser
was given, and ends on the application's post_logout_redirect_uri.

First against panva's oidc-provider (tests/peers/oidc-op) with a scripted browser, then against the
crafted IdP of fake_idp.py for the refusals and the cases without a logout at the IdP."""

import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from applications.services import application_create
from connections.login_session import SESSION_KEY
from connections.models import SSOConnection
from connections.oidc.logout import ID_TOKEN_SESSION_KEY, LOGOUTS_SESSION_KEY
from connections.services import connection_create, connection_update
from organizations import services as directory
from tests.connections.oidc.conftest import CLIENT_ID, REDIRECT_URI, callback, make_oidc_connection, start
from tests.connections.saml_browser import browser, follow, form_of
from tests.oauth.conftest import pkce_pair
from tests.peers.oidc_op import run_oidc_op

LOGOUT_URI = "https://app.example/signed-out"
OP_CLIENT_ID = "sso-gateway"
OP_CLIENT_SECRET = "op-client-secret-" + "l" * 32


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- through panva's oidc-provider ------------------------------------------------------------------------


@pytest.fixture
def gateway(live_server, settings):
    settings.BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def tenant(gateway):
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org,
        name="Demo app",
        application_type="spa",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
        allowed_redirect_uris_after_logout=[LOGOUT_URI],
    )
    connection = connection_create(organization=org, application=app, provider_type="okta_oidc")
    return org, app, connection


@pytest.fixture
def op(tenant, gateway, settings):
    _org, _app, connection = tenant
    clients = [
        {
            "client_id": OP_CLIENT_ID,
            "client_secret": OP_CLIENT_SECRET,
            "redirect_uris": [f"{gateway}/sso/oidc/callback/{connection.id}"],
            "post_logout_redirect_uris": [f"{gateway}/sso/oidc/logout/callback/{connection.id}"],
        }
    ]
    with run_oidc_op(clients=clients) as peer:
        settings.OIDC_CA_BUNDLE = peer.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
        connection_update(
            connection=connection,
            data={
                "oidc_config": {"issuer": peer.issuer, "client_id": OP_CLIENT_ID, "client_secret": OP_CLIENT_SECRET},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        yield peer


def authorize(gateway, tenant, session, challenge):
    org, app, connection = tenant
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "idp_id": connection.id,
    }
    response = session.get(f"{gateway}/t/{org.domain}/oauth2/authorize?{urlencode(query)}", allow_redirects=False)
    return follow(session, response, stop_at=REDIRECT_URI)


def sign_in(gateway, tenant, op):
    """alice signs in at the OP through the gateway; returns the browser and the app's tokens."""
    org, app, _ = tenant
    session = browser()
    session.verify, session.trust_env = op.ca_file, False
    verifier, challenge = pkce_pair()
    response = authorize(gateway, tenant, session, challenge)
    assert response.url.startswith(op.issuer), response.url
    action, fields = form_of(response.text, response.url)
    response = session.post(
        action, data={**fields, "username": "alice", "password": "alice-password"}, allow_redirects=False
    )
    response = follow(session, response, stop_at=REDIRECT_URI)
    assert response.is_redirect, response.text[:800]
    token = requests.post(
        f"{gateway}/t/{org.domain}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(response.headers["Location"])["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return session, token.json()


def app_logout(gateway, tenant, session, tokens):
    org, _app, _connection = tenant
    return session.get(
        f"{gateway}/t/{org.domain}/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye",
        },
        allow_redirects=False,
    )


def confirm_at_the_op(session, response):
    """The OP asks "Do you want to sign-out?": the person says yes."""
    assert response.status_code == 200 and "op.logoutForm" in response.text, response.text[:800]
    action, fields = form_of(response.text, response.url)
    return session.post(action, data={**fields, "logout": "yes"}, allow_redirects=False)


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_app_logout_ends_the_session_at_the_oidc_idp_and_the_browser_ends_on_the_app(gateway, tenant, op):
    _org, _app, connection = tenant
    assert SSOConnection.objects.get(pk=connection.pk).oidc_end_session_endpoint == f"{op.issuer}/session/end"
    session, tokens = sign_in(gateway, tenant, op)

    response = app_logout(gateway, tenant, session, tokens)
    assert response.status_code == 302, response.text[:800]
    location = response.headers["Location"]
    assert location.startswith(f"{op.issuer}/session/end?")
    sent = query_of(location)
    assert sent["client_id"] == OP_CLIENT_ID
    assert sent["post_logout_redirect_uri"] == f"{gateway}/sso/oidc/logout/callback/{connection.id}"
    assert len(sent["state"]) >= 43 and sent["state"] != "bye"
    # The hint is the OP's own ID token of this sign-in (signed by the OP, about alice at the OP).
    assert sent["id_token_hint"] != tokens["id_token"] and sent["id_token_hint"].count(".") == 2

    response = confirm_at_the_op(session, session.get(location, allow_redirects=False))
    assert response.is_redirect, response.text[:800]
    back = response.headers["Location"]
    assert back.startswith(f"{gateway}/sso/oidc/logout/callback/{connection.id}?")
    assert query_of(back)["state"] == sent["state"]
    done = session.get(back, allow_redirects=False)
    assert done.status_code == 302 and done.headers["Location"] == f"{LOGOUT_URI}?state=bye"

    # Signed out at the OP too: the next sign-in shows its login form again.
    response = authorize(gateway, tenant, session, pkce_pair()[1])
    assert response.url.startswith(f"{op.issuer}/interaction/") and 'name="password"' in response.text
    # And the callback works once only.
    again = session.get(back, allow_redirects=False)
    assert again.status_code == 400 and "oidc_logout_state_invalid" in again.text


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_a_tampered_state_coming_back_from_the_idp_is_refused_with_a_clear_page(gateway, tenant, op):
    session, tokens = sign_in(gateway, tenant, op)
    location = app_logout(gateway, tenant, session, tokens).headers["Location"]
    response = confirm_at_the_op(session, session.get(location, allow_redirects=False))
    back = response.headers["Location"]
    state = query_of(back)["state"]
    tampered = back.replace(state, state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB"))

    refused = session.get(tampered, allow_redirects=False)
    assert refused.status_code == 400
    assert "oidc_logout_state_invalid" in refused.text and "Sign-out could not be completed" in refused.text
    assert LOGOUT_URI not in refused.text
    # Another browser (no session) with the genuine state is refused too: the state is bound to this one.
    stranger = browser()
    assert stranger.get(back, allow_redirects=False).status_code == 400
    assert session.get(back, allow_redirects=False).headers["Location"] == f"{LOGOUT_URI}?state=bye"


# --- against the crafted IdP ------------------------------------------------------------------------------

END_SESSION_PATH = "/logout"


@pytest.fixture
def app(org):
    application, _ = application_create(
        organization=org,
        name="Demo app",
        application_type="spa",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
        allowed_redirect_uris_after_logout=[LOGOUT_URI],
    )
    return application


@pytest.fixture
def idp_with_logout(idp):
    idp.discovery_overrides["end_session_endpoint"] = f"{idp.issuer}{END_SESSION_PATH}?tenant=t1"
    return idp


def signed_in(client, connection, idp, *, sub="user-123") -> str:
    """A sign-in through the connection; returns the IdP's ID token of it."""
    request = start(client, connection)
    id_token = idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"], sub=sub))
    idp.token_response = {"access_token": "at-1", "token_type": "Bearer", "id_token": id_token}
    assert callback(client, connection, code="c", state=request["state"]).status_code == 302
    return id_token


def logout(client, org, app):
    return client.post(
        f"/t/{org.domain}/oauth2/logout",
        {"client_id": app.client_id, "post_logout_redirect_uri": LOGOUT_URI, "allow": "on"},
    )


def test_logout_goes_to_the_end_session_endpoint_with_the_hint_and_the_callback_goes_on_to_the_app(
    client, org, app, idp_with_logout, settings, caplog
):
    settings.BASE_URL = "http://testserver"
    caplog.set_level(logging.DEBUG)
    connection = make_oidc_connection(org, app, idp_with_logout)
    id_token = signed_in(client, connection, idp_with_logout)
    kept = client.session[ID_TOKEN_SESSION_KEY]
    assert kept["idp_id"] == connection.id and kept["id_token"].startswith("enc:v1:") and id_token not in str(kept)

    response = logout(client, org, app)

    assert response.status_code == 302 and response["Cache-Control"] == "no-store"
    location = response["Location"]
    assert location.startswith(f"{idp_with_logout.issuer}{END_SESSION_PATH}?tenant=t1&")
    sent = query_of(location)
    assert sent["id_token_hint"] == id_token and sent["client_id"] == CLIENT_ID
    assert sent["post_logout_redirect_uri"] == f"http://testserver/sso/oidc/logout/callback/{connection.id}"
    # Signed out of the gateway already, and the IdP's ID token is gone from the session.
    assert SESSION_KEY not in client.session and ID_TOKEN_SESSION_KEY not in client.session

    done = client.get(f"/sso/oidc/logout/callback/{connection.id}", {"state": sent["state"]})
    assert done.status_code == 302 and done["Location"] == LOGOUT_URI
    assert client.session[LOGOUTS_SESSION_KEY] == {}
    assert not any(id_token in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("case", ["missing", "unknown", "another connection", "replayed"])
def test_logout_callback_refuses_a_state_this_browser_was_not_given(client, org, app, idp_with_logout, settings, case):
    settings.BASE_URL = "http://testserver"
    connection = make_oidc_connection(org, app, idp_with_logout)
    other = make_oidc_connection(org, app, idp_with_logout)
    signed_in(client, connection, idp_with_logout)
    state = query_of(logout(client, org, app)["Location"])["state"]
    target, params = connection, {"state": state}
    if case == "missing":
        params = {}
    elif case == "unknown":
        params = {"state": state[:-1] + ("x" if state[-1] != "x" else "y")}
    elif case == "another connection":
        target = other
    else:
        assert client.get(f"/sso/oidc/logout/callback/{connection.id}", params).status_code == 302

    response = client.get(f"/sso/oidc/logout/callback/{target.id}", params)

    assert response.status_code == 400
    assert "oidc_logout_state_invalid" in response.content.decode()
    assert "Location" not in response


def test_an_expired_logout_state_is_refused(client, org, app, idp_with_logout, settings, monkeypatch):
    import connections.oidc.logout as oidc_logout

    settings.BASE_URL = "http://testserver"
    connection = make_oidc_connection(org, app, idp_with_logout)
    signed_in(client, connection, idp_with_logout)
    state = query_of(logout(client, org, app)["Location"])["state"]
    later = time.time() + oidc_logout.LOGOUT_LIFETIME_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get(f"/sso/oidc/logout/callback/{connection.id}", {"state": state})
    assert response.status_code == 400 and "oidc_logout_state_invalid" in response.content.decode()


def test_an_idp_without_end_session_endpoint_sends_the_browser_straight_to_the_app(client, org, app, idp, settings):
    settings.BASE_URL = "http://testserver"
    connection = make_oidc_connection(org, app, idp)
    assert connection.oidc_end_session_endpoint == ""
    signed_in(client, connection, idp)
    response = logout(client, org, app)
    assert response.status_code == 302 and response["Location"] == LOGOUT_URI
    assert SESSION_KEY not in client.session and ID_TOKEN_SESSION_KEY not in client.session


def test_a_connection_that_opted_out_skips_the_idp(client, org, app, idp_with_logout, settings):
    settings.BASE_URL = "http://testserver"
    connection = make_oidc_connection(org, app, idp_with_logout)
    SSOConnection.objects.filter(pk=connection.pk).update(oidc_logout_at_idp=False)
    signed_in(client, connection, idp_with_logout)
    response = logout(client, org, app)
    assert response.status_code == 302 and response["Location"] == LOGOUT_URI
    assert ID_TOKEN_SESSION_KEY not in client.session


def test_an_id_token_kept_for_another_user_is_never_sent_as_the_hint(client, org, app, idp_with_logout, settings):
    settings.BASE_URL = "http://testserver"
    connection = make_oidc_connection(org, app, idp_with_logout)
    signed_in(client, connection, idp_with_logout)
    session = client.session
    session[ID_TOKEN_SESSION_KEY] = {**session[ID_TOKEN_SESSION_KEY], "user_id": "someone-else"}
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key

    sent = query_of(logout(client, org, app)["Location"])
    assert "id_token_hint" not in sent and sent["client_id"] == CLIENT_ID and sent["state"]


@pytest.mark.parametrize("advertised", ["http://127.0.0.1/logout", "not a url", 42, "https://" + "a" * 2000])
def test_an_unusable_end_session_endpoint_is_ignored_and_the_connection_still_saved(org, app, idp, advertised):
    idp.discovery_overrides["end_session_endpoint"] = advertised
    connection = make_oidc_connection(org, app, idp)
    assert connection.active and connection.oidc_end_session_endpoint == ""
