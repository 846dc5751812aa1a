"""The API answers in English whatever Accept-Language says: its error_description (a service's sentence,
such as a metadata refusal, or DRF's own validation messages) is for a developer and a log, not a page.
The same refusals are French on the wizard's French pages (tests/onboarding/wizard/test_idp_metadata.py)."""

import pytest
from django.utils import translation
from rest_framework.fields import Field

from connections.saml.metadata import MetadataError, parse_idp_metadata

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9"}
SP_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"""


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error", "error_description", "fields"}, body
    assert response["Content-Language"] == "en"
    return body


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def connection_id(api, org):
    application = api.post(
        f"/api/v2/org/{org.domain}/applications",
        {
            "name": "App",
            "application_type": "spa",
            "allowed_redirect_uris_after_login": ["https://app.misapret.example/callback"],
        },
        format="json",
    ).json()
    response = api.post(
        "/api/v2/sso-connections", {"organization_id": org.domain, "application_id": application["id"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_the_sentences_checked_here_do_have_a_french_translation():
    """Else the API tests below would pass whatever the API does."""
    with pytest.raises(MetadataError) as refused:
        parse_idp_metadata(SP_METADATA)
    with translation.override("fr"):
        assert str(refused.value.hint).startswith("Les métadonnées n\u2019ont pas d\u2019IDPSSODescriptor")
        assert str(Field.default_error_messages["required"]) == "Ce champ est obligatoire."


@pytest.mark.parametrize("headers", [{}, FRENCH], ids=["no-language", "french"])
def test_a_metadata_refusal_is_described_in_english(api, connection_id, headers):
    response = api.put(
        f"/api/v2/sso-connections/{connection_id}",
        {"saml_config": {"idp_metadata_xml": SP_METADATA}},
        format="json",
        **headers,
    )
    body = error_of(response, 400)
    assert body["error"] == "not_idp_metadata"
    assert body["error_description"].startswith(
        "The metadata has no IDPSSODescriptor: this looks like service-provider metadata"
    )
    assert body["fields"]["saml_config"]["idp_metadata_xml"] == [body["error_description"]]


def test_a_certificate_typed_by_hand_is_refused_in_english(api, connection_id):
    response = api.put(
        f"/api/v2/sso-connections/{connection_id}",
        {"saml_config": {"idp_certificates": ["-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"]}},
        format="json",
        **FRENCH,
    )
    body = error_of(response, 400)
    assert body["error"] == "invalid_certificate"
    assert "This is not a certificate (perhaps a private key)" in body["error_description"]
    assert "Ce n\u2019est pas" not in body["error_description"]


@pytest.mark.parametrize("headers", [{}, FRENCH], ids=["no-language", "french"])
def test_drf_validation_messages_are_english(api, org, headers):
    response = api.post(f"/api/v2/org/{org.domain}/applications", {"application_type": "spa"}, format="json", **headers)
    body = error_of(response, 400)
    assert body["error"] == "invalid_request"
    assert body["fields"]["name"] == ["This field is required."]
    assert "This field is required." in body["error_description"]
    assert "obligatoire" not in response.content.decode()


def test_an_unauthenticated_call_is_answered_in_english(client):
    response = client.get("/api/v2/sso-connections", **FRENCH)
    body = error_of(response, 401)
    assert body["error"] == "unauthorized"
    assert "Authorization: Bearer" in body["error_description"]
