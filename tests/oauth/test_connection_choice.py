"""Which SSO connection an authorize request without idp_id goes to: the only active one, the one a
login_hint already used, or a picker."""

from urllib.parse import urlsplit

from connections.models import SSOConnection, new_idp_id
from organizations.models import Identity


def _connection(tenant, *, active=True, app=None, provider_type="okta"):
    return SSOConnection.objects.create(
        id=new_idp_id(tenant.org.domain),
        organization=tenant.org,
        application=app or tenant.public_app,
        provider_type=provider_type,
        active=active,
    )


def _started_at(response) -> str:
    assert response.status_code == 302, response.content[:300]
    path = urlsplit(response["Location"]).path
    assert path.startswith("/sso/start/")
    return path.rsplit("/", 1)[1]


def test_the_only_active_connection_is_used(client, tenant_a):
    active = _connection(tenant_a)
    response, _ = tenant_a.authorize(client)
    assert _started_at(response) == active.id


def test_several_connections_show_a_picker_with_each_of_them(client, tenant_a):
    first, second = _connection(tenant_a), _connection(tenant_a, provider_type="azure_ad")
    response, _ = tenant_a.authorize(client)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-idp-id="{first.id}"' in html and f'data-idp-id="{second.id}"' in html
    assert "Microsoft Entra ID" in html
    assert f'data-idp-id="{tenant_a.idp_id}"' not in html  # inactive connections are not offered


def test_login_hint_goes_to_the_connection_that_user_signed_in_with(client, tenant_a):
    _connection(tenant_a)
    second = _connection(tenant_a, provider_type="azure_ad")
    Identity.objects.create(user=tenant_a.user, idp_id=second.id, provider="saml.azure_ad", subject="s-1")
    response, _ = tenant_a.authorize(client, login_hint=tenant_a.user.email.upper())
    assert _started_at(response) == second.id


def test_login_hint_of_an_allowed_domain_picks_the_only_connection_of_the_client(client, tenant_a):
    mine = _connection(tenant_a)
    _connection(tenant_a, app=tenant_a.confidential_app)
    tenant_a.org.allowed_email_domains = ["misapret.fr"]
    tenant_a.org.save()
    response, _ = tenant_a.authorize(client, login_hint="new.person@misapret.fr")
    assert _started_at(response) == mine.id


def test_connections_of_another_organization_are_never_offered(client, tenant_a, tenant_b):
    theirs = _connection(tenant_b)
    response, _ = tenant_a.authorize(client)
    assert response.status_code == 400
    assert theirs.id.encode() not in response.content
