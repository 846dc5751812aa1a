"""The operators' admin for applications and SSO connections goes through the same services and rules
as the API."""

from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import User as Operator

from applications import services as application_services
from applications.models import Application
from connections import services
from connections.models import SSOConnection

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "idp-samples"
CALLBACK = "https://app.misapret.example/callback"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator_client(client, db):
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client


@pytest.fixture
def application(org):
    created, _secret = application_services.application_create(
        organization=org, name="App", application_type="regular_web", allowed_redirect_uris_after_login=[CALLBACK]
    )
    return created


@pytest.fixture
def connection(org, application):
    return services.connection_create(organization=org, application=application, provider_type="okta")


def test_admin_creates_an_application_and_shows_the_secret_once(operator_client, org):
    response = operator_client.post(
        "/admin/applications/application/add/",
        {
            "organization": org.pk,
            "name": "Admin app",
            "description": "",
            "application_type": "python_flask",
            "allowed_redirect_uris_after_login": f"{CALLBACK}\nhttp://localhost:5000/cb",
            "allowed_redirect_uris_after_logout": "",
            "allowed_origins_cors": "",
            "default_redirect_uri_after_login": "",
            "default_redirect_uri_after_logout": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    application = Application.objects.get(name="Admin app")
    assert application.redirect_uris == f"{CALLBACK} http://localhost:5000/cb"
    assert application.default_redirect_uri_after_login == CALLBACK
    messages = [str(message) for message in response.context["messages"]]
    secret = messages[0].split("client_secret: <code>")[1].split("</code>")[0]
    assert check_password(secret, application.client_secret)
    change_page = operator_client.get(f"/admin/applications/application/{application.pk}/change/").content.decode()
    assert secret not in change_page


def test_admin_refuses_bad_redirect_uris(operator_client, org):
    response = operator_client.post(
        "/admin/applications/application/add/",
        {
            "organization": org.pk,
            "name": "Bad",
            "application_type": "spa",
            "allowed_redirect_uris_after_login": "http://app.example/cb#frag",
        },
    )
    assert response.status_code == 200
    assert "fragment" in response.content.decode()
    assert not Application.objects.filter(name="Bad").exists()


def test_admin_creates_a_connection_with_a_generated_idp_id(operator_client, org, application):
    response = operator_client.post(
        "/admin/connections/ssoconnection/add/",
        {
            "organization": org.pk,
            "application": application.pk,
            "provider_type": "azure_ad",
            "sso_admin_email": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = SSOConnection.objects.get()
    assert connection.id.startswith("misapret_") and len(connection.id) == len("misapret_") + 22
    assert connection.attribute_mapping["email"].endswith("/claims/emailaddress")


def test_admin_refuses_an_application_of_another_organization(operator_client, make_org, application):
    other = make_org(name="Other Corp")
    response = operator_client.post(
        "/admin/connections/ssoconnection/add/",
        {
            "organization": other.pk,
            "application": application.pk,
            "provider_type": "okta",
        },
    )
    assert response.status_code == 200
    assert "Choose an application of this organization." in response.content.decode()
    assert not SSOConnection.objects.exists()


def _change_form(connection, **overrides):
    data = {
        "active": "",
        "provider_type": connection.provider_type,
        "users_provisioning": connection.users_provisioning,
        "application": connection.application_id,
        "sso_admin_email": connection.sso_admin_email,
        "bypass_it_admin_test": "",
        "idp_metadata_xml": connection.idp_metadata_xml,
        "idp_metadata_url": connection.idp_metadata_url,
        "idp_entity_id": connection.idp_entity_id,
        "idp_sso_url": connection.idp_sso_url,
        "idp_sso_binding": connection.idp_sso_binding,
        "idp_slo_url": connection.idp_slo_url,
        "idp_certificates": "\n".join(connection.idp_certificates),
        "attribute_mapping": '{"email": "email", "given_name": "firstName", "family_name": "lastName"}',
        "allow_idp_initiated": "",
        "want_response_signed": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not False}


def test_admin_pastes_metadata_and_activates_with_bypass(operator_client, connection):
    url = f"/admin/connections/ssoconnection/{connection.pk}/change/"
    page = operator_client.get(url)
    assert page.status_code == 200
    assert f"/sso/sp/consume/{connection.pk}" in page.content.decode()
    metadata = (SAMPLES / "okta" / "okta_metadata_crewjam_2020.xml").read_text()
    response = operator_client.post(url, _change_form(connection, idp_metadata_xml=metadata, active="on"))
    assert response.status_code == 200
    assert "has not completed a successful test login" in response.content.decode()
    connection.refresh_from_db()
    assert (connection.active, connection.idp_entity_id) == (False, "")

    response = operator_client.post(
        url, _change_form(connection, idp_metadata_xml=metadata, active="on", bypass_it_admin_test="on")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.active is True
    assert connection.idp_entity_id == "http://www.okta.com/exkppsa1qwuFV4D7z0h7"
    assert connection.idp_certificates[0].startswith("-----BEGIN CERTIFICATE-----")


def test_admin_shows_the_metadata_error(operator_client, connection):
    url = f"/admin/connections/ssoconnection/{connection.pk}/change/"
    response = operator_client.post(url, _change_form(connection, idp_metadata_xml="<html>nope</html>"))
    assert response.status_code == 200
    assert "This is not SAML 2.0 metadata" in response.content.decode()


@pytest.mark.parametrize(
    "query", ["", "?active__exact=0", "?provider_type__exact=okta", "?q=misapret_", "?organization__id__exact={org}"]
)
def test_admin_connection_list_filters_and_search(operator_client, connection, org, query):
    response = operator_client.get("/admin/connections/ssoconnection/" + query.format(org=org.pk))
    assert response.status_code == 200
    assert connection.pk in response.content.decode()


def test_admin_application_list_and_token_search(operator_client, application):
    assert application.client_id in operator_client.get("/admin/applications/application/?q=App").content.decode()
    for model in ("accesstoken", "refreshtoken", "grant", "idtoken"):
        assert operator_client.get(f"/admin/applications/{model}/?q=someone@misapret.fr").status_code == 200
