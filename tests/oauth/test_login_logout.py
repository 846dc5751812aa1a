"""Where an end user who is not signed in goes, and RP-initiated logout."""

from urllib.parse import parse_qs, urlsplit

from applications.models import AccessToken, RefreshToken
from organizations import services
from tests.oauth.conftest import LOGOUT_URI, REDIRECT_URI, query_of


def test_not_signed_in_with_idp_id_goes_to_that_connection_and_back(client, tenant_a):
    response, _ = tenant_a.authorize(client, idp_id=tenant_a.idp_id)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/sso/start/{tenant_a.idp_id}"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith(tenant_a.url("/oauth2/authorize?"))
    assert parse_qs(urlsplit(next_url).query)["client_id"] == [tenant_a.public_app.client_id]

    # Back from the SSO login (signed in now), the same authorize URL yields the code.
    tenant_a.sign_in(client)
    again = client.get(next_url)
    assert again.status_code == 302 and "code" in query_of(again["Location"])


def test_not_signed_in_without_connection_gets_a_clear_page(client, tenant_a):
    response, _ = tenant_a.authorize(client)
    assert response.status_code == 400
    assert b"No SSO connection chosen" in response.content


def test_connection_of_another_organization_is_not_used(client, tenant_a, tenant_b):
    response, _ = tenant_a.authorize(client, idp_id=tenant_b.idp_id)
    assert response.status_code == 400
    assert b"No SSO connection chosen" in response.content


def test_invalid_client_is_reported_before_anybody_is_sent_to_sign_in(client, tenant_a):
    response, _ = tenant_a.authorize(client, client_id="nope", idp_id=tenant_a.idp_id)
    assert response.status_code == 400
    assert "/sso/start/" not in response.get("Location", "")


def test_prompt_none_without_sign_in_answers_login_required(client, tenant_a):
    response, _ = tenant_a.authorize(client, prompt="none")
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    assert query_of(response["Location"]) == {"error": "login_required", "state": "st4te"}


def test_prompt_login_sends_a_signed_in_user_to_sign_in_again(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, prompt="login", idp_id=tenant_a.idp_id)
    assert response["Location"].startswith(f"/sso/start/{tenant_a.idp_id}?")
    next_url = parse_qs(urlsplit(response["Location"]).query)["next"][0]
    assert "prompt" not in parse_qs(urlsplit(next_url).query)


def test_enterprise_entry_goes_to_the_authorize_endpoint_with_that_connection(client, tenant_a):
    response = client.get(f"/enterprise/{tenant_a.idp_id}/login?client_id=abc&state=xyz&idp_id=other")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == tenant_a.url("/oauth2/authorize")
    assert parse_qs(location.query) == {"client_id": ["abc"], "state": ["xyz"], "idp_id": [tenant_a.idp_id]}


def test_enterprise_entry_with_unknown_connection_is_404(client, db):
    assert client.get("/enterprise/nobody_AAAAAAAAAAAAAAAAAAAAAA/login").status_code == 404


def _logout(client, tenant, **params):
    return client.get(tenant.url("/oauth2/logout"), params)


def test_logout_to_a_registered_uri_clears_the_sign_in_and_revokes_tokens(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = _logout(
        client, tenant_a, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="bye"
    )
    assert response.status_code == 302
    assert response["Location"] == f"{LOGOUT_URI}?state=bye"

    # Signed out: the next authorize request goes to sign in again, and the tokens are dead.
    again, _ = tenant_a.authorize(client, idp_id=tenant_a.idp_id)
    assert again["Location"].startswith("/sso/start/")
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(tenant_a.url("/oauth2/userinfo"), **auth).status_code == 401


def test_logout_refuses_an_unregistered_redirect_uri_and_keeps_the_session(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = _logout(
        client, tenant_a, id_token_hint=tokens["id_token"], post_logout_redirect_uri="https://evil.example/"
    )
    assert response.status_code == 400
    assert "Location" not in response
    still, _ = tenant_a.authorize(client)
    assert "code" in query_of(still["Location"])


def test_logout_refuses_a_client_of_another_organization(client, tenant_a, tenant_b):
    tenant_a.sign_in(client)
    response = _logout(client, tenant_a, client_id=tenant_b.public_app.client_id, post_logout_redirect_uri=LOGOUT_URI)
    assert response.status_code == 400
    assert "Location" not in response


def test_logout_refuses_an_id_token_of_another_organization(client, tenant_a, tenant_b):
    tokens_b = tenant_b.tokens(client)
    response = _logout(client, tenant_a, id_token_hint=tokens_b["id_token"], post_logout_redirect_uri=LOGOUT_URI)
    assert response.status_code == 400
    assert "Location" not in response


def test_logout_without_id_token_hint_asks_the_signed_in_user_first(client, tenant_a):
    tenant_a.sign_in(client)
    response = _logout(client, tenant_a, client_id=tenant_a.public_app.client_id, post_logout_redirect_uri=LOGOUT_URI)
    assert response.status_code == 200
    assert b"Sign out of" in response.content
    confirmed = client.post(
        tenant_a.url("/oauth2/logout"),
        {
            "client_id": tenant_a.public_app.client_id,
            "post_logout_redirect_uri": LOGOUT_URI,
            "allow": "on",
        },
    )
    assert confirmed.status_code == 302 and confirmed["Location"] == LOGOUT_URI
    again, _ = tenant_a.authorize(client, idp_id=tenant_a.idp_id)
    assert again["Location"].startswith("/sso/start/")


def test_logout_without_redirect_uri_shows_signed_out(client, tenant_a):
    tokens = tenant_a.tokens(client)
    response = _logout(client, tenant_a, id_token_hint=tokens["id_token"])
    assert response.status_code == 200
    assert b"You are signed out" in response.content


def test_logout_when_not_signed_in_still_redirects_to_a_registered_uri(client, tenant_a):
    response = _logout(client, tenant_a, client_id=tenant_a.public_app.client_id, post_logout_redirect_uri=LOGOUT_URI)
    assert response.status_code == 302 and response["Location"] == LOGOUT_URI


def test_prompt_none_with_a_signed_in_user_gets_a_code(client, tenant_a):
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, prompt="none")
    assert "code" in query_of(response["Location"])


def test_id_token_hint_of_another_user_means_login_required(client, tenant_a):
    hint = tenant_a.tokens(client)["id_token"]
    colleague = services.user_create(organization=tenant_a.org, email="john@misapret.example")
    tenant_a.sign_in(client, colleague)
    response, _ = tenant_a.authorize(client, prompt="none", id_token_hint=hint)
    assert query_of(response["Location"])["error"] == "login_required"
    tenant_a.sign_in(client)
    response, _ = tenant_a.authorize(client, prompt="none", id_token_hint=hint)
    assert "code" in query_of(response["Location"])
