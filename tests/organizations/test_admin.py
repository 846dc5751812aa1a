"""The operator's console for the tenant directory and API keys (Django admin, as a superuser)."""

import hashlib
import html
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from organizations import services
from organizations.models import ApiAccessToken, ApiKey, Organization, User
from organizations.scopes import ALL_SCOPES


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # admin_client creates a superuser for every test; the production hasher makes that take ~1 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def tenants(make_org):
    misapret = make_org(name="Misapret", allowed_email_domains=["misapret.fr"])
    boreal = make_org(name="B'Oréal", allowed_email_domains=["boreal.com"])
    services.user_create(organization=misapret, email="jane@misapret.fr")
    services.user_create(organization=misapret, email="john@misapret.fr")
    services.user_create(organization=boreal, email="ann@boreal.com")
    return misapret, boreal


# --- organizations and users ---------------------------------------------------------------------


def test_admin_requires_a_staff_login(client, tenants):
    response = client.get(reverse("admin:organizations_organization_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_operator_lists_organizations_with_their_user_counts(admin_client, tenants):
    response = admin_client.get(reverse("admin:organizations_organization_changelist"))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "misapret" in page and "b-oreal" in page
    assert "2 users" in page and "1 users" in page


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("Misapret", "misapret", "b-oreal"),
        ("b-oreal", "b-oreal", "misapret"),
        ("boreal.com", "b-oreal", "misapret"),
    ],
)
def test_operator_searches_organizations(admin_client, tenants, query, found, missing):
    response = admin_client.get(reverse("admin:organizations_organization_changelist"), {"q": query})
    assert response.status_code == 200
    assert [o.domain for o in response.context["cl"].result_list] == [found]


def test_operator_lists_and_searches_users(admin_client, tenants):
    url = reverse("admin:organizations_user_changelist")
    assert {u.email for u in admin_client.get(url).context["cl"].result_list} == {
        "jane@misapret.fr",
        "john@misapret.fr",
        "ann@boreal.com",
    }
    assert [u.email for u in admin_client.get(url, {"q": "jane"}).context["cl"].result_list] == ["jane@misapret.fr"]
    by_domain = admin_client.get(url, {"q": "b-oreal"}).context["cl"].result_list
    assert [u.email for u in by_domain] == ["ann@boreal.com"]
    misapret, _ = tenants
    filtered = admin_client.get(url, {"organization__id__exact": str(misapret.pk)}).context["cl"].result_list
    assert {u.email for u in filtered} == {"jane@misapret.fr", "john@misapret.fr"}


def test_user_change_page_shows_identities(admin_client, tenants):
    user = User.objects.get(email="jane@misapret.fr")
    user.identities.create(idp_id="misapret_abc", provider="saml.okta", subject="00u1")
    response = admin_client.get(reverse("admin:organizations_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert "misapret_abc" in response.content.decode()


def test_operator_creates_an_organization_with_a_slug_domain(admin_client, tenants):
    response = admin_client.post(
        reverse("admin:organizations_organization_add"),
        {
            "name": "Misapret",
            "locality": "Paris",
            "country_name": "",
            "state": "",
            "allowed_email_domains": "[]",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    created = Organization.objects.get(name="Misapret", domain="misapret-2")
    assert created.locality == "Paris"


def test_operator_renames_an_organization_but_not_its_domain(admin_client, tenants):
    misapret, _ = tenants
    response = admin_client.post(
        reverse("admin:organizations_organization_change", args=[misapret.pk]),
        {
            "name": "Misapret Group",
            "locality": "Lyon",
            "country_name": "",
            "state": "",
            "allowed_email_domains": '["misapret.fr"]',
            "domain": "hijacked",
        },
    )
    assert response.status_code == 302
    misapret.refresh_from_db()
    assert (misapret.name, misapret.locality, misapret.domain) == ("Misapret Group", "Lyon", "misapret")


def test_admin_refuses_a_duplicate_email_in_an_organization_without_a_500(admin_client, tenants):
    misapret, _ = tenants
    response = admin_client.post(
        reverse("admin:organizations_user_add"),
        {
            "organization": str(misapret.pk),
            "email": "JANE@misapret.fr",
            "profile": "{}",
            "meta_data": "{}",
            "active": "on",
            "identities-TOTAL_FORMS": "0",
            "identities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="jane@misapret.fr").count() == 1


# --- API keys ------------------------------------------------------------------------------------


def add_key(admin_client, **fields):
    data = {"name": "billing backend", "scopes": list(ALL_SCOPES), **fields}
    return admin_client.post(reverse("admin:organizations_apikey_add"), data, follow=True)


def test_operator_creates_an_api_key_and_sees_the_secret_once(admin_client, tenants):
    response = add_key(admin_client, all_organizations="on")
    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    shown = [m for m in messages_of(response) if "client_secret" in m]
    assert len(shown) == 1 and api_key.client_id in shown[0]
    secret = re.search(r"client_secret: <code>([^<]+)</code>", shown[0]).group(1)
    assert api_key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.values().get())
    # The secret works, and is not shown again on the key's page.
    token = APIClient().post(
        "/api/v2/oauth/token",
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
    )
    assert token.status_code == 200
    page = admin_client.get(reverse("admin:organizations_apikey_change", args=[api_key.pk])).content.decode()
    assert api_key.client_id in page
    assert secret not in page and api_key.secret_hash not in page


def test_operator_creates_a_key_limited_to_one_organization_with_some_scopes(admin_client, tenants):
    misapret, _ = tenants
    add_key(admin_client, organizations=[str(misapret.pk)], scopes=["read:users"])
    api_key = ApiKey.objects.get()
    assert not api_key.all_organizations
    assert list(api_key.organizations.all()) == [misapret]
    assert api_key.scopes == ["read:users"]


def test_key_without_organizations_or_all_organizations_is_refused(admin_client, tenants):
    response = add_key(admin_client)
    assert response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_key_with_an_unknown_scope_is_refused(admin_client, tenants):
    response = add_key(admin_client, all_organizations="on", scopes=["read:everything"])
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_revoke_action_disables_keys_and_their_tokens_at_once(admin_client, tenants, make_api):
    revoked, kept = make_api(), make_api()
    response = admin_client.post(
        reverse("admin:organizations_apikey_changelist"),
        {
            "action": "revoke",
            "_selected_action": [str(revoked.api_key.pk)],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert any("Revoked 1 API key" in m for m in messages_of(response))
    revoked.api_key.refresh_from_db()
    assert not revoked.api_key.active and revoked.api_key.revoked_at is not None
    assert not ApiAccessToken.objects.filter(api_key=revoked.api_key).exists()
    assert revoked.get("/api/v2/organizations").status_code == 401
    assert kept.get("/api/v2/organizations").status_code == 200


def test_api_key_list_is_searchable_by_name_and_client_id(admin_client, tenants):
    first, _ = services.api_key_create(name="billing backend")
    services.api_key_create(name="crm sync")
    url = reverse("admin:organizations_apikey_changelist")
    assert [k.pk for k in admin_client.get(url, {"q": "billing"}).context["cl"].result_list] == [first.pk]
    assert [k.pk for k in admin_client.get(url, {"q": first.client_id}).context["cl"].result_list] == [first.pk]


@pytest.mark.parametrize(
    "value", ['"misapret.fr"', '{"domain": "misapret.fr"}', "42", '["not a domain"]', "[1]", '["misapret.fr", null]']
)
def test_admin_refuses_email_domains_the_api_would_refuse(admin_client, tenants, value):
    misapret, _ = tenants
    response = admin_client.post(
        reverse("admin:organizations_organization_change", args=[misapret.pk]),
        {
            "name": "Misapret",
            "locality": "Paris",
            "country_name": "",
            "state": "",
            "allowed_email_domains": value,
        },
    )
    assert response.status_code == 200
    assert "allowed_email_domains" in response.context["adminform"].form.errors
    misapret.refresh_from_db()
    assert misapret.allowed_email_domains == ["misapret.fr"]


def test_admin_normalizes_email_domains(admin_client, tenants):
    response = admin_client.post(
        reverse("admin:organizations_organization_add"),
        {
            "name": "Acme",
            "locality": "Paris",
            "country_name": "",
            "state": "",
            "allowed_email_domains": '["Acme.FR", "acme.fr", "acme.com"]',
        },
    )
    assert response.status_code == 302
    assert Organization.objects.get(name="Acme").allowed_email_domains == ["acme.fr", "acme.com"]


def test_a_revoked_key_cannot_be_switched_back_on_in_its_change_form(admin_client, tenants, make_api):
    client = make_api()
    services.api_key_revoke(api_key=client.api_key)
    admin_client.post(
        reverse("admin:organizations_apikey_change", args=[client.api_key.pk]),
        {
            "name": "test key",
            "all_organizations": "on",
            "scopes": list(ALL_SCOPES),
            "active": "on",
        },
    )
    client.api_key.refresh_from_db()
    assert not client.api_key.active
    assert client.get("/api/v2/organizations").status_code == 401


def test_unticking_active_in_the_change_form_is_a_revocation(admin_client, tenants, make_api):
    client = make_api()
    response = admin_client.post(
        reverse("admin:organizations_apikey_change", args=[client.api_key.pk]),
        {
            "name": "test key",
            "all_organizations": "on",
            "scopes": list(ALL_SCOPES),
        },
    )
    assert response.status_code == 302
    client.api_key.refresh_from_db()
    assert not client.api_key.active and client.api_key.revoked_at is not None
    assert not ApiAccessToken.objects.filter(api_key=client.api_key).exists()


def test_admin_pages_do_not_load_every_organization(admin_client, make_org, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pages = [
        reverse("admin:organizations_organization_changelist"),
        reverse("admin:organizations_user_changelist"),
        reverse("admin:organizations_apikey_add"),
    ]
    make_org(name="Org first")
    counts = []
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(page).status_code == 200
        counts.append(len(queries))
    for i in range(30):
        make_org(name=f"Org number {i}")
    for page, count in zip(pages, counts, strict=True):
        with django_assert_num_queries(count):
            response = admin_client.get(page)
        if page != pages[0]:
            assert "Org number 7" not in response.content.decode(), page
