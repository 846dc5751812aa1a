"""Discovery, JWKS and tenant routing of `/t/<domain>`."""

import json

import jwt
import pytest
from django.test import override_settings
from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings

from applications.oauth.keys import generate_rsa_private_key_pem


def test_discovery_names_the_tenant_issuer_and_its_endpoints(client, tenant_a, settings):
    settings.BASE_URL = "https://sso.example.com"
    response = client.get(tenant_a.url("/.well-known/openid-configuration"))
    assert response.status_code == 200
    doc = response.json()
    issuer = f"https://sso.example.com/t/{tenant_a.org.domain}"
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{issuer}/oauth2/authorize"
    assert doc["token_endpoint"] == f"{issuer}/oauth2/token"
    assert doc["userinfo_endpoint"] == f"{issuer}/oauth2/userinfo"
    assert doc["revocation_endpoint"] == f"{issuer}/oauth2/revoke"
    assert doc["end_session_endpoint"] == f"{issuer}/oauth2/logout"
    assert doc["jwks_uri"] == f"{issuer}/.well-known/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"tnt", "sci", "ips", "email", "auth_time"} <= set(doc["claims_supported"])


def test_discovery_issuer_comes_from_base_url_not_from_the_host_header(client, tenant_a, settings):
    settings.BASE_URL = "https://sso.example.com"
    doc = client.get(tenant_a.url("/.well-known/openid-configuration"), HTTP_HOST="localhost").json()
    assert doc["issuer"].startswith("https://sso.example.com/")
    assert doc["token_endpoint"].startswith("https://sso.example.com/")


def test_each_organization_has_its_own_issuer(client, tenant_a, tenant_b):
    doc_a = client.get(tenant_a.url("/.well-known/openid-configuration")).json()
    doc_b = client.get(tenant_b.url("/.well-known/openid-configuration")).json()
    assert doc_a["issuer"] == tenant_a.issuer and doc_b["issuer"] == tenant_b.issuer != tenant_a.issuer


@pytest.mark.parametrize("path", ["/.well-known/jwks", "/.well-known", "/.well-known/"])
def test_jwks_publishes_the_signing_key_with_its_rfc7638_thumbprint(client, tenant_a, path):
    response = client.get(tenant_a.url(path))
    assert response.status_code == 200
    keys = response.json()["keys"]
    expected_kid = jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode()).thumbprint()
    assert [(key["kid"], key["alg"], key["use"], key["kty"]) for key in keys] == [(expected_kid, "RS256", "sig", "RSA")]
    assert "d" not in keys[0], "never the private part"


def test_jwks_publishes_inactive_keys_and_tokens_signed_before_rotation_still_verify(client, tenant_a, settings):
    old_token = tenant_a.tokens(client)["access_token"]
    old_pem = settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    new_pem = generate_rsa_private_key_pem()
    rotated = settings.OAUTH2_PROVIDER | {"OIDC_RSA_PRIVATE_KEY": new_pem, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [old_pem]}
    with override_settings(OAUTH2_PROVIDER=rotated):
        kids = [key["kid"] for key in client.get(tenant_a.url("/.well-known/jwks")).json()["keys"]]
        assert kids == [jwk.JWK.from_pem(pem.encode()).thumbprint() for pem in (new_pem, old_pem)]
        assert tenant_a.decode(client, old_token)["sub"] == str(tenant_a.user.pk)
        new_token = tenant_a.tokens(client)["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == kids[0]


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/jwks", "/oauth2/token"])
def test_unknown_organization_is_a_clean_json_404(client, db, path):
    response = client.get(f"/t/nobody{path}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_unknown_organization_at_authorize_is_an_html_404(client, db):
    response = client.get("/t/nobody/oauth2/authorize?client_id=x")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_unknown_path_under_a_known_organization_is_a_404(client, tenant_a):
    assert client.get(tenant_a.url("/oauth2/nothing-here")).status_code == 404


def test_routes_outside_t_are_untouched(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_cors_preflight_from_an_allowed_origin(client, tenant_a):
    for path in ("/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/.well-known/jwks"):
        response = client.options(
            tenant_a.url(path), HTTP_ORIGIN="https://app.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
        )
        assert response["Access-Control-Allow-Origin"] == "https://app.example", path
        assert "Authorization" in response["Access-Control-Allow-Headers"]


def test_cors_refuses_an_origin_no_application_of_the_organization_lists(client, tenant_a, tenant_b):
    tenant_b.public_app.allowed_origins = "https://b-only.example"
    tenant_b.public_app.save()
    response = client.options(tenant_a.url("/oauth2/token"), HTTP_ORIGIN="https://b-only.example")
    assert "Access-Control-Allow-Origin" not in response
    response = client.post(tenant_a.url("/oauth2/token"), {}, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


def test_token_response_carries_cors_for_the_allowed_origin(client, tenant_a):
    tenant_a.sign_in(client)
    code, verifier = tenant_a.code_for(client)
    response = tenant_a.exchange(client, code, verifier, headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example"


def test_discovery_document_is_valid_json_for_any_origin(client, tenant_a):
    response = client.get(tenant_a.url("/.well-known/openid-configuration"))
    assert response["Access-Control-Allow-Origin"] == "*"
    assert json.loads(response.content)["issuer"] == tenant_a.issuer
