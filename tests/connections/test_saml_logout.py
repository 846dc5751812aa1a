"""SAML single logout at /sso/sp/logout/{idp_id}, IdP-initiated login for public clients, and the
per-connection SSO binding.

Round trips go through the samlify IdP peer (a separate Node process, tests/peers/saml-idp); the
attack table crafts LogoutRequests with pysaml2's own IdP server class (tests/connections/saml/idp.py)
signed with the wrong key, SHA-1, or nothing, and checks each is refused with the session still open.
"""

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp
from saml2 import xmldsig as ds
from saml2.config import IdPConfig
from saml2.s_utils import success_status_factory
from saml2.server import Server

from applications.models import AccessToken, RefreshToken
from applications.services import application_create
from connections.login_session import SESSION_KEY
from connections.models import SSOConnection
from connections.saml.config import clear_sp_config_cache
from connections.saml.logout import remember_sso_session
from connections.services import connection_create, connection_update
from organizations import services as directory
from organizations.models import User
from tests.connections.saml.idp import FIXTURES, TestIdp
from tests.connections.saml_browser import browser, follow, form_of, sign_in_at_idp
from tests.oauth.conftest import pkce_pair
from tests.peers.saml_idp import run_saml_idp

REDIRECT_URI = "https://app.example/callback"
LOGOUT_URI = "https://app.example/signed-out"


# --- through the samlify IdP peer ---------------------------------------------------------------------------


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
        default_redirect_uri_after_login=REDIRECT_URI,
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


def code_of(response) -> dict[str, str]:
    assert response.is_redirect, response.text[:800]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def sign_in_with_tokens(gateway, tenant, session=None):
    """alice signs in through the peer; returns the browser and the app's tokens."""
    org, app, connection = tenant
    session = session or browser()
    verifier, challenge = pkce_pair()
    response = follow(
        session,
        session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False),
        stop_at=REDIRECT_URI,
    )
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    token = requests.post(
        f"{gateway}/t/{org.domain}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code_of(response)["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return session, token.json()


def still_signed_in(gateway, tenant, session) -> bool:
    """An authorize request from this browser gets a code without going to the IdP."""
    org, app, connection = tenant
    _, challenge = pkce_pair()
    response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
    assert response.is_redirect, response.text[:500]
    location = response.headers["Location"]
    if location.startswith(REDIRECT_URI):
        return "code" in parse_qs(urlsplit(location).query)
    assert urlsplit(location).path.startswith("/sso/start/"), location
    return False


def tokens_alive(gateway, org, tokens) -> bool:
    response = requests.get(
        f"{gateway}/t/{org.domain}/oauth2/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    return response.status_code == 200


def submit_form(session, response):
    action, fields = form_of(response.text, response.url)
    return session.post(action, data=fields, allow_redirects=False)


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_idp_initiated_logout_ends_the_session_revokes_tokens_and_answers_the_idp(gateway, tenant, idp, binding):
    org, _app, connection = tenant
    if binding == "post":
        # The connection answers on the SLO binding it knows the IdP by (the peer offers both).
        SSOConnection.objects.filter(pk=connection.pk).update(idp_slo_binding=BINDING_HTTP_POST)
    session, tokens = sign_in_with_tokens(gateway, tenant)
    assert tokens_alive(gateway, org, tokens)

    response = session.get(
        f"{idp.base_url}/idp-logout",
        params={"username": "alice", "binding": binding, "relay_state": "rs-1"},
        allow_redirects=False,
    )
    if binding == "redirect":
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"{gateway}/sso/sp/logout/{connection.id}?SAMLRequest=")
        response = session.get(response.headers["Location"], allow_redirects=False)
        # The gateway's signed LogoutResponse goes back on the Redirect binding, to the IdP's SLO endpoint.
        assert response.status_code == 302, response.text[:800]
        location = response.headers["Location"]
        assert location.startswith(f"{idp.slo_url}?SAMLResponse=")
        assert {"SigAlg", "Signature", "RelayState"} <= parse_qs(urlsplit(location).query).keys()
        assert parse_qs(urlsplit(location).query)["SigAlg"] == [ds.SIG_RSA_SHA256]
        response = session.get(location, allow_redirects=False)
    else:
        action, fields = form_of(response.text, response.url)
        assert action == f"{gateway}/sso/sp/logout/{connection.id}"
        response = session.post(action, data=fields, allow_redirects=False)
        assert response.status_code == 200, response.text[:800]
        action, fields = form_of(response.text, response.url)
        assert action == idp.slo_url and fields["RelayState"] == "rs-1"
        assert b"Signature" in base64.b64decode(fields["SAMLResponse"])
        assert 'id="continue"' in response.text  # the form also works with JavaScript off
        response = session.post(action, data=fields, allow_redirects=False)
    # The peer verified the LogoutResponse (signature, InResponseTo) and says Success.
    assert response.status_code == 200, response.text[:800]
    assert '<p id="slo-result">Success</p>' in response.text
    assert '<p id="slo-relay-state">rs-1</p>' in response.text

    assert not still_signed_in(gateway, tenant, session)
    assert not tokens_alive(gateway, org, tokens)
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_idp_initiated_logout_without_the_session_cookie_still_ends_the_session(gateway, tenant, idp):
    """A LogoutRequest posted cross-site arrives without the SameSite=Lax session cookie: the gateway
    finds the session the SAML login opened through its (connection, NameID) index."""
    org, _app, _connection = tenant
    session, tokens = sign_in_with_tokens(gateway, tenant)
    response = session.get(
        f"{idp.base_url}/idp-logout", params={"username": "alice", "binding": "post"}, allow_redirects=False
    )
    action, fields = form_of(response.text, response.url)
    cookieless = browser()
    response = cookieless.post(action, data=fields, allow_redirects=False)
    # Answered on the connection's SLO binding (HTTP-Redirect), signed, to the IdP, which accepts it.
    assert response.status_code == 302, response.text[:800]
    assert '<p id="slo-result">Success</p>' in cookieless.get(response.headers["Location"]).text
    assert not still_signed_in(gateway, tenant, session)
    assert not tokens_alive(gateway, org, tokens)


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_sp_initiated_logout_goes_through_the_idp_and_ends_on_the_post_logout_redirect_uri(gateway, tenant, idp):
    org, _app, connection = tenant
    session, tokens = sign_in_with_tokens(gateway, tenant)
    response = session.get(
        f"{gateway}/t/{org.domain}/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye",
        },
        allow_redirects=False,
    )
    # The gateway signed out, then sends a signed LogoutRequest (NameID + SessionIndex) to the IdP.
    assert response.status_code == 302, response.text[:800]
    location = response.headers["Location"]
    assert location.startswith(f"{idp.slo_url}?SAMLRequest=")
    query = parse_qs(urlsplit(location).query)
    assert query["SigAlg"] == [ds.SIG_RSA_SHA256] and "Signature" in query and "RelayState" in query
    request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    assert "alice@example.com</saml:NameID>" in request_xml or "alice@example.com</ns1:NameID>" in request_xml
    assert "SessionIndex" in request_xml
    assert not tokens_alive(gateway, org, tokens)

    # The IdP answers at /sso/sp/logout; the browser ends on the app's registered URI with its state.
    response = session.get(location, allow_redirects=False)
    assert response.status_code == 302, response.text[:800]
    assert response.headers["Location"].startswith(f"{gateway}/sso/sp/logout/{connection.id}?SAMLResponse=")
    answer = response.headers["Location"]
    response = session.get(answer, allow_redirects=False)
    assert response.status_code == 302, response.text[:800]
    assert response.headers["Location"] == f"{LOGOUT_URI}?state=bye"
    assert not still_signed_in(gateway, tenant, session)

    # The IdP's session is gone too: an IdP-initiated logout finds nothing to end.
    assert session.get(f"{idp.base_url}/idp-logout", params={"username": "alice"}).status_code == 400

    # The same LogoutResponse again answers nothing this browser is waiting for.
    replay = session.get(answer, allow_redirects=False)
    assert replay.status_code == 403 and "saml_logout_unknown_in_response_to" in replay.text


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_sp_initiated_logout_with_the_post_binding(gateway, tenant, idp):
    org, _app, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(idp_slo_binding=BINDING_HTTP_POST)
    session, tokens = sign_in_with_tokens(gateway, tenant)
    response = session.get(
        f"{gateway}/t/{org.domain}/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
        },
        allow_redirects=False,
    )
    assert response.status_code == 200, response.text[:800]
    action, fields = form_of(response.text, response.url)
    assert action == idp.slo_url and b"Signature" in base64.b64decode(fields["SAMLRequest"])
    response = session.post(action, data=fields, allow_redirects=False)
    # The peer answers a POST request on the POST binding.
    response = submit_form(session, response)
    assert response.status_code == 302, response.text[:800]
    assert response.headers["Location"] == LOGOUT_URI


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_logout_to_a_disallowed_post_logout_redirect_uri_is_refused_and_nothing_ends(gateway, tenant, idp):
    org, _app, _connection = tenant
    session, tokens = sign_in_with_tokens(gateway, tenant)
    response = session.get(
        f"{gateway}/t/{org.domain}/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert still_signed_in(gateway, tenant, session)
    assert tokens_alive(gateway, org, tokens)


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_idp_initiated_login_of_a_public_client_lands_on_the_app_which_finishes_with_pkce(gateway, tenant, idp):
    org, app, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(allow_idp_initiated=True)
    session = browser()
    response = sign_in_at_idp(
        session, session.get(idp.idp_initiated_url), username="alice", password="alice-password", stop_at=REDIRECT_URI
    )
    # No code (the SPA holds the PKCE verifier): the documented hint instead.
    assert response.is_redirect, response.text[:800]
    assert response.headers["Location"] == f"{REDIRECT_URI}?idp_initiated=1&idp_id={connection.id}"
    # The SPA starts its normal PKCE flow: the gateway session answers it at once, without the IdP.
    verifier, challenge = pkce_pair()
    response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
    assert response.headers["Location"].startswith(REDIRECT_URI)
    token = requests.post(
        f"{gateway}/t/{org.domain}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code_of(response)["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_login_started_at_the_gateway_for_a_public_client_lands_on_the_app_with_the_hint(gateway, tenant, idp):
    _org, _app, connection = tenant
    session = browser()
    response = follow(
        session, session.get(f"{gateway}/sso/start/{connection.id}", allow_redirects=False), stop_at=REDIRECT_URI
    )
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    assert response.headers["Location"] == f"{REDIRECT_URI}?idp_initiated=1&idp_id={connection.id}"


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_idp_initiated_login_of_a_confidential_client_still_gets_a_code(gateway, tenant, idp):
    org, _app, connection = tenant
    confidential, secret = application_create(
        organization=org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
        default_redirect_uri_after_login=REDIRECT_URI,
    )
    SSOConnection.objects.filter(pk=connection.pk).update(allow_idp_initiated=True, application=confidential)
    session = browser()
    response = sign_in_at_idp(
        session, session.get(idp.idp_initiated_url), username="alice", password="alice-password", stop_at=REDIRECT_URI
    )
    params = code_of(response)
    assert "idp_initiated" not in params
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


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_post_only_idp_gets_a_signed_authn_request_in_a_form_that_works_without_javascript(gateway, tenant, idp):
    org, app, connection = tenant
    SSOConnection.objects.filter(pk=connection.pk).update(idp_sso_binding=BINDING_HTTP_POST)
    session = browser()
    _, challenge = pkce_pair()
    response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
    response = session.get(f"{gateway}{response.headers['Location']}", allow_redirects=False)
    assert response.status_code == 200, response.text[:500]
    action, fields = form_of(response.text, response.url)
    assert action == idp.sso_url
    request_xml = base64.b64decode(fields["SAMLRequest"]).decode()
    assert "AuthnRequest" in request_xml and "SignatureValue" in request_xml
    assert ds.SIG_RSA_SHA256 in request_xml and ds.SIG_RSA_SHA1 not in request_xml
    assert len(fields["RelayState"]) <= 80 and "authorize" not in fields["RelayState"]  # opaque (SAMLBind 3.5.3)
    assert "<noscript>" in response.text and "Continue</button>" in response.text
    # The person presses Continue (no script ran): the IdP verifies the signature and signs them in.
    response = session.post(action, data=fields, allow_redirects=False)
    assert response.status_code == 200 and 'id="login-form"' in response.text, response.text[:500]
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    assert "code" in code_of(response)


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_redirect_idp_gets_the_authn_request_in_the_query(gateway, tenant, idp):
    _org, _app, connection = tenant
    assert SSOConnection.objects.get(pk=connection.pk).idp_sso_binding == BINDING_HTTP_REDIRECT
    response = requests.get(f"{gateway}/sso/start/{connection.id}", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{idp.sso_url}?SAMLRequest=")


# --- attack table: LogoutRequests crafted with pysaml2's IdP server ------------------------------------------

SLO_A = "https://idp-a.example.test/slo"


def crafting_idp(*, entity_id: str, key: str) -> Server:
    """A pysaml2 IdP that signs with `key` ("a" or "b") under `entity_id`."""
    import shutil

    config = IdPConfig().load(
        {
            "entityid": entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(FIXTURES / f"idp_{key}.key.pem"),
            "cert_file": str(FIXTURES / f"idp_{key}.crt.pem"),
            "service": {"idp": {"endpoints": {"single_logout_service": [(SLO_A, BINDING_HTTP_REDIRECT)]}}},
        }
    )
    return Server(config=config)


@pytest.fixture
def sp(db, settings):
    settings.BASE_URL = "http://testserver"
    clear_sp_config_cache()
    org = directory.organization_create(name="Acme", locality="Paris")
    app, _ = application_create(
        organization=org,
        name="App",
        application_type="spa",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
        allowed_redirect_uris_after_logout=[LOGOUT_URI],
    )
    idp_a, idp_b = TestIdp("a"), TestIdp("b")

    def connect(idp, slo_url):
        connection = connection_create(organization=org, application=app, provider_type="okta")
        SSOConnection.objects.filter(pk=connection.pk).update(
            idp_entity_id=idp.entity_id,
            idp_sso_url=idp.sso_url,
            idp_slo_url=slo_url,
            idp_slo_binding=BINDING_HTTP_REDIRECT,
            idp_certificates=[idp.cert_pem],
            active=True,
        )
        return SSOConnection.objects.get(pk=connection.pk)

    a = connect(idp_a, SLO_A)
    b = connect(idp_b, "https://idp-b.example.test/slo")
    user = directory.user_create(organization=org, email="jane.doe@acme.test")
    yield {"org": org, "app": app, "a": a, "b": b, "user": user, "idp_a": idp_a, "idp_b": idp_b}
    clear_sp_config_cache()


NAME_ID = "jane.doe@acme.test"


def open_session(client, sp, *, connection=None, name_id=NAME_ID, session_index="sess-1"):
    connection = connection or sp["a"]
    session = client.session
    session[SESSION_KEY] = {
        "user_id": str(sp["user"].pk),
        "organization_id": str(sp["org"].pk),
        "idp_id": connection.id,
        "provider_type": "okta",
        "authenticated_at": datetime.now(UTC).timestamp(),
        "sso_session": {
            "protocol": "saml",
            "name_id": name_id,
            "name_id_format": saml.NAMEID_FORMAT_EMAILADDRESS,
            "session_index": session_index,
        },
    }
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    remember_sso_session(idp_id=connection.id, name_id=name_id, session_key=session.session_key)
    return session.session_key


def is_open(client) -> bool:
    return SESSION_KEY in client.session


def slo_path(connection) -> str:
    return f"/sso/sp/logout/{connection.id}"


def logout_request(
    server: Server,
    *,
    destination: str,
    name_id=NAME_ID,
    session_index="sess-1",
    sign_post=False,
    sign_alg=ds.SIG_RSA_SHA256,
    digest_alg=ds.DIGEST_SHA256,
    expire=None,
) -> str:
    _id, request = server.create_logout_request(
        destination,
        "http://testserver/sp",
        name_id=saml.NameID(format=saml.NAMEID_FORMAT_EMAILADDRESS, text=name_id),
        session_indexes=[session_index] if session_index else None,
        expire=expire,
        sign=sign_post,
        sign_alg=sign_alg,
        digest_alg=digest_alg,
    )
    return str(request)


def send_redirect(client, server, xml, *, sign=True, sigalg=ds.SIG_RSA_SHA256, path, relay_state="rs"):
    info = server.apply_binding(
        BINDING_HTTP_REDIRECT, xml, f"http://testserver{path}", relay_state, sign=sign, sigalg=sigalg
    )
    location = dict(info["headers"])["Location"]
    return client.get(location.removeprefix("http://testserver"))


def send_post(client, xml, *, path, relay_state="rs"):
    return client.post(path, {"SAMLRequest": base64.b64encode(xml.encode()).decode(), "RelayState": relay_state})


def test_a_valid_redirect_logout_request_ends_the_session_and_is_answered_signed(client, sp):
    open_session(client, sp)
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    response = send_redirect(client, server, logout_request(server, destination=f"http://testserver{path}"), path=path)
    assert response.status_code == 302, response.content[:800]
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(f"{SLO_A}?SAMLResponse=")
    assert query["RelayState"] == ["rs"] and query["SigAlg"] == [ds.SIG_RSA_SHA256] and query["Signature"]
    answer = zlib.decompress(base64.b64decode(query["SAMLResponse"][0]), -15).decode()
    assert "status:Success" in answer and f'Destination="{SLO_A}"' in answer
    assert not is_open(client)


def test_a_valid_post_logout_request_ends_the_session(client, sp):
    open_session(client, sp)
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    response = send_post(
        client, logout_request(server, destination=f"http://testserver{path}", sign_post=True), path=path
    )
    assert response.status_code in (200, 302), response.content[:800]
    assert not is_open(client)


def test_another_name_id_or_session_index_leaves_the_session_open(client, sp):
    open_session(client, sp)
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    for xml in (
        logout_request(server, destination=f"http://testserver{path}", name_id="john@acme.test"),
        logout_request(server, destination=f"http://testserver{path}", session_index="other-session"),
    ):
        response = send_redirect(client, server, xml, path=path)
        assert response.status_code == 302  # answered (nothing of theirs is open here), but nothing ended
        assert is_open(client)


def test_the_other_connections_idp_cannot_end_a_session_opened_by_this_one(client, sp):
    """IdP b's valid LogoutRequest at connection b's endpoint names the same NameID: the session was opened
    by connection a, so it stays open."""
    open_session(client, sp)
    server_b = crafting_idp(entity_id=sp["idp_b"].entity_id, key="b")
    path = slo_path(sp["b"])
    response = send_redirect(
        client, server_b, logout_request(server_b, destination=f"http://testserver{path}"), path=path
    )
    assert response.status_code == 302
    assert is_open(client)


def _refused(response, code):
    assert response.status_code in (400, 403), (response.status_code, response.content[:500])
    assert code in response.content.decode()
    assert "Location" not in response


@pytest.mark.parametrize(
    "case",
    [
        "unsigned-redirect",
        "unsigned-post",
        "wrong-key-redirect",
        "wrong-key-post",
        "sha1-redirect",
        "sha1-post",
        "other-connections-idp",
        "wrong-destination",
        "expired",
        "tampered-after-signing",
    ],
)
def test_forged_or_weak_logout_requests_are_refused_and_the_session_stays_open(client, sp, case):
    open_session(client, sp)
    a_entity = sp["idp_a"].entity_id
    path = slo_path(sp["a"])
    destination = f"http://testserver{path}"
    genuine = crafting_idp(entity_id=a_entity, key="a")
    impostor = crafting_idp(entity_id=a_entity, key="b")  # claims IdP a, signs with IdP b's key
    if case == "unsigned-redirect":
        response = send_redirect(
            client, genuine, logout_request(genuine, destination=destination), sign=False, path=path
        )
        code = "saml_logout_signature_missing"
    elif case == "unsigned-post":
        response = send_post(client, logout_request(genuine, destination=destination), path=path)
        code = "saml_logout_signature_missing"
    elif case == "wrong-key-redirect":
        response = send_redirect(client, impostor, logout_request(impostor, destination=destination), path=path)
        code = "saml_logout_signature_invalid"
    elif case == "wrong-key-post":
        response = send_post(client, logout_request(impostor, destination=destination, sign_post=True), path=path)
        code = "saml_logout_signature_invalid"
    elif case == "sha1-redirect":
        response = send_redirect(
            client, genuine, logout_request(genuine, destination=destination), sigalg=ds.SIG_RSA_SHA1, path=path
        )
        code = "saml_weak_algorithm"
    elif case == "sha1-post":
        xml = logout_request(
            genuine, destination=destination, sign_post=True, sign_alg=ds.SIG_RSA_SHA1, digest_alg=ds.DIGEST_SHA1
        )
        response = send_post(client, xml, path=path)
        code = "saml_weak_algorithm"
    elif case == "other-connections-idp":
        server_b = crafting_idp(entity_id=sp["idp_b"].entity_id, key="b")
        response = send_redirect(client, server_b, logout_request(server_b, destination=destination), path=path)
        code = "saml_logout_unknown_issuer"
    elif case == "wrong-destination":
        xml = logout_request(genuine, destination=f"http://testserver{slo_path(sp['b'])}")
        response = send_redirect(client, genuine, xml, path=path)
        code = "saml_logout_wrong_destination"
    elif case == "expired":
        expired = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = send_redirect(
            client, genuine, logout_request(genuine, destination=destination, expire=expired), path=path
        )
        code = "saml_logout_expired"
    else:  # a genuine POST-signed request for someone else, re-pointed at our user
        xml = logout_request(genuine, destination=destination, sign_post=True, name_id="john@acme.test")
        response = send_post(client, xml.replace("john@acme.test", NAME_ID), path=path)
        code = "saml_logout_signature_invalid"
    _refused(response, code)
    assert is_open(client)


def test_a_replayed_logout_request_is_refused(client, sp):
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    info = server.apply_binding(
        BINDING_HTTP_REDIRECT,
        logout_request(server, destination=f"http://testserver{path}"),
        f"http://testserver{path}",
        "rs",
        sign=True,
        sigalg=ds.SIG_RSA_SHA256,
    )
    location = dict(info["headers"])["Location"].removeprefix("http://testserver")
    open_session(client, sp)
    assert client.get(location).status_code == 302
    assert not is_open(client)
    open_session(client, sp)  # signed in again: the old message must not end the new session
    _refused(client.get(location), "saml_logout_replayed")
    assert is_open(client)


def test_logout_request_for_an_unknown_connection_is_404(client, db):
    assert client.get("/sso/sp/logout/nobody_AAAAAAAAAAAAAAAAAAAAAA?SAMLRequest=x").status_code == 404


def test_neither_request_nor_response_is_a_clear_400(client, sp):
    response = client.get(slo_path(sp["a"]))
    assert response.status_code == 400 and "saml_logout_malformed" in response.content.decode()


def test_oversized_logout_request_is_refused_before_parsing(client, sp):
    open_session(client, sp)
    response = client.post(slo_path(sp["a"]), {"SAMLRequest": "A" * (300 * 1024)})
    assert response.status_code == 403 and "saml_message_too_large" in response.content.decode()
    assert is_open(client)


# --- LogoutResponses ------------------------------------------------------------------------------------------


def logout_response(server: Server, *, in_response_to: str, destination: str, sign: bool, status=None):
    response = server._status_response(
        samlp.LogoutResponse,
        server._issuer(),
        status or success_status_factory(),
        sign,
        sign_alg=ds.SIG_RSA_SHA256,
        digest_alg=ds.DIGEST_SHA256,
        in_response_to=in_response_to,
        destination=destination,
    )
    return str(response)


def test_sp_initiated_logout_sends_a_signed_request_and_accepts_the_matching_response(client, sp):
    open_session(client, sp)
    response = client.get(
        f"/t/{sp['org'].domain}/oauth2/logout",
        {"client_id": sp["app"].client_id, "post_logout_redirect_uri": LOGOUT_URI},
    )
    # Without id_token_hint DOT asks first; confirmed:
    if response.status_code == 200:
        response = client.post(
            f"/t/{sp['org'].domain}/oauth2/logout",
            {"client_id": sp["app"].client_id, "post_logout_redirect_uri": LOGOUT_URI, "allow": "on"},
        )
    assert response.status_code == 302 and response["Location"].startswith(f"{SLO_A}?SAMLRequest=")
    assert not is_open(client)
    query = parse_qs(urlsplit(response["Location"]).query)
    request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    request_id = request_xml.split(' ID="', 1)[1].split('"', 1)[0]
    assert "sess-1" in request_xml and NAME_ID in request_xml
    relay_state = query["RelayState"][0]

    genuine = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    destination = f"http://testserver{path}"

    def answer(server, irt, *, sign=True, relay=relay_state, status=None):
        xml = logout_response(server, in_response_to=irt, destination=destination, sign=False, status=status)
        info = server.apply_binding(
            BINDING_HTTP_REDIRECT, xml, destination, relay, response=True, sign=sign, sigalg=ds.SIG_RSA_SHA256
        )
        return client.get(dict(info["headers"])["Location"].removeprefix("http://testserver"))

    _refused(answer(genuine, "_not-ours"), "saml_logout_unknown_in_response_to")
    _refused(answer(genuine, request_id, sign=False), "saml_logout_signature_missing")
    _refused(
        answer(crafting_idp(entity_id=sp["idp_a"].entity_id, key="b"), request_id), "saml_logout_signature_invalid"
    )
    _refused(answer(genuine, request_id, relay="another"), "saml_logout_unknown_in_response_to")
    done = answer(genuine, request_id)
    assert done.status_code == 302 and done["Location"] == LOGOUT_URI
    _refused(answer(genuine, request_id), "saml_logout_unknown_in_response_to")  # answered once only


def test_logout_of_a_session_without_saml_details_skips_the_idp(client, sp):
    session = client.session
    session[SESSION_KEY] = {
        "user_id": str(sp["user"].pk),
        "organization_id": str(sp["org"].pk),
        "idp_id": sp["a"].id,
        "provider_type": "okta",
        "authenticated_at": datetime.now(UTC).timestamp(),
    }  # a session from before SLO
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    response = client.post(
        f"/t/{sp['org'].domain}/oauth2/logout",
        {"client_id": sp["app"].client_id, "post_logout_redirect_uri": LOGOUT_URI, "allow": "on"},
    )
    assert response.status_code == 302 and response["Location"] == LOGOUT_URI


def test_user_model_untouched_by_logout(client, sp):
    open_session(client, sp)
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    send_redirect(client, server, logout_request(server, destination=f"http://testserver{path}"), path=path)
    assert User.objects.filter(pk=sp["user"].pk, active=True).exists()


def test_an_idp_that_answers_logout_with_an_error_gets_a_clear_page_with_a_way_on(client, sp):
    open_session(client, sp)
    response = client.post(
        f"/t/{sp['org'].domain}/oauth2/logout",
        {"client_id": sp["app"].client_id, "post_logout_redirect_uri": LOGOUT_URI, "allow": "on"},
    )
    query = parse_qs(urlsplit(response["Location"]).query)
    request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    request_id = request_xml.split(' ID="', 1)[1].split('"', 1)[0]
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    destination = f"http://testserver{slo_path(sp['a'])}"
    status = samlp.Status(
        status_code=samlp.StatusCode(
            value=samlp.STATUS_RESPONDER, status_code=samlp.StatusCode(value=samlp.STATUS_PARTIAL_LOGOUT)
        )
    )
    xml = logout_response(server, in_response_to=request_id, destination=destination, sign=False, status=status)
    info = server.apply_binding(
        BINDING_HTTP_REDIRECT,
        xml,
        destination,
        query["RelayState"][0],
        response=True,
        sign=True,
        sigalg=ds.SIG_RSA_SHA256,
    )
    page = client.get(dict(info["headers"])["Location"].removeprefix("http://testserver"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "saml_logout_idp_status" in text and f'href="{LOGOUT_URI}"' in text
    assert not is_open(client)
