"""The SSO connections API: creation with its idp_id, the IdP from metadata (pasted, fetched) or typed
values, activation rules, tenant scoping through the API key."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from connections.models import SSOConnection
from connections.providers import default_attribute_mapping
from connections.saml.keys import sp_certificate_pem
from organizations.models import Identity, User
from tests.connections.metadata_server import Routes, metadata_server

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "idp-samples"
CALLBACK = "https://app.misapret.example/callback"
XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # DOT hashes client secrets with the first password hasher (PBKDF2, ~0.5 s each); what these
    # tests check is that a hash is stored, not its cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error", "error_description", "fields"}, body
    return body


@pytest.fixture
def make_app(api):
    def make(org, uri=CALLBACK):
        response = api.post(
            f"/api/v2/org/{org.domain}/applications",
            {"name": "App", "application_type": "spa", "allowed_redirect_uris_after_login": [uri]},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def make_connection(api, make_app):
    def make(org, client=None, **extra):
        application = make_app(org)
        response = (client or api).post(
            "/api/v2/sso-connections",
            {"organization_id": org.domain, "application_id": application["id"], **extra},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def put(api, idp_id, body):
    return api.put(f"/api/v2/sso-connections/{idp_id}", body, format="json")


def test_create_connection_has_the_designed_shape(api, org, make_app):
    application = make_app(org)
    response = api.post(
        "/api/v2/sso-connections",
        {"organization_id": org.domain, "application_id": application["id"], "sso_admin_email": "it@misapret.fr"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["__type__"] == "SSOConnection" and body["__domain__"] == "misapret"
    assert re.fullmatch(r"misapret_[0-9A-Za-z]{22}", body["id"])
    assert response["Location"] == f"/api/v2/sso-connections/{body['id']}"
    assert body["active"] is False
    assert body["protocol"] == "saml" and body["provider_type"] == "unset"
    assert body["organization_id"] == str(org.id) and body["application_id"] == application["id"]
    assert body["sso_admin_email"] == "it@misapret.fr"
    assert body["users_provisioning"] == "provision_new_users"
    redirection = body["default_redirection"]
    assert redirection["__type__"] == "Redirection"
    assert redirection["app_id"] == application["id"] and redirection["uri"] == CALLBACK and redirection["id"]
    assert body["onboarding"]["__type__"] == "AdminOnboarding"
    # Created with the IT admin's email: the admin is invited at once (tests/onboarding covers the email).
    assert body["onboarding"]["state"] == "invited"
    assert body["onboarding"]["it_admin_email"] == "it@misapret.fr"
    saml = body["saml_config"]
    base = django_settings.BASE_URL
    assert saml["entity_id"] == f"{base}/sso/sp/metadata/{body['id']}"
    assert saml["acs_url"] == f"{base}/sso/sp/consume/{body['id']}"
    assert saml["sp_metadata_url"] == f"{base}/sso/sp/metadata/{body['id']}"
    assert saml["slo_url"] == f"{base}/sso/sp/logout/{body['id']}"
    assert saml["sp_certificate"] == sp_certificate_pem()
    assert saml["sp_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert (saml["idp_entity_id"], saml["idp_sso_url"], saml["idp_certificates"]) == (None, None, [])
    assert saml["attribute_mapping"] == {"email": "email", "given_name": "firstName", "family_name": "lastName"}
    assert saml["allow_idp_initiated"] is False and saml["want_response_signed"] is False
    assert body["inserted_at"].endswith("Z")


def test_idp_id_replaces_dashes_of_the_domain(api, make_org, make_app):
    org = make_org(name="B'Oréal")
    application = make_app(org)
    response = api.post(
        "/api/v2/sso-connections", {"organization_id": str(org.id), "application_id": application["id"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert re.fullmatch(r"b_oreal_[0-9A-Za-z]{22}", response.json()["id"])


@pytest.mark.parametrize(
    ("provider_type", "email_attribute"),
    [
        ("azure_ad", f"{XMLSOAP}emailaddress"),
        ("adfs", f"{XMLSOAP}emailaddress"),
        ("okta", "email"),
        ("google", "email"),
        ("ping_one", "email"),
        ("ping_federate", "email"),
        ("generic_saml", "email"),
    ],
)
def test_provider_type_sets_default_attribute_mapping(make_connection, org, provider_type, email_attribute):
    body = make_connection(org, provider_type=provider_type)
    assert body["provider_type"] == provider_type
    assert body["saml_config"]["attribute_mapping"]["email"] == email_attribute
    assert body["saml_config"]["attribute_mapping"] == default_attribute_mapping(provider_type)


def test_microsoft_defaults_use_the_ws_federation_claim_uris():
    assert default_attribute_mapping("azure_ad") == {
        "email": f"{XMLSOAP}emailaddress",
        "given_name": f"{XMLSOAP}givenname",
        "family_name": f"{XMLSOAP}surname",
    }


def test_create_refuses_an_application_of_another_organization(api, make_org, make_app):
    misapret, other = make_org(), make_org(name="Other Corp")
    theirs = make_app(other)
    body = error_of(
        api.post(
            "/api/v2/sso-connections",
            {"organization_id": misapret.domain, "application_id": theirs["id"]},
            format="json",
        ),
        400,
    )
    assert "application_id" in body["fields"]
    assert not SSOConnection.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"application_id": "x"},
        {"organization_id": "misapret"},
        {"organization_id": "misapret", "application_id": "x", "provider_type": "saml_magic"},
        {"organization_id": "misapret", "application_id": "x", "sso_admin_email": "not an email"},
        {"organization_id": "misapret", "application_id": "x", "active": True},
    ],
)
def test_create_refuses_bad_input(api, org, body):
    error_of(api.post("/api/v2/sso-connections", body, format="json"), 400)


def test_create_with_a_form_body(api, org, make_app):
    application = make_app(org)
    response = api.post(
        "/api/v2/sso-connections",
        f"organization_id={org.domain}&application_id={application['id']}&provider_type=okta",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["provider_type"] == "okta"


@pytest.mark.parametrize(
    ("name", "provider_type"),
    [
        ("azure_ad/azure_ad_metadata_app_ssoready_2023.xml", "azure_ad"),
        ("adfs/adfs_metadata_v4_ms-identitymodel.xml", "adfs"),
        ("google/google_metadata_ssoready_2023.xml", "google"),
        ("okta/okta_metadata_crewjam_2020.xml", "okta"),
        ("ping_one/ping_one_metadata_ssoready_2023.xml", "ping_one"),
    ],
)
def test_put_metadata_xml_stores_the_parsed_idp(api, org, make_connection, name, provider_type):
    connection = make_connection(org, provider_type=provider_type)
    document = sample(name)
    response = put(api, connection["id"], {"saml_config": {"idp_metadata_xml": document}})
    assert response.status_code == 200, response.json()
    saml = response.json()["saml_config"]
    assert saml["idp_metadata_source"] == "xml"
    assert saml["idp_entity_id"] and saml["idp_sso_url"].startswith("https://")
    assert saml["idp_certificates"][0].startswith("-----BEGIN CERTIFICATE-----")
    stored = SSOConnection.objects.get(pk=connection["id"])
    assert stored.idp_metadata_xml == document
    assert stored.idp_entity_id == saml["idp_entity_id"]


def test_put_metadata_stores_the_entity_id_sso_and_slo(api, org, make_connection):
    connection = make_connection(org)
    response = put(
        api,
        connection["id"],
        {"saml_config": {"idp_metadata_xml": sample("ping_one/ping_one_metadata_ssoready_2023.xml")}},
    )
    saml = response.json()["saml_config"]
    assert saml["idp_entity_id"] == "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6"
    assert saml["idp_sso_url"] == "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6/saml20/idp/sso"
    assert saml["idp_sso_binding"] == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    assert saml["idp_slo_url"] == "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6/saml20/idp/slo"


def test_google_metadata_valid_until_is_stored(api, org, make_connection):
    connection = make_connection(org)
    response = put(
        api, connection["id"], {"saml_config": {"idp_metadata_xml": sample("google/google_metadata_crewjam_2016.xml")}}
    )
    assert response.json()["saml_config"]["idp_metadata_valid_until"].startswith("2021-01-03T16:17:49")
    assert response.json()["saml_config"]["idp_sso_binding"].endswith("HTTP-POST")


XXE = """<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>"""
SP_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"""


@pytest.mark.parametrize(
    ("document", "code", "words"),
    [
        ("this is not xml", "invalid_metadata", "This is not XML"),
        ("<EntityDescriptor", "invalid_metadata", "not well-formed XML"),
        (SP_METADATA, "not_idp_metadata", "this looks like service-provider metadata"),
        (XXE, "unsafe_metadata", "DOCTYPE"),
    ],
)
def test_bad_metadata_xml_is_a_400_with_the_reason_and_nothing_is_saved(
    api, org, make_connection, document, code, words
):
    connection = make_connection(org)
    put(api, connection["id"], {"saml_config": {"idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml")}})
    before = SSOConnection.objects.get(pk=connection["id"])
    body = error_of(
        put(
            api,
            connection["id"],
            {
                "provider_type": "okta",
                "sso_admin_email": "new@misapret.fr",
                "saml_config": {"idp_metadata_xml": document},
            },
        ),
        400,
    )
    assert body["error"] == code
    assert words in body["error_description"]
    assert body["fields"]["saml_config"]["idp_metadata_xml"] == [body["error_description"]]
    after = SSOConnection.objects.get(pk=connection["id"])
    assert (
        after.idp_entity_id,
        after.idp_metadata_xml,
        after.provider_type,
        after.sso_admin_email,
        after.updated_at,
    ) == (
        before.idp_entity_id,
        before.idp_metadata_xml,
        before.provider_type,
        before.sso_admin_email,
        before.updated_at,
    )


def test_oversized_metadata_is_refused(api, org, make_connection):
    connection = make_connection(org)
    response = put(api, connection["id"], {"saml_config": {"idp_metadata_xml": "<a>" + "x" * (1024 * 1024) + "</a>"}})
    error_of(response, 400)


def test_put_metadata_url_fetches_it_on_the_server(api, org, make_connection, tmp_path, settings):
    settings.SAML_METADATA_ALLOW_PRIVATE_URLS = True
    document = sample("okta/okta_metadata_ssoready_2024.xml").encode()
    connection = make_connection(org)
    with metadata_server(tmp_path, Routes({"/app/metadata": (200, {}, document)})) as (base, ca_file):
        settings.SAML_METADATA_CA_BUNDLE = ca_file
        response = put(api, connection["id"], {"saml_config": {"idp_metadata_url": f"{base}/app/metadata"}})
    assert response.status_code == 200, response.json()
    saml = response.json()["saml_config"]
    assert saml["idp_metadata_source"] == "url"
    assert saml["idp_metadata_url"] == f"{base}/app/metadata"
    assert saml["idp_metadata_fetched_at"]
    assert saml["idp_entity_id"] == "http://www.okta.com/exkdoocxa1VmjpXmX697"
    assert SSOConnection.objects.get(pk=connection["id"]).idp_metadata_xml == document.decode()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://idp.example.com/metadata", "https://"),
        ("https://127.0.0.1/metadata", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data/", "private, loopback or link-local"),
    ],
)
def test_put_metadata_url_refuses_internal_or_plain_http_urls(api, org, make_connection, url, words):
    connection = make_connection(org)
    body = error_of(put(api, connection["id"], {"saml_config": {"idp_metadata_url": url}}), 400)
    assert words in body["error_description"]
    assert "idp_metadata_url" in body["fields"]["saml_config"]
    assert SSOConnection.objects.get(pk=connection["id"]).idp_metadata_url == ""


def okta_certificate() -> str:
    from connections.saml.metadata import parse_idp_metadata

    return parse_idp_metadata(sample("okta/okta_metadata_ssoready_2024.xml")).certificate_pems[0]


def test_put_typed_idp_values(api, org, make_connection):
    connection = make_connection(org)
    put(api, connection["id"], {"saml_config": {"idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml")}})
    bare_base64 = "".join(okta_certificate().splitlines()[1:-1])
    response = put(
        api,
        connection["id"],
        {
            "saml_config": {
                "idp_entity_id": "https://idp.misapret.example",
                "idp_sso_url": "https://idp.misapret.example/sso",
                "idp_sso_binding": "post",
                "idp_certificates": [bare_base64],
            }
        },
    )
    assert response.status_code == 200, response.json()
    saml = response.json()["saml_config"]
    assert saml["idp_metadata_source"] == "manual"
    assert saml["idp_entity_id"] == "https://idp.misapret.example"
    assert saml["idp_sso_binding"] == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert saml["idp_certificates"] == [okta_certificate()]  # normalized to PEM
    assert SSOConnection.objects.get(pk=connection["id"]).idp_metadata_xml == ""


@pytest.mark.parametrize(
    ("saml_config", "field"),
    [
        ({"idp_certificates": ["not a certificate"]}, "idp_certificates"),
        ({"idp_certificates": []}, "idp_certificates"),
        ({"idp_sso_url": "not a url"}, "idp_sso_url"),
        ({"attribute_mapping": {"shoe_size": "shoe"}}, "attribute_mapping"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_put_refuses_bad_saml_config(api, org, make_connection, saml_config, field):
    connection = make_connection(org)
    body = error_of(put(api, connection["id"], {"saml_config": saml_config}), 400)
    assert field in body["fields"]["saml_config"]


def test_put_refuses_two_sources_of_idp_settings(api, org, make_connection):
    connection = make_connection(org)
    body = error_of(
        put(
            api,
            connection["id"],
            {
                "saml_config": {
                    "idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml"),
                    "idp_entity_id": "https://x.example",
                }
            },
        ),
        400,
    )
    assert "one way only" in body["error_description"]


def test_attribute_mapping_is_merged_and_null_restores_the_default(api, org, make_connection):
    connection = make_connection(org, provider_type="okta")
    response = put(api, connection["id"], {"saml_config": {"attribute_mapping": {"email": "mail", "groups": "groups"}}})
    assert response.json()["saml_config"]["attribute_mapping"] == {
        "email": "mail",
        "given_name": "firstName",
        "family_name": "lastName",
        "groups": "groups",
    }
    response = put(api, connection["id"], {"saml_config": {"attribute_mapping": {"email": None, "groups": None}}})
    assert response.json()["saml_config"]["attribute_mapping"] == default_attribute_mapping("okta")


def test_changing_provider_type_moves_a_default_mapping_but_keeps_a_custom_one(api, org, make_connection):
    connection = make_connection(org, provider_type="okta")
    response = put(api, connection["id"], {"provider_type": "azure_ad"})
    assert response.json()["saml_config"]["attribute_mapping"] == default_attribute_mapping("azure_ad")
    put(api, connection["id"], {"saml_config": {"attribute_mapping": {"email": "upn"}}})
    response = put(api, connection["id"], {"provider_type": "google"})
    assert response.json()["saml_config"]["attribute_mapping"]["email"] == "upn"


def test_put_top_level_fields(api, org, make_connection, make_app):
    connection = make_connection(org)
    other_app = make_app(org, uri="https://other.misapret.example/cb")
    response = put(
        api,
        connection["id"],
        {
            "users_provisioning": "existing_users_only",
            "sso_admin_email": "admin@misapret.fr",
            "application_id": other_app["id"],
            "saml_config": {"allow_idp_initiated": True, "want_response_signed": True},
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["users_provisioning"] == "existing_users_only"
    assert body["sso_admin_email"] == "admin@misapret.fr"
    assert body["application_id"] == other_app["id"]
    assert body["default_redirection"]["uri"] == "https://other.misapret.example/cb"
    assert body["saml_config"]["allow_idp_initiated"] is True
    assert body["saml_config"]["want_response_signed"] is True
    assert body["id"] == connection["id"]


def test_put_cannot_change_the_id_or_the_organization(api, org, make_connection):
    connection = make_connection(org)
    for field in ("id", "organization_id", "protocol", "last_successful_test_at"):
        error_of(put(api, connection["id"], {field: "x"}), 400)


def test_put_refuses_an_application_of_another_organization(api, make_org, make_connection, make_app):
    misapret, other = make_org(), make_org(name="Other Corp")
    connection = make_connection(misapret)
    body = error_of(put(api, connection["id"], {"application_id": make_app(other)["id"]}), 400)
    assert "application_id" in body["fields"]


# --- activation ----------------------------------------------------------------------------------


def test_activation_without_idp_configuration_says_what_is_missing(api, org, make_connection):
    connection = make_connection(org)
    body = error_of(put(api, connection["id"], {"active": True}), 422)
    assert body["error"] == "invalid_state"
    assert "idp_entity_id, idp_sso_url, idp_certificates" in body["error_description"]
    assert "test login" in body["error_description"]
    assert SSOConnection.objects.get(pk=connection["id"]).active is False


def test_activation_without_a_successful_test_login_is_refused(api, org, make_connection):
    connection = make_connection(org)
    body = error_of(
        put(
            api,
            connection["id"],
            {"active": True, "saml_config": {"idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml")}},
        ),
        422,
    )
    assert "test login" in body["error_description"]
    assert "bypass_it_admin_test" in body["error_description"]
    assert "idp_entity_id" not in body["error_description"]
    # Nothing of the refused request was saved.
    assert SSOConnection.objects.get(pk=connection["id"]).idp_entity_id == ""


def test_activation_with_bypass_it_admin_test(api, org, make_connection):
    connection = make_connection(org)
    response = put(
        api,
        connection["id"],
        {
            "active": True,
            "bypass_it_admin_test": True,
            "saml_config": {"idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml")},
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["active"] is True and response.json()["bypass_it_admin_test"] is True


def test_activation_after_a_successful_test_login(api, org, make_connection):
    connection = make_connection(org)
    put(api, connection["id"], {"saml_config": {"idp_metadata_xml": sample("okta/okta_metadata_crewjam_2020.xml")}})
    SSOConnection.objects.filter(pk=connection["id"]).update(last_successful_test_at=timezone.now())
    response = put(api, connection["id"], {"active": True})
    assert response.status_code == 200, response.json()
    assert response.json()["active"] is True
    assert response.json()["last_successful_test_at"]
    assert put(api, connection["id"], {"active": False}).json()["active"] is False


def test_bypass_does_not_replace_the_idp_configuration(api, org, make_connection):
    connection = make_connection(org)
    body = error_of(put(api, connection["id"], {"active": True, "bypass_it_admin_test": True}), 422)
    assert "idp_certificates" in body["error_description"]
    assert "test login" not in body["error_description"]


# --- reads, deletes, tenants, scopes ---------------------------------------------------------------


def test_get_and_delete(api, org, make_connection):
    connection = make_connection(org)
    url = f"/api/v2/sso-connections/{connection['id']}"
    assert api.get(url).json() == connection
    user = User.objects.create(organization=org, email="jane@misapret.fr")
    Identity.objects.create(user=user, idp_id=connection["id"], provider="saml.okta", subject="jane")
    response = api.delete(url)
    assert response.status_code == 200
    assert response.json() == {"deleted": True, "resource": connection}
    error_of(api.get(url), 404)
    assert not Identity.objects.filter(idp_id=connection["id"]).exists()
    assert User.objects.filter(pk=user.pk).exists()


def test_an_application_in_use_cannot_be_deleted(api, org, make_connection):
    connection = make_connection(org)
    body = error_of(api.delete(f"/api/v2/org/{org.domain}/applications/{connection['application_id']}"), 409)
    assert connection["id"] in body["error_description"]


def test_deleting_the_organization_deletes_its_connections(api, org, make_connection):
    make_connection(org)
    assert api.delete(f"/api/v2/organizations/{org.domain}").status_code == 200
    assert not SSOConnection.objects.exists()


def test_list_newest_first_filtered_by_organization(api, make_org, make_connection, django_assert_max_num_queries):
    misapret, other = make_org(), make_org(name="Other Corp")
    first, second = make_connection(misapret), make_connection(misapret)
    theirs = make_connection(other)
    with django_assert_max_num_queries(6):
        body = api.get("/api/v2/sso-connections").json()
    assert body["__type__"] == "List" and body["total"] == 3
    assert [item["id"] for item in body["data"]] == [theirs["id"], second["id"], first["id"]]
    for key in (misapret.domain, str(misapret.id)):
        filtered = api.get(f"/api/v2/sso-connections?organization_id={key}").json()
        assert [item["id"] for item in filtered["data"]] == [second["id"], first["id"]]
        assert filtered["__domain__"] == misapret.domain
    paged = api.get("/api/v2/sso-connections?per_page=1&page=2").json()
    assert [item["id"] for item in paged["data"]] == [second["id"]]
    assert paged["pagination"]["total_pages"] == 3


def test_list_query_count_does_not_grow_with_the_connections(api, org, make_connection, django_assert_max_num_queries):
    for _ in range(5):
        make_connection(org)
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v2/sso-connections?per_page=50").json()["data"]) == 5


def test_a_key_limited_to_one_organization_sees_the_others_connections_as_missing(
    api, make_api, make_org, make_connection, make_app
):
    misapret, other = make_org(), make_org(name="Other Corp")
    ours, theirs = make_connection(misapret), make_connection(other)
    api_a = make_api(organizations=[misapret])
    listed = api_a.get("/api/v2/sso-connections").json()
    assert [item["id"] for item in listed["data"]] == [ours["id"]]
    error_of(api_a.get(f"/api/v2/sso-connections?organization_id={other.domain}"), 404)
    url = f"/api/v2/sso-connections/{theirs['id']}"
    for response in (api_a.get(url), api_a.put(url, {"active": False}, format="json"), api_a.delete(url)):
        error_of(response, 404)
    assert SSOConnection.objects.filter(pk=theirs["id"]).exists()
    their_app = make_app(other)
    error_of(
        api_a.post(
            "/api/v2/sso-connections",
            {"organization_id": other.domain, "application_id": their_app["id"]},
            format="json",
        ),
        404,
    )
    error_of(
        api_a.post(
            "/api/v2/sso-connections",
            {"organization_id": str(other.id), "application_id": their_app["id"]},
            format="json",
        ),
        404,
    )
    assert SSOConnection.objects.filter(organization=other).count() == 1


def test_scopes_are_required(make_api, org, make_connection):
    connection = make_connection(org)
    reader = make_api(scopes=["read:sso_connections"])
    assert reader.get(f"/api/v2/sso-connections/{connection['id']}").status_code == 200
    body = error_of(reader.put(f"/api/v2/sso-connections/{connection['id']}", {"active": False}, format="json"), 403)
    assert "write:sso_connections" in body["error_description"]
    error_of(reader.delete(f"/api/v2/sso-connections/{connection['id']}"), 403)
    error_of(reader.post("/api/v2/sso-connections", {}, format="json"), 403)
    no_scope = make_api(scopes=["read:applications"])
    error_of(no_scope.get("/api/v2/sso-connections"), 403)


def test_form_body_with_nested_saml_config(api, org, make_connection):
    connection = make_connection(org)
    response = api.put(
        f"/api/v2/sso-connections/{connection['id']}",
        "provider_type=okta&saml_config[idp_entity_id]=https%3A%2F%2Fidp.example&saml_config[idp_sso_url]="
        "https%3A%2F%2Fidp.example%2Fsso&saml_config[allow_idp_initiated]=true",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.json()
    saml = response.json()["saml_config"]
    assert (saml["idp_entity_id"], saml["idp_sso_url"], saml["allow_idp_initiated"]) == (
        "https://idp.example",
        "https://idp.example/sso",
        True,
    )
