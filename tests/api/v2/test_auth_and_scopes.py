"""Who may call what: Bearer tokens, scopes, and keys limited to some organizations (tenant isolation)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from organizations import services
from organizations.models import ApiAccessToken, Organization, User
from organizations.scopes import ALL_SCOPES

from .helpers import api_routes, assert_error

# Every operation of the directory API, with a body that would succeed for a key that may do it.
# {org} and {user} are filled in per test.
OPERATIONS = [
    ("get", "/api/v2/organizations", None, "read:organizations"),
    ("post", "/api/v2/organizations", {"name": "Newco", "locality": "Nantes"}, "write:organizations"),
    ("get", "/api/v2/organizations/{org}", None, "read:organizations"),
    ("put", "/api/v2/organizations/{org}", {"name": "Renamed"}, "write:organizations"),
    ("patch", "/api/v2/organizations/{org}", {"name": "Renamed"}, "write:organizations"),
    ("delete", "/api/v2/organizations/{org}", None, "write:organizations"),
    ("get", "/api/v2/org/{org}/users", None, "read:users"),
    ("post", "/api/v2/org/{org}/users", {"email": "new@misapret.fr"}, "write:users"),
    ("get", "/api/v2/org/{org}/users/{user}", None, "read:users"),
    ("put", "/api/v2/org/{org}/users/{user}", {"email": "renamed@misapret.fr"}, "write:users"),
    ("patch", "/api/v2/org/{org}/users/{user}", {"email": "renamed@misapret.fr"}, "write:users"),
    ("delete", "/api/v2/org/{org}/users/{user}", None, "write:users"),
]
OPERATION_IDS = [f"{method}-{path}" for method, path, _, _ in OPERATIONS]


@pytest.fixture
def directory(make_org):
    """Two tenants with one user each."""
    misapret, boreal = make_org(name="Misapret"), make_org(name="B'Oréal")
    return {
        "misapret": (misapret, services.user_create(organization=misapret, email="jane@misapret.fr")),
        "b-oreal": (boreal, services.user_create(organization=boreal, email="john@boreal.fr")),
    }


def snapshot() -> tuple:
    """Everything an API call could write in the directory."""
    return (
        sorted(Organization.objects.values_list("id", "name", "domain", "updated_at")),
        sorted(User.objects.values_list("id", "email", "organization_id", "updated_at")),
    )


def call(client, method, path, body, org, user):
    url = path.format(org=org.domain, user=user.id)
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_every_call_without_a_token_is_401(directory, method, path, body, scope):
    org, user = directory["misapret"]
    before = snapshot()
    response = call(APIClient(), method, path, body, org, user)
    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot() == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Bearer ",
        "Bearer",
        "Token abc",
        "Basic dXNlcjpwYXNz",
        "bearer a b",
        "Bearer \u00e9t\u00e9",
    ],
)
@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_every_call_with_a_bad_authorization_header_is_401(directory, method, path, body, scope, header):
    org, user = directory["misapret"]
    before = snapshot()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(call(client, method, path, body, org, user), 401)
    assert snapshot() == before


def test_expired_token_is_401_on_every_call(make_api, directory):
    org, user = directory["misapret"]
    client = make_api()
    ApiAccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot()
    for method, path, body, _ in OPERATIONS:
        assert_error(call(client, method, path, body, org, user), 401, "invalid_token")
    assert snapshot() == before


def test_token_of_a_revoked_key_is_401(make_api, directory):
    org, user = directory["misapret"]
    client = make_api()
    services.api_key_revoke(api_key=client.api_key)
    before = snapshot()
    for method, path, body, _ in OPERATIONS:
        assert_error(call(client, method, path, body, org, user), 401, "invalid_token")
    assert snapshot() == before


def test_token_of_a_deactivated_key_is_401(make_api, directory):
    client = make_api()
    client.api_key.active = False
    client.api_key.save()
    assert_error(client.get("/api/v2/organizations"), 401, "invalid_token")


def test_a_token_of_one_key_is_not_confused_with_another(make_api, directory):
    org, _ = directory["misapret"]
    reader = make_api(scopes=["read:organizations"])
    make_api()  # another key with every scope
    assert_error(reader.delete(f"/api/v2/organizations/{org.domain}"), 403, "insufficient_scope")
    assert Organization.objects.filter(pk=org.pk).exists()


# --- scopes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=OPERATION_IDS)
def test_each_call_needs_its_scope(make_api, directory, method, path, body, scope):
    org, user = directory["misapret"]
    others = [s for s in ALL_SCOPES if s != scope]
    before = snapshot()
    body_ = assert_error(call(make_api(scopes=others), method, path, body, org, user), 403, "insufficient_scope")
    assert scope in body_["error_description"]
    assert snapshot() == before
    response = call(make_api(scopes=[scope]), method, path, body, org, user)
    assert response.status_code in (200, 201), response.json()


def test_write_scope_does_not_grant_read(make_api, directory):
    org, _ = directory["misapret"]
    writer = make_api(scopes=["write:organizations", "write:users"])
    assert_error(writer.get("/api/v2/organizations"), 403, "insufficient_scope")
    assert_error(writer.get(f"/api/v2/org/{org.domain}/users"), 403, "insufficient_scope")


def test_scope_removed_from_the_key_is_lost_by_its_live_tokens(make_api, directory):
    org, _ = directory["misapret"]
    client = make_api()
    assert client.get("/api/v2/organizations").status_code == 200
    client.api_key.scopes = ["read:users"]
    client.api_key.save()
    assert_error(client.get("/api/v2/organizations"), 403, "insufficient_scope")
    assert client.get(f"/api/v2/org/{org.domain}/users").status_code == 200


def test_scope_added_to_the_key_later_is_not_in_tokens_issued_before(make_api, directory):
    client = make_api(scopes=["read:users"])
    client.api_key.scopes = list(ALL_SCOPES)
    client.api_key.save()
    assert_error(client.get("/api/v2/organizations"), 403, "insufficient_scope")


# --- tenant isolation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS[2:], ids=OPERATION_IDS[2:])
def test_key_limited_to_one_organization_gets_404_for_every_other_one(make_api, directory, method, path, body, scope):
    misapret, _ = directory["misapret"]
    boreal, john = directory["b-oreal"]
    client = make_api(organizations=[misapret])
    before = snapshot()
    assert_error(call(client, method, path, body, boreal, john), 404, "not_found")
    # The same answer by id as by domain.
    by_id = path.replace("{org}", str(boreal.id))
    assert_error(call(client, method, by_id, body, boreal, john), 404, "not_found")
    assert snapshot() == before


def test_other_tenant_looks_exactly_like_a_missing_one(make_api, directory):
    misapret, _ = directory["misapret"]
    client = make_api(organizations=[misapret])
    foreign = client.get("/api/v2/organizations/b-oreal")
    missing = client.get("/api/v2/organizations/no-such-org")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == {
        **missing.json(),
        "error_description": missing.json()["error_description"].replace("no-such-org", "b-oreal"),
    }


def test_key_limited_to_one_organization_lists_only_it(make_api, directory):
    misapret, _ = directory["misapret"]
    body = make_api(organizations=[misapret]).get("/api/v2/organizations").json()
    assert [item["domain"] for item in body["data"]] == ["misapret"]
    assert body["total"] == 1


def test_key_limited_to_one_organization_works_inside_it(make_api, directory):
    misapret, jane = directory["misapret"]
    client = make_api(organizations=[misapret])
    assert client.get("/api/v2/organizations/misapret").status_code == 200
    assert client.get(f"/api/v2/org/misapret/users/{jane.id}").status_code == 200
    assert client.post("/api/v2/org/misapret/users", {"email": "x@misapret.fr"}, format="json").status_code == 201
    assert client.put("/api/v2/organizations/misapret", {"locality": "Lyon"}, format="json").status_code == 200


def test_key_limited_to_some_organizations_cannot_create_one(make_api, directory):
    misapret, _ = directory["misapret"]
    client = make_api(organizations=[misapret])
    before = snapshot()
    assert_error(
        client.post("/api/v2/organizations", {"name": "Newco", "locality": "Nantes"}, format="json"),
        403,
        "insufficient_scope",
    )
    assert snapshot() == before


def test_two_limited_keys_each_see_only_their_own_organization(make_api, directory):
    misapret, jane = directory["misapret"]
    boreal, john = directory["b-oreal"]
    for own, own_user, other, other_user in ((misapret, jane, boreal, john), (boreal, john, misapret, jane)):
        client = make_api(organizations=[own])
        assert [o["domain"] for o in client.get("/api/v2/organizations").json()["data"]] == [own.domain]
        assert [u["id"] for u in client.get(f"/api/v2/org/{own.domain}/users").json()["data"]] == [str(own_user.id)]
        assert_error(client.get(f"/api/v2/org/{other.domain}/users"), 404, "not_found")
        # Another tenant's user is missing even through the key's own organization.
        assert_error(client.get(f"/api/v2/org/{own.domain}/users/{other_user.id}"), 404, "not_found")


def test_key_whose_only_organization_was_deleted_sees_nothing(make_api, directory):
    misapret, _ = directory["misapret"]
    client = make_api(organizations=[misapret])
    services.organization_delete(organization=misapret)
    body = client.get("/api/v2/organizations").json()
    assert body["data"] == [] and body["total"] == 0
    assert_error(client.get("/api/v2/organizations/b-oreal"), 404, "not_found")
    assert_error(client.post("/api/v2/organizations", {"name": "N", "locality": "L"}, format="json"), 403)


def test_key_for_every_organization_sees_new_ones(make_api, make_org, directory):
    client = make_api()
    make_org(name="Later")
    assert client.get("/api/v2/organizations").json()["total"] == 3


def _every_routed_operation():
    for path, methods in sorted(api_routes().items()):
        if path != "/api/v2/oauth/token":
            for method in sorted(methods):
                yield pytest.param(method, re.sub(r"\{[^}]+\}", "x", path), id=f"{method}-{path}")


@pytest.mark.parametrize(("method", "path"), list(_every_routed_operation()))
def test_every_routed_v2_operation_refuses_a_call_without_a_token(db, method, path):
    # Walks the URLconf, so an endpoint added later without authentication fails here.
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), list(_every_routed_operation()))
def test_every_routed_v2_operation_needs_a_scope(make_api, method, path):
    # A view that forgot required_scope_resource would let any token through.
    client = make_api()
    ApiAccessToken.objects.filter(api_key=client.api_key).update(scopes=[])
    assert_error(getattr(client, method)(path, {}, format="json"), 403, "insufficient_scope")


def test_an_api_key_needs_at_least_one_scope(db):
    from cryptr_sso.api.errors import ApiError

    with pytest.raises(ApiError):
        services.api_key_create(name="nothing", scopes=[])
    assert services.api_key_create(name="everything")[0].scopes == list(ALL_SCOPES)
