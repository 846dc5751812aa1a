"""What one tenant, a stolen token or a sloppy client must not get."""

import pytest
from django.contrib.auth import get_user_model

from applications.models import Application, Grant
from tests.oauth.conftest import REDIRECT_URI, query_of


def _no_code(response) -> None:
    assert "code=" not in response.get("Location", "")
    assert not Grant.objects.exists()


def test_user_of_org_a_gets_no_code_from_org_b(client, tenant_a, tenant_b):
    tenant_a.sign_in(client)
    response, _ = tenant_b.authorize(client, tenant_b.public_app, idp_id=tenant_b.idp_id)
    # Not signed in as far as org B is concerned: sent to B's SSO connection, never given a code.
    assert response.status_code == 302
    assert response["Location"].startswith(f"/sso/start/{tenant_b.idp_id}?")
    _no_code(response)


def test_client_of_org_b_is_unknown_at_org_a(client, tenant_a, tenant_b):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, tenant_b.public_app)
    assert response.status_code == 400
    assert b"Sign-in request refused" in response.content and b"Invalid client_id" in response.content
    _no_code(response)


def test_code_of_org_a_cannot_be_exchanged_at_org_b(client, tenant_a, tenant_b):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    response = client.post(
        tenant_b.url("/oauth2/token"),
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "client_id": tenant_a.public_app.client_id,
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert Grant.objects.count() == 1, "the code is still unspent"


def test_confidential_client_of_org_a_cannot_authenticate_at_org_b(client, tenant_a, tenant_b):
    tenant_a.sign_in(client)
    code, _ = tenant_a.code_for(client, tenant_a.confidential_app, verifier=None)
    response = tenant_b.exchange(client, code, None, tenant_a.confidential_app)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_access_token_of_org_a_is_refused_by_org_b_userinfo(client, tenant_a, tenant_b):
    tokens = tenant_a.tokens(client)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(tenant_b.url("/oauth2/userinfo"), **auth).status_code == 401
    assert client.get(tenant_a.url("/oauth2/userinfo"), **auth).status_code == 200


def test_refresh_token_of_org_a_is_refused_at_org_b(client, tenant_a, tenant_b):
    tokens = tenant_a.tokens(client)
    response = tenant_b.refresh(client, tokens["refresh_token"], tenant_a.public_app)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert tenant_a.refresh(client, tokens["refresh_token"]).status_code == 200


def test_org_b_cannot_revoke_tokens_of_org_a(client, tenant_a, tenant_b):
    tokens = tenant_a.tokens(client)
    response = client.post(
        tenant_b.url("/oauth2/revoke"), {"token": tokens["access_token"], "client_id": tenant_b.public_app.client_id}
    )
    assert response.status_code == 200  # RFC 7009: an unknown token is not an error...
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(tenant_a.url("/oauth2/userinfo"), **auth).status_code == 200  # ...and nothing was revoked


def test_an_operator_admin_session_is_not_an_end_user(client, tenant_a):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "a-long-passw0rd!")
    client.force_login(operator)
    response, _ = tenant_a.authorize(client, idp_id=tenant_a.idp_id)
    assert response.status_code == 302 and response["Location"].startswith("/sso/start/")
    _no_code(response)


def test_public_client_without_pkce_is_refused(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, verifier=None)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"
    _no_code(response)


def test_plain_pkce_is_refused(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, verifier=None, code_challenge="a" * 43, code_challenge_method="plain")
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"
    _no_code(response)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example/callback/../other",
        "https://app.example/callbackx",
        "http://app.example/callback",
    ],
)
def test_unregistered_redirect_uri_is_refused_without_redirecting(client, tenant_a, redirect_uri):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, redirect_uri=redirect_uri)
    assert response.status_code == 400
    _no_code(response)


def test_implicit_response_type_is_refused(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, response_type="token")
    assert "access_token" not in response.get("Location", "")
    assert query_of(response["Location"])["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "wrong-" + "v" * 50}, "invalid_grant"),
        ({"code_verifier": ""}, "invalid_grant"),
        ({"redirect_uri": "https://app.example/other"}, "invalid_request"),
    ],
)
def test_token_request_must_match_the_authorization_request(client, tenant_a, change, error):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    response = tenant_a.exchange(client, code, verifier, **change)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == error


def test_confidential_client_that_sent_a_challenge_must_send_the_verifier(client, tenant_a):
    app = tenant_a.confidential_app
    tenant_a.sign_in(client)
    code, _verifier = tenant_a.code_for(client, app)
    assert tenant_a.exchange(client, code, None, app).status_code == 400


def test_token_of_a_deleted_application_is_dead(client, tenant_a):
    tokens = tenant_a.tokens(client, tenant_a.confidential_app)
    Application.objects.filter(pk=tenant_a.confidential_app.pk).delete()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(tenant_a.url("/oauth2/userinfo"), **auth).status_code == 401


def test_access_token_is_refused_in_the_query_string(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = client.get(tenant_a.url("/oauth2/userinfo") + f"?access_token={tokens['access_token']}")
    assert response.status_code == 400 and "sub" not in response.json()


def test_a_deactivated_user_loses_codes_refresh_and_userinfo_at_once(client, tenant_a):
    tokens = tenant_a.tokens(client)
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    tenant_a.user.active = False
    tenant_a.user.save()
    assert tenant_a.exchange(client, code, verifier).json()["error"] == "invalid_grant"
    assert tenant_a.refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(tenant_a.url("/oauth2/userinfo"), **auth).status_code == 401
    # and the session no longer signs them in
    response, _ = tenant_a.authorize(client, idp_id=tenant_a.idp_id)
    assert response["Location"].startswith("/sso/start/")
