"""OIDC connections through the v2 API: protocol at creation, oidc_config with discovery at save
(the crafted IdP of fake_idp.py serves the discovery document), the write-only client secret stored
encrypted, and the activation rules."""

import pytest

from connections.crypto import decrypt_text
from connections.models import SSOConnection
from tests.connections.oidc.conftest import CLIENT_SECRET


@pytest.fixture
def api_conn(api, org, app):
    def make(**body):
        response = api.post(
            "/api/v2/sso-connections",
            {"organization_id": org.domain, "application_id": app.client_id, **body},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def put(api, idp_id, body):
    return api.put(f"/api/v2/sso-connections/{idp_id}", body, format="json")


def test_create_with_protocol_oidc_shows_the_redirect_uri_to_register(api_conn, settings):
    body = api_conn(protocol="oidc")
    assert body["protocol"] == "oidc" and body["provider_type"] == "generic_oidc"
    assert body["saml_config"] is None
    oidc = body["oidc_config"]
    assert oidc["redirect_uri"] == f"{settings.BASE_URL}/sso/oidc/callback/{body['id']}"
    assert oidc["client_secret_set"] is False and "client_secret" not in oidc
    assert oidc["scopes"] == "openid email profile"
    assert oidc["attribute_mapping"] == {"email": "email", "given_name": "given_name", "family_name": "family_name"}


@pytest.mark.parametrize("provider_type", ["google_oidc", "entra_id_oidc", "okta_oidc", "ping_one_oidc"])
def test_create_with_an_oidc_provider_type_is_oidc(api_conn, provider_type):
    body = api_conn(provider_type=provider_type)
    assert body["protocol"] == "oidc" and body["oidc_config"]["redirect_uri"]


def test_create_with_contradicting_protocol_and_provider_is_refused(api, org, app):
    response = api.post(
        "/api/v2/sso-connections",
        {"organization_id": org.domain, "application_id": app.client_id, "protocol": "oidc", "provider_type": "okta"},
        format="json",
    )
    assert response.status_code == 400 and "provider_type" in response.json()["fields"]


def test_put_oidc_config_discovers_and_never_returns_the_secret(api, api_conn, idp):
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(
        api,
        idp_id,
        {
            "oidc_config": {
                "issuer": idp.issuer,
                "client_id": "cid",
                "client_secret": CLIENT_SECRET,
                "scopes": "openid email",
            }
        },
    )
    assert response.status_code == 200, response.json()
    oidc = response.json()["oidc_config"]
    assert oidc["issuer"] == idp.issuer and oidc["client_id"] == "cid" and oidc["client_secret_set"] is True
    assert oidc["token_endpoint"] == f"{idp.issuer}/token" and oidc["jwks_uri"] == f"{idp.issuer}/jwks"
    assert oidc["authorization_endpoint"] == f"{idp.issuer}/authorize"
    assert oidc["discovery_fetched_at"] and oidc["token_endpoint_auth_method"] == "client_secret_basic"
    assert CLIENT_SECRET not in response.content.decode()
    assert CLIENT_SECRET not in api.get(f"/api/v2/sso-connections/{idp_id}").content.decode()
    stored = SSOConnection.objects.get(pk=idp_id).oidc_client_secret_encrypted
    assert CLIENT_SECRET not in stored and decrypt_text(stored) == CLIENT_SECRET


def test_discovery_whose_issuer_differs_is_refused_with_a_sentence(api, api_conn, idp):
    idp_id = api_conn(protocol="oidc")["id"]
    idp.discovery_overrides = {"issuer": "https://evil.example"}
    response = put(api, idp_id, {"oidc_config": {"issuer": idp.issuer, "client_id": "cid"}})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "oidc_discovery_failed"
    assert "https://evil.example" in body["error_description"] and "issuer" in body["error_description"]
    assert body["fields"]["oidc_config"]["issuer"]
    assert SSOConnection.objects.get(pk=idp_id).oidc_issuer == ""  # nothing saved


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        ("http://idp.example", "https://"),
        ("https://user:pw@idp.example", "user name or password"),
        ("https://127.0.0.1:1", "private"),
    ],
)
def test_unsafe_issuer_urls_are_refused(api, api_conn, issuer, words):
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(api, idp_id, {"oidc_config": {"issuer": issuer}})
    assert response.status_code == 400
    assert words in response.json()["error_description"]


def test_discovery_endpoints_must_be_https(api, api_conn, idp):
    idp_id = api_conn(protocol="oidc")["id"]
    idp.discovery_overrides = {"token_endpoint": "http://127.0.0.1/token"}
    response = put(api, idp_id, {"oidc_config": {"issuer": idp.issuer}})
    assert response.status_code == 400 and "https://" in response.json()["error_description"]


def test_unreachable_issuer_is_a_400(api, api_conn, idp, settings):
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(api, idp_id, {"oidc_config": {"issuer": idp.issuer + "/nowhere"}})
    assert response.status_code == 400 and "HTTP 404" in response.json()["error_description"]


def test_oidc_config_on_a_saml_connection_is_refused(api, api_conn, idp):
    idp_id = api_conn(provider_type="okta")["id"]
    response = put(api, idp_id, {"oidc_config": {"issuer": idp.issuer}})
    assert response.status_code == 400 and "protocol" in response.json()["error_description"]


def test_switching_a_connection_to_oidc_in_the_same_request(api, api_conn, idp):
    idp_id = api_conn()["id"]
    response = put(
        api, idp_id, {"protocol": "oidc", "oidc_config": {"issuer": idp.issuer, "client_id": "c", "client_secret": "s"}}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["protocol"] == "oidc" and body["provider_type"] == "generic_oidc"
    assert body["oidc_config"]["attribute_mapping"]["given_name"] == "given_name"


def test_activation_needs_a_usable_configuration_and_a_test_or_bypass(api, api_conn, idp):
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(api, idp_id, {"active": True, "bypass_it_admin_test": True})
    assert response.status_code == 422
    assert "OpenID Connect" in response.json()["error_description"]
    assert "client_secret" in response.json()["error_description"]
    put(api, idp_id, {"oidc_config": {"issuer": idp.issuer, "client_id": "c", "client_secret": "s"}})
    response = put(api, idp_id, {"active": True})
    assert response.status_code == 422 and "test login" in response.json()["error_description"]
    response = put(api, idp_id, {"active": True, "bypass_it_admin_test": True})
    assert response.status_code == 200 and response.json()["active"] is True
    # Clearing the secret of an active connection is refused: it would stop the sign-ins.
    assert put(api, idp_id, {"oidc_config": {"client_secret": ""}}).status_code == 422


def test_claim_mapping_in_oidc_config(api, api_conn):
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(api, idp_id, {"oidc_config": {"attribute_mapping": {"email": "upn", "given_name": None}}})
    assert response.status_code == 200
    mapping = response.json()["oidc_config"]["attribute_mapping"]
    assert mapping["email"] == "upn" and mapping["given_name"] == "given_name"


def test_form_encoded_oidc_config(api, api_conn, idp):
    idp_id = api_conn(protocol="oidc")["id"]
    response = api.put(
        f"/api/v2/sso-connections/{idp_id}",
        {"oidc_config[issuer]": idp.issuer, "oidc_config[client_id]": "form-client"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["oidc_config"]["client_id"] == "form-client"


def test_entra_tenant_id_gives_the_tenant_issuer(api, api_conn, monkeypatch):
    from connections.oidc import discovery

    asked = []

    def fake_get_json(url, *, what):
        asked.append(url)
        return {
            "issuer": "https://login.microsoftonline.com/0000-tenant/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/0000-tenant/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.microsoftonline.com/0000-tenant/oauth2/v2.0/token",
            "jwks_uri": "https://login.microsoftonline.com/0000-tenant/discovery/v2.0/keys",
        }

    monkeypatch.setattr(discovery, "get_json", fake_get_json)
    idp_id = api_conn(provider_type="entra_id_oidc")["id"]
    response = put(api, idp_id, {"oidc_config": {"tenant_id": "0000-tenant"}})
    assert response.status_code == 200, response.json()
    assert asked == ["https://login.microsoftonline.com/0000-tenant/v2.0/.well-known/openid-configuration"]
    assert response.json()["oidc_config"]["issuer"] == "https://login.microsoftonline.com/0000-tenant/v2.0"


def test_the_idp_logout_endpoint_is_shown_and_idp_logout_can_be_turned_off(api, api_conn, idp):
    idp.discovery_overrides = {"end_session_endpoint": f"{idp.issuer}/session/end"}
    idp_id = api_conn(protocol="oidc")["id"]
    response = put(api, idp_id, {"oidc_config": {"issuer": idp.issuer, "client_id": "cid"}})
    assert response.status_code == 200, response.json()
    oidc = response.json()["oidc_config"]
    assert oidc["end_session_endpoint"] == f"{idp.issuer}/session/end" and oidc["logout_at_idp"] is True

    response = put(api, idp_id, {"oidc_config": {"logout_at_idp": False}})
    assert response.status_code == 200, response.json()
    assert response.json()["oidc_config"]["logout_at_idp"] is False
    assert SSOConnection.objects.get(pk=idp_id).oidc_logout_at_idp is False

    response = put(api, idp_id, {"oidc_config": {"logout_at_idp": "sometimes"}})
    assert response.status_code == 400
    assert response.json()["error"] and "logout_at_idp" in str(response.json()["fields"])
