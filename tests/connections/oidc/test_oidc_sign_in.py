"""Complete OIDC logins through the gateway, against panva's oidc-provider (a certified OpenID
Provider, tests/peers/oidc-op) as the customer's IdP: app -> /t/<domain>/oauth2/authorize ->
/sso/start -> the OP's login form -> /sso/oidc/callback -> authorize -> app with a code -> tokens."""

from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from applications.services import application_create
from connections.models import SSOConnection
from connections.services import connection_create, connection_update
from organizations import services as directory
from organizations.models import Identity, User
from tests.connections.saml_browser import browser, follow, form_of
from tests.oauth.conftest import pkce_pair
from tests.peers.oidc_op import run_oidc_op

pytestmark = [pytest.mark.peer, pytest.mark.django_db(transaction=True)]

REDIRECT_URI = "https://app.example/callback"
CLIENT_ID = "sso-gateway"
CLIENT_SECRET = "op-client-secret-" + "x" * 32


@pytest.fixture
def gateway(live_server, settings):
    settings.BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def tenant(gateway):
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org, name="Demo app", application_type="spa", allowed_redirect_uris_after_login=[REDIRECT_URI]
    )
    connection = connection_create(organization=org, application=app, protocol="oidc")
    return org, app, connection


def op_clients(gateway, *connections, auth_method="client_secret_basic"):
    return [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": auth_method,
            "redirect_uris": [f"{gateway}/sso/oidc/callback/{c.id}" for c in connections],
        }
    ]


@pytest.fixture
def op(tenant, gateway, settings):
    _org, _app, connection = tenant
    with run_oidc_op(clients=op_clients(gateway, connection)) as peer:
        settings.OIDC_CA_BUNDLE = peer.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
        connection_update(
            connection=connection,
            data={
                "oidc_config": {"issuer": peer.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        yield peer


def authorize_url(gateway, org, app, connection, challenge):
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "idp_id": connection.id,
    }
    return f"{gateway}/t/{org.domain}/oauth2/authorize?{urlencode(query)}"


def login(gateway, tenant, op, *, username="alice", password="alice-password", session=None):
    org, app, connection = tenant
    verifier, challenge = pkce_pair()
    session = session or browser()
    session.verify, session.trust_env = op.ca_file, False
    response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
    response = follow(session, response, stop_at=REDIRECT_URI)
    if response.is_redirect:
        return session, response, verifier
    assert response.url.startswith(op.issuer), response.url
    action, fields = form_of(response.text, response.url)
    fields.update(username=username, password=password)
    response = session.post(action, data=fields, allow_redirects=False)
    return session, follow(session, response, stop_at=REDIRECT_URI), verifier


def code_of(response) -> dict[str, str]:
    assert response.is_redirect, response.text[:1500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def exchange(gateway, org, app, code, verifier):
    response = requests.post(
        f"{gateway}/t/{org.domain}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_login_through_oidc_provider_yields_tokens_for_the_app(gateway, tenant, op):
    org, app, connection = tenant
    _, response, verifier = login(gateway, tenant, op)
    params = code_of(response)
    assert params["state"] == "st-1"
    tokens = exchange(gateway, org, app, params["code"], verifier)

    jwks = jwt.PyJWKClient(f"{gateway}/t/{org.domain}/.well-known/jwks")
    id_token = jwt.decode(
        tokens["id_token"],
        jwks.get_signing_key_from_jwt(tokens["id_token"]).key,
        algorithms=["RS256"],
        audience=app.client_id,
        issuer=f"{gateway}/t/{org.domain}",
    )
    user = User.objects.get(organization=org, email="alice@example.com")
    assert id_token["sub"] == str(user.pk) and id_token["nonce"] == "n-1"
    assert id_token["sci"] == connection.id and id_token["ips"] == "generic_oidc"
    # The OP puts email and names in userinfo only (conformIdTokenClaims): the gateway read them there.
    assert (id_token["given_name"], id_token["family_name"]) == ("Alice", "Liddell")
    identity = Identity.objects.get(user=user)
    assert (identity.idp_id, identity.subject, identity.provider) == (connection.id, "sub-alice", "oidc.generic_oidc")


def test_second_login_finds_the_same_user_by_sub(gateway, tenant, op):
    org, _app, _connection = tenant
    _, response, _ = login(gateway, tenant, op)
    code_of(response)
    _, response, _ = login(gateway, tenant, op, username="bob", password="bob-password")
    code_of(response)
    _, response, _ = login(gateway, tenant, op)
    code_of(response)
    assert User.objects.filter(organization=org).count() == 2


def test_client_secret_post_and_claims_in_the_id_token(gateway, tenant, settings):
    _org, _app, connection = tenant
    with run_oidc_op(
        clients=op_clients(gateway, connection, auth_method="client_secret_post"), id_token_claims=True
    ) as peer:
        settings.OIDC_CA_BUNDLE = peer.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
        connection_update(
            connection=connection,
            data={
                "provider_type": "okta_oidc",
                "oidc_config": {"issuer": peer.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        # The OP advertises both methods; the gateway picks client_secret_basic, which this client may not use.
        SSOConnection.objects.filter(pk=connection.pk).update(oidc_token_endpoint_auth_method="client_secret_post")
        _, response, _ = login(gateway, tenant, peer)
        code_of(response)
    assert Identity.objects.get().provider == "oidc.okta_oidc"


def test_wrong_client_secret_shows_the_error_page(gateway, tenant, op):
    _org, _app, connection = tenant
    connection_update(connection=connection, data={"oidc_config": {"client_secret": "not-the-secret"}})
    _, response, _ = login(gateway, tenant, op)
    assert response.status_code == 403
    assert "oidc_token_request_failed" in response.text
    assert not User.objects.exists()


def test_redirect_uri_not_registered_at_the_op_is_refused_there(gateway, tenant, op):
    org, app, _ = tenant
    other = connection_create(organization=org, application=app, protocol="oidc")
    connection_update(
        connection=other,
        data={
            "oidc_config": {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            "bypass_it_admin_test": True,
            "active": True,
        },
    )
    session = browser()
    session.verify, session.trust_env = op.ca_file, False
    response = session.get(f"{gateway}/sso/start/{other.id}?next=/x", allow_redirects=False)
    response = follow(session, response, stop_at=REDIRECT_URI)
    assert response.url.startswith(op.issuer) and "redirect_uri" in response.text
