"""Revoke all sessions of a user (the operator's admin action, the API's `POST .../users/{id}/revoke-sessions`)
ends every gateway sign-in of that user, whatever the protocol: the next authorize request in a browser
that was signed in goes back to the IdP instead of getting a code. A sign-in made after the revocation works.

The first part uses sign-ins made through the login_session contract (tests/oauth/conftest.py), the second
real logins: an OIDC connection to panva's oidc-provider (tests/peers/oidc_op.py) and a SAML connection to
the samlify IdP (tests/peers/saml_idp.py), both driven by the scripted browser of tests/connections."""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import User as Operator
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.models import AccessToken, RefreshToken
from applications.oauth.sign_out import end_user_revoke_all_sessions
from applications.services import application_create
from connections.login_session import SESSION_KEY
from connections.saml.logout import indexed_session_keys
from connections.services import connection_create, connection_update
from cryptr_sso.audit import Actor
from cryptr_sso.models import AuditEvent
from organizations import services as directory
from organizations.models import Identity, User
from tests.api.v2.helpers import assert_error
from tests.connections.saml_browser import browser, follow, form_of, sign_in_at_idp
from tests.oauth.conftest import pkce_pair, query_of
from tests.peers.oidc_op import run_oidc_op
from tests.peers.saml_idp import run_saml_idp

OPERATOR = Actor(name="operator:ops")


def authorize_goes_to_the_idp(client, tenant) -> bool:
    """True when this browser's authorize request is sent to sign in; False when it gets a code."""
    response, _ = tenant.authorize(client, idp_id=tenant.idp_id)
    assert response.status_code == 302, response.content[:500]
    if response["Location"].startswith("/sso/start/"):
        return True
    assert "code" in query_of(response["Location"]), response["Location"]
    return False


def oidc_sign_in(client, tenant, user=None) -> None:
    """A sign-in as the OIDC callback leaves it: not in the SAML logout index."""
    tenant.sign_in(client, user)
    session = client.session
    session[SESSION_KEY] = {
        **session[SESSION_KEY],
        "provider_type": "generic_oidc",
        "sso_session": {"protocol": "oidc", "sub": "sub-jane", "sid": ""},
    }
    session.save()


# --- through the login_session contract -------------------------------------------------------------------


def test_revocation_ends_a_sign_in_the_saml_index_does_not_know(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    assert not authorize_goes_to_the_idp(client, tenant_a)

    revoked = end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)

    assert revoked["sign_ins"] == 0  # nothing to find in the SAML index: the stamp alone ends it
    assert authorize_goes_to_the_idp(client, tenant_a)
    assert SESSION_KEY not in client.session  # cleared, not only ignored
    tenant_a.user.refresh_from_db()
    assert tenant_a.user.sessions_revoked_at is not None
    event = AuditEvent.objects.get(type="user.sessions_revoked")
    assert event.actor == "operator:ops" and event.user_id == str(tenant_a.user.pk)


def test_a_sign_in_after_the_revocation_works(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    assert authorize_goes_to_the_idp(client, tenant_a)

    oidc_sign_in(client, tenant_a)  # back from the IdP
    assert not authorize_goes_to_the_idp(client, tenant_a)
    code, verifier = tenant_a.code_for(client)
    assert tenant_a.exchange(client, code, verifier).status_code == 200


def test_a_code_issued_before_the_revocation_buys_no_tokens_after_it(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    code, verifier = tenant_a.code_for(client)
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    response = tenant_a.exchange(client, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.get(type="token.revoked").data["grants"] == 1  # "code" keys are masked


def test_the_revocation_of_one_user_leaves_the_others_signed_in(client, tenant_a):
    other = directory.user_create(organization=tenant_a.org, email="john@misapret.example")
    oidc_sign_in(client, tenant_a, other)
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    assert not authorize_goes_to_the_idp(client, tenant_a)


def test_a_sign_in_whose_idp_authentication_is_older_than_the_revocation_still_works(client, tenant_a):
    # The IdP may sign the person in again from its own session: its auth_time is old, the sign-in is new.
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    oidc_sign_in(client, tenant_a)
    session = client.session
    session[SESSION_KEY] = {
        **session[SESSION_KEY],
        "authenticated_at": (timezone.now() - timedelta(hours=2)).timestamp(),
    }
    session.save()
    assert not authorize_goes_to_the_idp(client, tenant_a)


def test_a_sign_in_stored_before_signed_in_at_existed_is_ended_by_its_authentication_time(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    session = client.session
    data = dict(session[SESSION_KEY])
    data.pop("signed_in_at")
    session[SESSION_KEY] = data
    session.save()
    assert not authorize_goes_to_the_idp(client, tenant_a)
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    assert authorize_goes_to_the_idp(client, tenant_a)


def test_the_check_costs_no_query_on_the_authorize_path(client, tenant_a):
    def authorize_queries() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            assert not authorize_goes_to_the_idp(client, tenant_a)
        return len(queries)

    oidc_sign_in(client, tenant_a)
    authorize_queries()  # warm: the tenant's organization is kept per process after its first request
    never_revoked = authorize_queries()
    end_user_revoke_all_sessions(user=tenant_a.user, by=OPERATOR)
    oidc_sign_in(client, tenant_a)
    after_a_revocation = authorize_queries()
    assert after_a_revocation == never_revoked
    # What the authorize path reads of the user: one query, which now also carries sessions_revoked_at.
    oidc_sign_in(client, tenant_a)
    with CaptureQueriesContext(db_connection) as queries:
        authorize_goes_to_the_idp(client, tenant_a)
    user_reads = [q["sql"] for q in queries if 'FROM "organizations_user"' in q["sql"]]
    assert len(user_reads) == 1 and "sessions_revoked_at" in user_reads[0]


def test_deactivation_ends_the_sign_ins_for_good(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    directory.user_update(user=tenant_a.user, data={"active": False}, by=OPERATOR)
    assert authorize_goes_to_the_idp(client, tenant_a)
    # Reactivated: the browser that was signed in before stays signed out.
    directory.user_update(user=tenant_a.user, data={"active": True}, by=OPERATOR)
    assert authorize_goes_to_the_idp(client, tenant_a)


def test_deactivation_in_the_admin_ends_the_sign_ins_for_good(client, tenant_a):
    oidc_sign_in(client, tenant_a)
    operator = Operator.objects.create_superuser("ops", "ops@gateway.example", "a long passphrase 42")
    admin = type(client)()
    admin.force_login(operator)
    user = tenant_a.user
    response = admin.post(
        f"/admin/organizations/user/{user.pk}/change/",
        {
            "organization": user.organization_id,
            "email": user.email,
            "email_verified": "on",
            "profile": "{}",
            "meta_data": "{}",
            "identities-TOTAL_FORMS": "0",
            "identities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    user.refresh_from_db()
    assert not user.active and user.sessions_revoked_at is not None
    User.objects.filter(pk=user.pk).update(active=True)
    assert authorize_goes_to_the_idp(client, tenant_a)


# --- the API ----------------------------------------------------------------------------------------------


@pytest.fixture
def api_for(db):
    from rest_framework.test import APIClient

    def make(*, scopes=None, organizations=None):
        api_key, secret = directory.api_key_create(name="backend", scopes=scopes, organizations=organizations)
        client = APIClient()
        token = client.post(
            "/api/v2/oauth/token",
            {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        ).json()["access_token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client, api_key

    return make


def revoke_url(org, user_id) -> str:
    return f"/api/v2/org/{org.domain}/users/{user_id}/revoke-sessions"


def test_api_revokes_all_sessions_of_a_user(client, tenant_a, api_for):
    tokens = tenant_a.tokens(client)
    assert not authorize_goes_to_the_idp(client, tenant_a)
    api, api_key = api_for()
    response = api.post(revoke_url(tenant_a.org, tenant_a.user.pk), REMOTE_ADDR="192.0.2.5")
    assert response.status_code == 200, response.content
    body = response.json()
    tenant_a.user.refresh_from_db()
    assert body == {
        "__type__": "SessionsRevocation",
        "__domain__": tenant_a.org.domain,
        "user_id": str(tenant_a.user.pk),
        "tokens_revoked": 2,
        "sign_ins_ended": 0,
        "sessions_revoked_at": body["sessions_revoked_at"],
    }
    assert body["sessions_revoked_at"].startswith(tenant_a.user.sessions_revoked_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert authorize_goes_to_the_idp(client, tenant_a)
    assert not AccessToken.objects.exists() and not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert (
        client.get(tenant_a.url("/oauth2/userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code
        == 401
    )
    event = AuditEvent.objects.get(type="user.sessions_revoked")
    assert event.actor == f"api_key:{api_key.client_id}" and event.ip == "192.0.2.5"


def test_api_revocation_needs_write_users(client, tenant_a, api_for):
    oidc_sign_in(client, tenant_a)
    api, _ = api_for(scopes=["read:users"])
    assert_error(api.post(revoke_url(tenant_a.org, tenant_a.user.pk)), 403, "insufficient_scope")
    assert not authorize_goes_to_the_idp(client, tenant_a)


def test_api_revocation_of_another_organizations_user_is_a_404(client, tenant_a, tenant_b, api_for):
    oidc_sign_in(client, tenant_a)
    api, _ = api_for(organizations=[tenant_b.org])
    # A key of organization B: A is unknown to it, and A's user is not one of B's.
    assert_error(api.post(revoke_url(tenant_a.org, tenant_a.user.pk)), 404, "not_found")
    assert_error(api.post(revoke_url(tenant_b.org, tenant_a.user.pk)), 404, "not_found")
    assert_error(api.post(revoke_url(tenant_b.org, "not-a-uuid")), 404, "not_found")
    assert not authorize_goes_to_the_idp(client, tenant_a)
    assert not AuditEvent.objects.filter(type="user.sessions_revoked").exists()


# --- real logins through the peers, the operator's admin action ---------------------------------------------

REDIRECT_URI = "https://app.example/callback"
OP_SECRET = "op-client-secret-" + "r" * 32


def operator_revokes(user) -> str:
    """The operator's admin action "Revoke all sessions" on `user`; returns the message shown."""
    from django.test import Client

    operator = Operator.objects.create_superuser("ops", "ops@gateway.example", "a long passphrase 42")
    admin = Client()
    admin.force_login(operator)
    response = admin.post(
        "/admin/organizations/user/", {"action": "revoke_sessions", "_selected_action": [user.pk]}, follow=True
    )
    assert response.status_code == 200
    return " ".join(str(message) for message in response.context["messages"])


def authorize(gateway, org, app, connection) -> str:
    _verifier, challenge = pkce_pair()
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
    return f"{gateway}/t/{org.domain}/oauth2/authorize?{urlencode(query)}"


def first_hop(session, url) -> str:
    """Where the gateway's authorize endpoint sends this browser: a code for the app, or /sso/start."""
    response = session.get(url, allow_redirects=False)
    assert response.is_redirect, response.text[:500]
    return response.headers["Location"]


def gets_a_code(location: str) -> bool:
    if location.startswith(REDIRECT_URI):
        return "code" in parse_qs(urlsplit(location).query)
    assert urlsplit(location).path.startswith("/sso/start/"), location
    return False


def through_the_op(session, url, op, *, username="alice", password="alice-password") -> requests.Response:
    """From the authorize URL to the app's redirect URI through the OP, typing in its login form when it
    shows it; returns the final redirect to the app. The OP pages visited are in session.op_visits."""
    response = follow(session, session.get(url, allow_redirects=False), stop_at=REDIRECT_URI)
    if response.status_code == 200 and "/interaction/" in response.url:
        action, fields = form_of(response.text, response.url)
        fields.update(username=username, password=password)
        response = follow(session, session.post(action, data=fields, allow_redirects=False), stop_at=REDIRECT_URI)
    assert response.is_redirect and response.headers["Location"].startswith(REDIRECT_URI), response.text[:500]
    return response


@pytest.fixture
def gateway(live_server, settings):
    settings.BASE_URL = live_server.url
    return live_server.url


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_revoke_all_sessions_sends_an_oidc_connection_sign_in_back_to_the_idp(gateway, settings):
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org, name="App", application_type="spa", allowed_redirect_uris_after_login=[REDIRECT_URI]
    )
    connection = connection_create(organization=org, application=app, provider_type="okta_oidc")
    clients = [
        {
            "client_id": "gateway",
            "client_secret": OP_SECRET,
            "redirect_uris": [f"{gateway}/sso/oidc/callback/{connection.id}"],
        }
    ]
    with run_oidc_op(clients=clients) as op:
        settings.OIDC_CA_BUNDLE = op.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
        connection_update(
            connection=connection,
            data={
                "oidc_config": {"issuer": op.issuer, "client_id": "gateway", "client_secret": OP_SECRET},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        session = browser()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would win over the session's own CA file
        session.verify = op.ca_file
        url = authorize(gateway, org, app, connection)

        visited = []
        session.hooks["response"].append(lambda response, *a, **k: visited.append(response.url))
        through_the_op(session, url, op)
        assert any(u.startswith(op.issuer) for u in visited)  # signed in at the OP
        user = User.objects.get(organization=org)
        assert Identity.objects.get(user=user).subject == "sub-alice"
        assert gets_a_code(first_hop(session, url))  # signed in at the gateway: a code at once

        message = operator_revokes(user)
        assert "every gateway sign-in" in message
        assert not indexed_session_keys(idp_id=connection.id, name_id="sub-alice")  # not the SAML index's doing

        assert not gets_a_code(first_hop(session, url))  # back to the IdP instead of a code
        visited.clear()
        through_the_op(session, url, op)  # signed in again after the revocation: that works
        assert any(u.startswith(op.issuer) for u in visited)
        assert gets_a_code(first_hop(session, url))
    assert AuditEvent.objects.filter(type="sso.login.succeeded", user_id=str(user.pk)).count() == 2
    assert AuditEvent.objects.get(type="user.sessions_revoked").actor == "operator:ops"


@pytest.fixture
def saml_tenant(gateway):
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org, name="App", application_type="spa", allowed_redirect_uris_after_login=[REDIRECT_URI]
    )
    connection = connection_create(organization=org, application=app, provider_type="okta")
    with run_saml_idp(sp_metadata_url=f"{gateway}/sso/sp/metadata/{connection.id}") as peer:
        connection_update(
            connection=connection,
            data={
                "saml_config": {"idp_metadata_xml": peer.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        yield org, app, connection, peer


def saml_sign_in(session, url) -> None:
    response = follow(session, session.get(url, allow_redirects=False), stop_at=REDIRECT_URI)
    if not response.is_redirect:  # the IdP's login form (else the IdP's own session answered at once)
        response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    assert response.headers["Location"].startswith(REDIRECT_URI), response.text[:500]


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("index", ["kept", "evicted"])
def test_revoke_all_sessions_sends_a_saml_connection_sign_in_back_to_the_idp(gateway, saml_tenant, index):
    org, app, connection, _peer = saml_tenant
    session = browser()
    url = authorize(gateway, org, app, connection)
    saml_sign_in(session, url)
    assert gets_a_code(first_hop(session, url))
    user = User.objects.get(organization=org)
    name_id = Identity.objects.get(user=user).subject
    assert indexed_session_keys(idp_id=connection.id, name_id=name_id)
    if index == "evicted":
        # The SAML logout index lives in the cache, which may lose it: the revocation still holds.
        from connections.saml.logout import forget_sso_sessions

        forget_sso_sessions(
            idp_id=connection.id,
            name_id=name_id,
            session_keys=indexed_session_keys(idp_id=connection.id, name_id=name_id),
        )

    message = operator_revokes(user)
    assert ("1 found" if index == "kept" else "0 found") in message

    assert not gets_a_code(first_hop(session, url))  # back to the IdP instead of a code
    saml_sign_in(session, url)  # a sign-in after the revocation works
    assert gets_a_code(first_hop(session, url))
    assert django_settings.SESSION_COOKIE_NAME in session.cookies
