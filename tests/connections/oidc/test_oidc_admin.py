"""The operators' admin for OIDC connections: the same services and discovery as the API, and a
client secret that is write-only."""

import pytest
from django.contrib.auth.models import User as Operator

from connections.models import SSOConnection
from connections.services import connection_create
from tests.connections.oidc.conftest import CLIENT_SECRET


@pytest.fixture
def operator_client(client, db):
    client.force_login(Operator.objects.create_superuser("operator", "op@gateway.example", "a long passphrase 42"))
    return client


@pytest.fixture
def oidc_connection(org, app):
    return connection_create(organization=org, application=app, protocol="oidc")


def _form(connection, **overrides):
    data = {
        "active": "",
        "provider_type": connection.provider_type,
        "users_provisioning": connection.users_provisioning,
        "application": connection.application_id,
        "sso_admin_email": "",
        "bypass_it_admin_test": "",
        "oidc_issuer": connection.oidc_issuer,
        "oidc_client_id": connection.oidc_client_id,
        "oidc_scopes": connection.oidc_scopes,
        "oidc_tenant_id": "",
        "oidc_client_secret": "",
        "oidc_hosted_domains": "",
        "oidc_logout_at_idp": "on" if connection.oidc_logout_at_idp else "",
        "attribute_mapping": '{"email": "email", "given_name": "given_name", "family_name": "family_name"}',
    }
    data.update(overrides)
    return data


def test_admin_configures_an_oidc_connection_with_a_write_only_secret(operator_client, oidc_connection, idp):
    url = f"/admin/connections/ssoconnection/{oidc_connection.pk}/change/"
    page = operator_client.get(url).content.decode()
    assert f"/sso/oidc/callback/{oidc_connection.pk}" in page and "/sso/sp/consume/" not in page

    response = operator_client.post(
        url,
        _form(
            oidc_connection,
            oidc_issuer=idp.issuer,
            oidc_client_id="cid",
            oidc_client_secret=CLIENT_SECRET,
            active="on",
            bypass_it_admin_test="on",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    oidc_connection.refresh_from_db()
    assert oidc_connection.active and oidc_connection.oidc_token_endpoint == f"{idp.issuer}/token"
    assert oidc_connection.oidc_client_secret == CLIENT_SECRET
    page = operator_client.get(url).content.decode()
    assert CLIENT_SECRET not in page and "set (write-only)" in page

    # Saving again with the secret left empty keeps it.
    response = operator_client.post(
        url, _form(oidc_connection, oidc_client_id="cid2", active="on", bypass_it_admin_test="on")
    )
    assert response.status_code == 302
    assert SSOConnection.objects.get(pk=oidc_connection.pk).oidc_client_secret == CLIENT_SECRET


def test_admin_shows_the_discovery_error_on_the_issuer(operator_client, oidc_connection, idp):
    idp.discovery_overrides = {"issuer": "https://someone-else.example"}
    url = f"/admin/connections/ssoconnection/{oidc_connection.pk}/change/"
    response = operator_client.post(url, _form(oidc_connection, oidc_issuer=idp.issuer))
    assert response.status_code == 200
    assert "https://someone-else.example" in response.content.decode()
    assert SSOConnection.objects.get(pk=oidc_connection.pk).oidc_issuer == ""


def test_admin_shows_the_end_session_endpoint_and_turns_idp_logout_off(operator_client, oidc_connection, idp):
    idp.discovery_overrides = {"end_session_endpoint": f"{idp.issuer}/session/end"}
    url = f"/admin/connections/ssoconnection/{oidc_connection.pk}/change/"
    response = operator_client.post(url, _form(oidc_connection, oidc_issuer=idp.issuer, oidc_client_id="cid"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert f"{idp.issuer}/session/end" in operator_client.get(url).content.decode()

    oidc_connection.refresh_from_db()
    response = operator_client.post(url, _form(oidc_connection, oidc_logout_at_idp=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    oidc_connection.refresh_from_db()
    assert oidc_connection.oidc_logout_at_idp is False
    assert oidc_connection.oidc_end_session_endpoint == f"{idp.issuer}/session/end"
