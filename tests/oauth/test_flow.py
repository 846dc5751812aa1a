"""The authorization code flow of an organization's issuer, end to end with Django's test client."""

import base64
import hashlib

from django.utils import timezone

from applications.models import AccessToken, Grant, IDToken, RefreshToken
from tests.oauth.conftest import REDIRECT_URI, query_of


def test_code_flow_with_pkce_issues_rs256_tokens_with_gateway_claims(client, tenant_a):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)

    grant = Grant.objects.get()
    assert (grant.user, grant.idp_id, grant.provider_type) == (tenant_a.user, tenant_a.idp_id, "okta")
    assert grant.auth_time is not None

    response = tenant_a.exchange(client, code, verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert set(body) >= {"access_token", "refresh_token", "id_token", "expires_in", "scope"}

    client_id = tenant_a.public_app.client_id
    access = tenant_a.decode(client, body["access_token"])
    assert access["sub"] == str(tenant_a.user.pk)
    assert access["aud"] == access["cid"] == client_id
    assert access["iss"] == tenant_a.issuer
    assert access["tnt"] == tenant_a.org.domain
    assert (access["sci"], access["ips"]) == (tenant_a.idp_id, "okta")
    assert access["email"] == tenant_a.user.email
    assert (access["jtt"], access["ver"]) == ("access", 1)
    assert sorted(access["scp"]) == ["email", "openid", "profile"]
    assert access["exp"] - access["iat"] == 3600 and access["jti"]

    id_token = tenant_a.decode(client, body["id_token"])
    assert id_token["sub"] == str(tenant_a.user.pk)
    assert id_token["nonce"] == "n0nce"
    assert id_token["auth_time"] == int(grant.auth_time.timestamp())
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert id_token["email"] == tenant_a.user.email and id_token["email_verified"] is True
    assert (id_token["given_name"], id_token["family_name"], id_token["name"]) == ("Jane", "Doe", "Jane Doe")
    assert (id_token["tnt"], id_token["sci"], id_token["ips"]) == (tenant_a.org.domain, tenant_a.idp_id, "okta")

    stored = AccessToken.objects.get()
    assert (stored.user, stored.idp_id, stored.provider_type) == (tenant_a.user, tenant_a.idp_id, "okta")
    # RFC 9700 token storage: only the checksum is kept.
    assert stored.token == "" and RefreshToken.objects.get().token == ""
    assert IDToken.objects.filter(jti=id_token["jti"]).exists()
    assert not Grant.objects.exists(), "a code is spent by its exchange"


def test_authorization_response_carries_the_tenant_issuer(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client)
    params = query_of(response["Location"])
    assert params["iss"] == tenant_a.issuer  # RFC 9207
    assert params["state"] == "st4te"


def test_code_is_single_use(client, tenant_a):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    assert tenant_a.exchange(client, code, verifier).status_code == 200
    replay = tenant_a.exchange(client, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_userinfo_returns_the_user_claims_on_get_and_post(client, tenant_a):
    tokens = tenant_a.tokens(client)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    for response in (
        client.get(tenant_a.url("/oauth2/userinfo"), **auth),
        client.post(tenant_a.url("/oauth2/userinfo"), **auth),
    ):
        assert response.status_code == 200, response.content
        assert response.json() == {
            "sub": str(tenant_a.user.pk),
            "email": tenant_a.user.email,
            "email_verified": True,
            "given_name": "Jane",
            "family_name": "Doe",
            "name": "Jane Doe",
            "tnt": tenant_a.org.domain,
            "sci": tenant_a.idp_id,
            "ips": "okta",
        }


def test_userinfo_refuses_a_missing_or_unknown_token(client, tenant_a):
    assert client.get(tenant_a.url("/oauth2/userinfo")).status_code == 401
    response = client.get(tenant_a.url("/oauth2/userinfo"), HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401


def test_refresh_rotates_and_keeps_the_sso_sign_in(client, tenant_a):
    first = tenant_a.tokens(client)
    response = tenant_a.refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    claims = tenant_a.decode(client, second["access_token"])
    assert (claims["sci"], claims["ips"], claims["sub"]) == (tenant_a.idp_id, "okta", str(tenant_a.user.pk))
    id_token = tenant_a.decode(client, second["id_token"])
    assert id_token["auth_time"] == tenant_a.decode(client, first["id_token"])["auth_time"]
    live = RefreshToken.objects.get(revoked__isnull=True)
    assert (live.idp_id, live.provider_type) == (tenant_a.idp_id, "okta")
    assert AccessToken.objects.get().idp_id == tenant_a.idp_id


def test_reusing_a_spent_refresh_token_revokes_the_whole_family(client, tenant_a):
    first = tenant_a.tokens(client)
    second = tenant_a.refresh(client, first["refresh_token"]).json()

    replay = tenant_a.refresh(client, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    # The thief's replay also kills the legitimate client's current tokens.
    assert tenant_a.refresh(client, second["refresh_token"]).status_code == 400
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    userinfo = client.get(tenant_a.url("/oauth2/userinfo"), HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")
    assert userinfo.status_code == 401


def test_revoking_the_refresh_token_ends_the_session_of_the_client(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = client.post(
        tenant_a.url("/oauth2/revoke"),
        {
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": tenant_a.public_app.client_id,
        },
    )
    assert response.status_code == 200
    assert tenant_a.refresh(client, tokens["refresh_token"]).status_code == 400
    userinfo = client.get(tenant_a.url("/oauth2/userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == 401


def test_revoking_the_access_token(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = client.post(
        tenant_a.url("/oauth2/revoke"), {"token": tokens["access_token"], "client_id": tenant_a.public_app.client_id}
    )
    assert response.status_code == 200
    userinfo = client.get(tenant_a.url("/oauth2/userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == 401


def test_confidential_client_authenticates_and_may_skip_pkce(client, tenant_a):
    app = tenant_a.confidential_app
    tenant_a.sign_in(client)
    code, _ = tenant_a.code_for(client, app, verifier=None)
    no_secret = tenant_a.exchange(client, code, None, app, client_secret="wrong")
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    response = tenant_a.exchange(client, code, None, app)
    assert response.status_code == 200, response.content
    assert tenant_a.decode(client, response.json()["access_token"], audience=app.client_id)["cid"] == app.client_id


def test_expired_code_is_refused(client, tenant_a):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    Grant.objects.update(expires=timezone.now())
    assert tenant_a.exchange(client, code, verifier).json()["error"] == "invalid_grant"


def test_no_consent_screen_even_when_the_application_does_not_skip_authorization(client, tenant_a):
    tenant_a.public_app.skip_authorization = False
    tenant_a.public_app.save()
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client)
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    assert "code" in query_of(response["Location"])
    # and the consent form's POST does not exist, nor does a HEAD mint a code
    assert client.post(tenant_a.url("/oauth2/authorize"), {"allow": "Authorize"}).status_code == 405
    Grant.objects.all().delete()
    assert client.head(response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"]).status_code == 405
    assert not Grant.objects.exists()
