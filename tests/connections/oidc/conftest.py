from urllib.parse import parse_qs, urlsplit

import pytest

from applications.services import application_create
from connections.services import connection_create, connection_update
from organizations import services as directory
from tests.connections.oidc.fake_idp import fake_idp, tls_pair

REDIRECT_URI = "https://app.example/callback"
CLIENT_ID = "gateway-client"
CLIENT_SECRET = "client-secret-" + "s" * 30


@pytest.fixture
def tls(tmp_path, settings):
    cert, key = tls_pair(tmp_path)
    settings.OIDC_CA_BUNDLE = str(cert)
    settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
    return cert, key


@pytest.fixture
def idp(tls):
    with fake_idp(tls) as peer:
        yield peer


@pytest.fixture
def org(db):
    return directory.organization_create(name="Misapret", locality="Paris")


@pytest.fixture
def app(org):
    application, _ = application_create(
        organization=org, name="Demo app", application_type="spa", allowed_redirect_uris_after_login=[REDIRECT_URI]
    )
    return application


def make_oidc_connection(org, app, idp, *, provider_type="generic_oidc", client_id=CLIENT_ID, **oidc_config):
    connection = connection_create(organization=org, application=app, provider_type=provider_type)
    return connection_update(
        connection=connection,
        data={
            "oidc_config": {
                "issuer": idp.issuer,
                "client_id": client_id,
                "client_secret": CLIENT_SECRET,
                **oidc_config,
            },
            "bypass_it_admin_test": True,
            "active": True,
        },
    )


@pytest.fixture
def connection(org, app, idp):
    return make_oidc_connection(org, app, idp)


def start(client, connection, next_path="/after-login") -> dict[str, str]:
    """The gateway's authorization request to the IdP, as query parameters."""
    response = client.get(f"/sso/start/{connection.id}", {"next": next_path})
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    params["_endpoint"] = location.split("?", 1)[0]
    return params


def callback(client, connection, **params):
    return client.get(f"/sso/oidc/callback/{connection.id}", params)
