"""Complete SAML logins through the gateway, against the samlify IdP peer (a separate Node process):
app -> /t/<domain>/oauth2/authorize -> /sso/start -> IdP login form -> ACS -> authorize -> app with a
code -> tokens. Everything real but the app, which is this test."""

from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from applications.services import application_create
from connections.models import SSOConnection, UsersProvisioning
from connections.services import connection_create, connection_update
from organizations import services as directory
from organizations.models import Identity, User
from tests.connections.saml_browser import browser, follow, sign_in_at_idp
from tests.oauth.conftest import pkce_pair
from tests.peers.saml_idp import run_saml_idp

pytestmark = [pytest.mark.peer, pytest.mark.django_db(transaction=True)]

REDIRECT_URI = "https://app.example/callback"


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
    connection = connection_create(organization=org, application=app, provider_type="okta")
    return org, app, connection


@pytest.fixture
def idp(tenant, gateway):
    _org, _app, connection = tenant
    with run_saml_idp(sp_metadata_url=f"{gateway}/sso/sp/metadata/{connection.id}") as peer:
        connection_update(
            connection=connection,
            data={
                "saml_config": {"idp_metadata_xml": peer.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        yield peer


def authorize_url(gateway, org, app, connection, challenge, **extra):
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
        **extra,
    }
    return f"{gateway}/t/{org.domain}/oauth2/authorize?{urlencode(query)}"


def login(gateway, tenant, *, username="alice", password="alice-password", session=None):
    org, app, connection = tenant
    verifier, challenge = pkce_pair()
    session = session or browser()
    response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
    response = follow(session, response, stop_at=REDIRECT_URI)
    if response.is_redirect:
        return session, response, verifier
    return (
        session,
        sign_in_at_idp(session, response, username=username, password=password, stop_at=REDIRECT_URI),
        verifier,
    )


def code_of(response) -> dict[str, str]:
    assert response.is_redirect, response.text[:800]
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


def test_sp_initiated_login_provisions_the_user_and_yields_tokens(gateway, tenant, idp):
    org, app, connection = tenant
    _, response, verifier = login(gateway, tenant)
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
    assert id_token["sub"] == str(user.pk)
    assert id_token["nonce"] == "n-1"
    assert id_token["sci"] == connection.id and id_token["tnt"] == org.domain
    assert (id_token["given_name"], id_token["family_name"]) == ("Alice", "Liddell")
    identity = Identity.objects.get(user=user)
    assert (identity.idp_id, identity.subject, identity.provider) == (connection.id, "alice@example.com", "saml.okta")


def test_second_login_updates_the_profile_without_a_second_user(gateway, tenant, idp):
    org, _app, _connection = tenant
    login(gateway, tenant)
    User.objects.filter(email="alice@example.com").update(profile={"given_name": "Old"})
    _, response, _ = login(gateway, tenant)
    code_of(response)
    assert User.objects.filter(organization=org).count() == 1
    assert User.objects.get(organization=org).profile["given_name"] == "Alice"


def test_connection_for_existing_users_only_refuses_a_newcomer(gateway, tenant, idp):
    org, _, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(users_provisioning=UsersProvisioning.EXISTING_USERS_ONLY)
    _, response, _ = login(gateway, tenant)
    assert response.status_code == 403
    assert "user_not_provisioned" in response.text
    assert not User.objects.filter(organization=org).exists()


def test_existing_directory_user_is_linked_by_email_under_existing_users_only(gateway, tenant, idp):
    org, app, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(users_provisioning=UsersProvisioning.EXISTING_USERS_ONLY)
    user = directory.user_create(organization=org, email="Alice@Example.com")
    _, response, verifier = login(gateway, tenant)
    tokens = exchange(gateway, org, app, code_of(response)["code"], verifier)
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"] == str(user.pk)


def test_deactivated_user_cannot_sign_in(gateway, tenant, idp):
    org, _, _ = tenant
    login(gateway, tenant)
    User.objects.filter(organization=org).update(active=False)
    _, response, _ = login(gateway, tenant)
    assert response.status_code == 403 and "user_deactivated" in response.text


def test_email_outside_the_allowed_domains_is_refused(gateway, tenant, idp):
    org, _, _ = tenant
    org.allowed_email_domains = ["misapret.fr"]
    org.save()
    _, response, _ = login(gateway, tenant)
    assert response.status_code == 403 and "email_domain_not_allowed" in response.text
    assert not User.objects.filter(organization=org).exists()


def test_wrong_password_at_the_idp_signs_nobody_in(gateway, tenant, idp):
    org, app, connection = tenant
    session = browser()
    _, challenge = pkce_pair()
    response = follow(
        session,
        session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False),
        stop_at=REDIRECT_URI,
    )
    from tests.connections.saml_browser import form_of

    action, fields = form_of(response.text, response.url)
    fields.update(username="alice", password="nope")
    response = session.post(action, data=fields, allow_redirects=False)
    assert "SAMLResponse" not in response.text
    assert not User.objects.exists()


def test_inactive_connection_shows_a_page_that_says_so(gateway, tenant, idp):
    _, _, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(active=False)
    response = requests.get(f"{gateway}/sso/start/{connection.id}?next=/", timeout=10)
    assert response.status_code == 403
    assert "not active" in response.text


def test_unknown_connection_shows_a_not_found_page(gateway):
    response = requests.get(f"{gateway}/sso/start/nope_123?next=/", timeout=10)
    assert response.status_code == 404
    assert "does not exist" in response.text


def test_response_posted_to_another_connections_acs_is_refused(gateway, tenant, idp):
    org, app, connection = tenant
    other = connection_create(organization=org, application=app, provider_type="okta")
    with run_saml_idp(sp_metadata_url=f"{gateway}/sso/sp/metadata/{other.id}") as other_idp:
        connection_update(
            connection=other,
            data={
                "saml_config": {"idp_metadata_xml": other_idp.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        session = browser()
        _, challenge = pkce_pair()
        response = follow(
            session,
            session.get(authorize_url(gateway, org, app, other, challenge), allow_redirects=False),
            stop_at=REDIRECT_URI,
        )
        from tests.connections.saml_browser import form_of

        action, fields = form_of(response.text, response.url)
        fields.update(username="alice", password="alice-password")
        response = session.post(action, data=fields, allow_redirects=False)
        _, fields = form_of(response.text, response.url)
        # The attacker re-targets connection B's signed response at connection A's ACS.
        response = session.post(f"{gateway}/sso/sp/consume/{connection.id}", data=fields, allow_redirects=False)
    assert response.status_code == 403
    assert not User.objects.exists()


def test_idp_initiated_login_lands_on_the_default_redirect_when_allowed(gateway, tenant, idp):
    org, _app, connection = tenant
    # A confidential client: the gateway itself starts the authorize request, without PKCE.
    confidential, secret = application_create(
        organization=org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
    )
    SSOConnection.objects.filter(pk=connection.pk).update(allow_idp_initiated=True, application=confidential)
    session = browser()
    response = session.get(idp.idp_initiated_url)
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    params = code_of(response)
    token = requests.post(
        f"{gateway}/t/{org.domain}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
        },
        auth=(confidential.client_id, secret),
        timeout=10,
    )
    assert token.status_code == 200, token.text


def test_idp_initiated_login_is_refused_when_not_allowed(gateway, tenant, idp):
    session = browser()
    response = session.get(idp.idp_initiated_url)
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    assert response.status_code == 403
    assert not User.objects.exists()


def test_sp_metadata_names_our_endpoints_and_certificate(gateway, tenant):
    _, _, connection = tenant
    response = requests.get(f"{gateway}/sso/sp/metadata/{connection.id}", timeout=10)
    assert response.status_code == 200
    xml = response.text
    assert f'entityID="{gateway}/sso/sp/metadata/{connection.id}"' in xml
    assert f'Location="{gateway}/sso/sp/consume/{connection.id}"' in xml
    assert 'AuthnRequestsSigned="true"' in xml and "X509Certificate" in xml


@pytest.mark.parametrize("next_url", ["https://evil.example/steal", "//evil.example/x", "/\\evil.example"])
def test_start_refuses_to_return_anywhere_but_the_gateway(gateway, tenant, idp, next_url):
    _, _, connection = tenant
    response = requests.get(
        f"{gateway}/sso/start/{connection.id}", params={"next": next_url}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 400
    assert "invalid_next_url" in response.text


def test_login_started_at_the_gateway_lands_on_the_applications_authorize(gateway, tenant, idp):
    org, _, connection = tenant
    # A confidential client: the landing is an authorize request the gateway itself can start.
    server_app, _ = application_create(
        organization=org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
    )
    SSOConnection.objects.filter(pk=connection.pk).update(application=server_app)
    session = browser()
    response = session.get(f"{gateway}/sso/start/{connection.id}", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"].startswith(idp.base_url)
    # The landing stays at the gateway with the request; the IdP gets an opaque RelayState.
    relay_state = parse_qs(urlsplit(response.headers["Location"]).query)["RelayState"][0]
    assert len(relay_state) <= 80 and "authorize" not in relay_state
    response = follow(session, response, stop_at=REDIRECT_URI)
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    assert code_of(response)["code"]
