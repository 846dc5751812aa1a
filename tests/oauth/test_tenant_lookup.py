"""The organization of /t/<domain>/ is kept per process (applications.oauth.tenancy), checked against a
Redis version token on every request: a deleted or changed organization is never served from the copy.
Real parts: PostgreSQL, Redis, the gateway through Django's test client."""

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.oauth import tenancy
from organizations import services
from organizations.models import Organization
from tests.oauth.test_query_budget import on_table, statements

pytestmark = pytest.mark.skipif(not isinstance(caches["default"], RedisCache), reason="needs REDIS_URL")


def discovery(client, tenant):
    return client.get(tenant.url("/.well-known/openid-configuration"))


def org_selects(queries):
    return on_table(statements(queries), "organizations_organization", "SELECT")


def test_the_second_request_does_not_read_the_organization(client, tenant_a):
    assert discovery(client, tenant_a).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = discovery(client, tenant_a)
    assert response.status_code == 200
    assert response.json()["issuer"] == tenant_a.issuer
    assert org_selects(queries) == []


def test_a_deleted_organization_is_refused_at_once(client, tenant_a, django_capture_on_commit_callbacks):
    tenant_a.sign_in(client)
    assert discovery(client, tenant_a).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.organization_delete(organization=tenant_a.org)
    assert discovery(client, tenant_a).status_code == 404
    response, _ = tenant_a.authorize(client)
    assert response.status_code == 404


def test_another_process_s_write_drops_this_process_s_copy(client, tenant_a):
    """Another worker changes the organization: no signal reaches this process, only the version token
    it drops in Redis once its transaction commits. (QuerySet.update sends no signal either.)"""
    domain = tenant_a.org.domain
    assert discovery(client, tenant_a).status_code == 200
    Organization.objects.filter(pk=tenant_a.org.pk).update(name="Changed elsewhere")
    assert tenancy.organization_for_domain(domain).name == tenant_a.org.name  # the token still stands
    cache.delete(tenancy._version_key(domain))  # what the other worker's on_commit does
    assert tenancy.organization_for_domain(domain).name == "Changed elsewhere"


def test_a_domain_taken_again_gets_the_new_organization(client, tenant_a, django_capture_on_commit_callbacks):
    domain = tenant_a.org.domain
    assert discovery(client, tenant_a).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.organization_delete(organization=tenant_a.org)
        newcomer = Organization.objects.create(name="Newcomer", domain=domain, locality="Lyon")
    with CaptureQueriesContext(connection) as queries:
        response = discovery(client, tenant_a)
    assert response.status_code == 200
    assert len(org_selects(queries)) == 1
    assert tenancy._kept[domain][1][0] == newcomer.pk


def test_a_renamed_organization_is_read_again(client, tenant_a, django_capture_on_commit_callbacks):
    assert discovery(client, tenant_a).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.organization_update(organization=tenant_a.org, data={"name": "Renamed"})
    with CaptureQueriesContext(connection) as queries:
        assert discovery(client, tenant_a).status_code == 200
    assert len(org_selects(queries)) == 1
    assert tenancy.organization_for_domain(tenant_a.org.domain).name == "Renamed"


def test_each_request_gets_its_own_instance(client, tenant_a):
    assert discovery(client, tenant_a).status_code == 200
    first = tenancy.organization_for_domain(tenant_a.org.domain)
    first.name = "changed in memory by one request"
    first.allowed_email_domains.append("evil.example")
    second = tenancy.organization_for_domain(tenant_a.org.domain)
    assert second.name == tenant_a.org.name
    assert "evil.example" not in second.allowed_email_domains
    assert second.pk == tenant_a.org.pk and not second._state.adding


def test_an_unknown_domain_is_not_kept(client, tenant_a):
    assert client.get("/t/no-such-tenant/.well-known/openid-configuration").status_code == 404
    assert "no-such-tenant" not in tenancy._kept


def test_without_redis_the_row_is_read(client, tenant_a, settings):
    """Redis unreachable: the tenant is still served from PostgreSQL (token requests do not need Redis)."""
    assert discovery(client, tenant_a).status_code == 200
    settings.CACHES = {
        "default": {"BACKEND": "cryptr_sso.cache.SharedClientRedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with CaptureQueriesContext(connection) as queries:
        organization = tenancy.organization_for_domain(tenant_a.org.domain)
    assert organization.pk == tenant_a.org.pk
    assert len(org_selects(queries)) == 1
