"""/api/v2/org/{domain}/users: the directory of one organization."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from organizations import services
from organizations.models import Identity, User

from .helpers import assert_error, send

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
USER_KEYS = {
    "__type__",
    "__domain__",
    "id",
    "email",
    "email_verified",
    "active",
    "profile",
    "identities",
    "meta_data",
    "inserted_at",
    "updated_at",
}


def users_url(org, user=None) -> str:
    base = f"/api/v2/org/{org.domain}/users"
    return base if user is None else f"{base}/{user.id}"


def assert_user(body: dict, domain: str, **expected):
    assert set(body) == USER_KEYS, body
    assert body["__type__"] == "User"
    assert body["__domain__"] == domain
    uuid.UUID(body["id"])
    assert ISO_UTC.match(body["inserted_at"]) and ISO_UTC.match(body["updated_at"])
    for key, value in expected.items():
        assert body[key] == value, (key, body[key])


def add_identity(user, n=0):
    return Identity.objects.create(
        user=user,
        idp_id=f"misapret_conn{n}",
        provider="saml.okta",
        subject=f"{user.email}-{n}",
        authenticated_at=timezone.now(),
        data={"n": n},
    )


# --- create --------------------------------------------------------------------------------------


def test_create_user_from_json(api, org):
    response = api.post(
        users_url(org),
        {
            "email": "jane@misapret.fr",
            "email_verified": True,
            "profile": {"given_name": "Jane", "family_name": "Doe", "locale": "fr"},
            "meta_data": {"plan": "pro", "n": 3},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert_user(
        response.json(),
        "misapret",
        email="jane@misapret.fr",
        email_verified=True,
        active=True,
        profile={"given_name": "Jane", "family_name": "Doe", "locale": "fr"},
        meta_data={"plan": "pro", "n": 3},
        identities=[],
    )
    user = User.objects.get()
    assert (user.organization_id, user.email, user.email_verified) == (org.id, "jane@misapret.fr", True)


def test_create_user_from_a_form(api, org):
    response = send(
        api,
        "post",
        users_url(org),
        {"email": "jane@misapret.fr", "email_verified": "true", "active": "false"},
        as_="form",
    )
    assert response.status_code == 201, response.json()
    assert_user(response.json(), "misapret", email_verified=True, active=False, profile={}, meta_data={})


def test_create_user_through_the_organization_id(api, org):
    response = api.post(f"/api/v2/org/{org.id}/users", {"email": "jane@misapret.fr"}, format="json")
    assert response.status_code == 201
    assert response.json()["__domain__"] == "misapret"


def test_null_profile_values_are_not_stored(api, org):
    response = api.post(
        users_url(org),
        {"email": "jane@misapret.fr", "profile": {"given_name": "Jane", "nickname": None}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["profile"] == {"given_name": "Jane"}
    assert User.objects.get().profile == {"given_name": "Jane"}


@pytest.mark.parametrize("email", ["jane@misapret.fr", "JANE@Misapret.FR", "Jane@misapret.fr"])
def test_email_is_unique_per_organization_whatever_its_case(api, org, email):
    services.user_create(organization=org, email="jane@misapret.fr")
    body = assert_error(api.post(users_url(org), {"email": email}, format="json"), 409, "email_taken")
    assert "email" in body["fields"]
    assert User.objects.count() == 1


def test_same_email_is_allowed_in_another_organization(api, make_org):
    misapret, other = make_org(name="Misapret"), make_org(name="Other")
    services.user_create(organization=misapret, email="jane@misapret.fr")
    response = api.post(users_url(other), {"email": "Jane@misapret.fr"}, format="json")
    assert response.status_code == 201, response.json()
    assert User.objects.filter(email__iexact="jane@misapret.fr").count() == 2


OVERLONG_EMAIL = "a" * 64 + "@" + "b" * 186 + ".com"  # 255 characters


@pytest.mark.parametrize(
    ("body", "as_", "field"),
    [
        pytest.param({}, "json", "email", id="missing-email"),
        pytest.param({"email": ""}, "json", "email", id="blank-email"),
        pytest.param({"email": None}, "json", "email", id="null-email"),
        pytest.param({"email": "not-an-email"}, "json", "email", id="invalid-email"),
        pytest.param({"email": "jane@"}, "json", "email", id="email-without-domain"),
        pytest.param({"email": OVERLONG_EMAIL}, "json", "email", id="overlong-email"),
        pytest.param({"email": 12}, "json", "email", id="number-email"),
        pytest.param({"email": ["jane@misapret.fr"]}, "json", "email", id="list-email"),
        pytest.param(
            {"email": "jane@misapret.fr", "email_verified": "maybe"}, "json", "email_verified", id="bad-boolean"
        ),
        pytest.param({"email": "jane@misapret.fr", "active": [True]}, "json", "active", id="list-boolean"),
        pytest.param({"email": "jane@misapret.fr", "profile": "Jane"}, "json", "profile", id="profile-not-object"),
        pytest.param({"email": "jane@misapret.fr", "profile": ["Jane"]}, "json", "profile", id="profile-list"),
        pytest.param(
            {"email": "jane@misapret.fr", "profile": {"shoe_size": "42"}}, "json", "profile", id="profile-unknown-key"
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "profile": {"given_name": "J" * 256}},
            "json",
            "profile",
            id="profile-overlong",
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "profile": {"given_name": 7}}, "json", "profile", id="profile-number"
        ),
        pytest.param({"email": "jane@misapret.fr", "meta_data": "x"}, "json", "meta_data", id="meta-data-not-object"),
        pytest.param(
            {"email": "jane@misapret.fr", "meta_data": {f"k{i}": i for i in range(51)}},
            "json",
            "meta_data",
            id="meta-data-too-many-keys",
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "meta_data": {"k": "x" * 17_000}}, "json", "meta_data", id="meta-data-too-big"
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "meta_data": {"k": "a\u0000b"}}, "json", "meta_data", id="meta-data-nul-value"
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "meta_data": {"a\u0000b": 1}}, "json", "meta_data", id="meta-data-nul-key"
        ),
        pytest.param(
            {"email": "jane@misapret.fr", "meta_data": {"k": ["\ud800"]}},
            "json",
            "meta_data",
            id="meta-data-lone-surrogate",
        ),
        pytest.param({"email": "jane@misapret.fr", "id": str(uuid.uuid4())}, "json", "id", id="unknown-id"),
        pytest.param({"email": "jane@misapret.fr", "identities": []}, "json", "identities", id="read-only-identities"),
        pytest.param({"email": "jane@misapret.fr", "role": "admin"}, "form", "role", id="form-unknown"),
        pytest.param({"email": "nope"}, "form", "email", id="form-invalid-email"),
        pytest.param(
            {"email": "jane@misapret.fr", "email_verified": "perhaps"}, "form", "email_verified", id="form-bad-boolean"
        ),
    ],
)
def test_create_user_refuses_bad_input(api, org, body, as_, field):
    error = assert_error(send(api, "post", users_url(org), body, as_=as_), 400, "invalid_request")
    assert field in error["fields"], error
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        (b'{"email": "jane@misapret.fr"', "application/json", 400, "malformed_body"),
        (b'["jane@misapret.fr"]', "application/json", 400, "malformed_body"),
        (b"email=jane@misapret.fr", "text/csv", 415, "unsupported_media_type"),
    ],
)
def test_create_user_refuses_unreadable_bodies(api, org, raw, content_type, status, error):
    assert_error(api.post(users_url(org), raw, content_type=content_type), status, error)
    assert not User.objects.exists()


def test_create_user_in_unknown_organization_is_404(api, org):
    assert_error(api.post("/api/v2/org/nope/users", {"email": "jane@misapret.fr"}, format="json"), 404, "not_found")
    assert not User.objects.exists()


# --- list ----------------------------------------------------------------------------------------


def test_list_users_is_a_list_envelope_of_one_organization_newest_first(api, make_org):
    org, other = make_org(name="Misapret"), make_org(name="Other")
    first = services.user_create(organization=org, email="a@misapret.fr")
    second = services.user_create(organization=org, email="b@misapret.fr")
    services.user_create(organization=other, email="c@other.fr")
    add_identity(second)
    body = api.get(users_url(org)).json()
    assert body["__type__"] == "List" and body["__domain__"] == "misapret"
    assert body["total"] == 2
    assert [item["id"] for item in body["data"]] == [str(second.id), str(first.id)]
    for item in body["data"]:
        assert_user(item, "misapret")
    assert body["data"][0]["identities"] == [
        {
            "idp_id": "misapret_conn0",
            "provider": "saml.okta",
            "subject": "b@misapret.fr-0",
            "authenticated_at": body["data"][0]["identities"][0]["authenticated_at"],
            "data": {"n": 0},
        }
    ]
    assert body["pagination"]["total_pages"] == 1


def test_walking_user_pages_yields_each_user_once(api, org):
    users = [services.user_create(organization=org, email=f"u{i}@misapret.fr") for i in range(5)]
    seen = []
    for page in (1, 2, 3):
        body = api.get(f"{users_url(org)}?page={page}&per_page=2").json()
        seen += [item["id"] for item in body["data"]]
    assert seen == [str(user.id) for user in reversed(users)]
    past = api.get(f"{users_url(org)}?page=4&per_page=2").json()
    assert past["data"] == [] and past["pagination"]["prev_page"] == 3


def test_listing_users_costs_the_same_queries_for_1_or_50_per_page(make_api, org, django_assert_num_queries):
    for i in range(60):
        user = services.user_create(organization=org, email=f"u{i}@misapret.fr")
        add_identity(user, 0)
        add_identity(user, 1)
    for client in (make_api(), make_api(organizations=[org])):
        with CaptureQueriesContext(connection) as one:
            body = client.get(f"{users_url(org)}?per_page=1").json()
            assert len(body["data"]) == 1 and len(body["data"][0]["identities"]) == 2
        with django_assert_num_queries(len(one)):
            body = client.get(f"{users_url(org)}?per_page=50").json()
            assert len(body["data"]) == 50 and all(len(u["identities"]) == 2 for u in body["data"])
        with django_assert_num_queries(len(one)):
            assert len(client.get(f"{users_url(org)}?per_page=50&page=2").json()["data"]) == 10


@pytest.mark.parametrize("query", ["page=0", "per_page=x", "page=-3"])
def test_bad_user_pagination_is_refused(api, org, query):
    assert_error(api.get(f"{users_url(org)}?{query}"), 400, "invalid_request")


def test_list_users_of_unknown_organization_is_404(api, org):
    assert_error(api.get("/api/v2/org/nope/users"), 404, "not_found")


# --- read ----------------------------------------------------------------------------------------


def test_get_user(api, org):
    user = services.user_create(organization=org, email="jane@misapret.fr", profile={"given_name": "Jane"})
    add_identity(user)
    response = api.get(users_url(org, user))
    assert response.status_code == 200
    assert_user(response.json(), "misapret", id=str(user.id), email="jane@misapret.fr", profile={"given_name": "Jane"})
    assert [i["idp_id"] for i in response.json()["identities"]] == ["misapret_conn0"]


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid", "1", "' OR 1=1 --"])
def test_get_unknown_user_is_404(api, org, user_id):
    services.user_create(organization=org, email="jane@misapret.fr")
    assert_error(api.get(f"{users_url(org)}/{user_id}"), 404, "not_found")


def test_user_of_another_organization_is_404_through_this_one(api, make_org):
    org, other = make_org(name="Misapret"), make_org(name="Other")
    stranger = services.user_create(organization=other, email="x@other.fr")
    url = f"{users_url(org)}/{stranger.id}"
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.put(url, {"email": "y@other.fr"}, format="json"), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    stranger.refresh_from_db()
    assert stranger.email == "x@other.fr"


# --- update --------------------------------------------------------------------------------------


@pytest.fixture
def jane(org):
    return services.user_create(
        organization=org,
        email="jane@misapret.fr",
        profile={"given_name": "Jane", "family_name": "Doe"},
        meta_data={"plan": "pro", "seats": 3},
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_user_merges_profile_and_meta_data_and_null_removes_a_key(api, org, jane, method):
    response = send(
        api,
        method,
        users_url(org, jane),
        {
            "email_verified": True,
            "profile": {"given_name": "Janet", "family_name": None},
            "meta_data": {"seats": None, "team": "blue"},
        },
    )
    assert response.status_code == 200, response.json()
    assert_user(
        response.json(),
        "misapret",
        email="jane@misapret.fr",
        email_verified=True,
        profile={"given_name": "Janet"},
        meta_data={"plan": "pro", "team": "blue"},
    )
    jane.refresh_from_db()
    assert jane.profile == {"given_name": "Janet"} and jane.meta_data == {"plan": "pro", "team": "blue"}


def test_update_user_from_a_form(api, org, jane):
    response = send(api, "put", users_url(org, jane), {"active": "false", "email": "j@misapret.fr"}, as_="form")
    assert response.status_code == 200, response.json()
    jane.refresh_from_db()
    assert (jane.active, jane.email) == (False, "j@misapret.fr")


def test_user_may_change_the_case_of_its_own_email(api, org, jane):
    response = api.put(users_url(org, jane), {"email": "Jane@Misapret.fr"}, format="json")
    assert response.status_code == 200, response.json()
    jane.refresh_from_db()
    assert jane.email == "Jane@Misapret.fr"


def test_update_to_an_email_taken_in_the_organization_is_409(api, org, jane):
    john = services.user_create(organization=org, email="john@misapret.fr")
    body = assert_error(api.put(users_url(org, john), {"email": "JANE@misapret.fr"}, format="json"), 409, "email_taken")
    assert "email" in body["fields"]
    john.refresh_from_db()
    assert john.email == "john@misapret.fr"


def test_meta_data_limits_apply_to_the_merged_result(api, org, jane):
    before = User.objects.values("meta_data").get(pk=jane.pk)
    for batch in range(2):
        patch = {f"k{batch}_{i}": i for i in range(30)}
        response = api.put(users_url(org, jane), {"meta_data": patch}, format="json")
        if batch == 0:
            assert response.status_code == 200
            before = User.objects.values("meta_data").get(pk=jane.pk)
    error = assert_error(response, 400, "invalid_request")
    assert "meta_data" in error["fields"]
    assert User.objects.values("meta_data").get(pk=jane.pk) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "nope"}, "email"),
        ({"email": None}, "email"),
        ({"active": "sometimes"}, "active"),
        ({"profile": {"age": "3"}}, "profile"),
        ({"meta_data": []}, "meta_data"),
        ({"organization": "other"}, "organization"),
        ({"identities": [{"idp_id": "x"}]}, "identities"),
    ],
)
def test_update_user_refuses_bad_input_and_changes_nothing(api, org, jane, body, field):
    before = User.objects.values().get(pk=jane.pk)
    error = assert_error(api.put(users_url(org, jane), body, format="json"), 400, "invalid_request")
    assert field in error["fields"]
    assert User.objects.values().get(pk=jane.pk) == before


def test_update_user_refuses_malformed_json(api, org, jane):
    before = User.objects.values().get(pk=jane.pk)
    assert_error(api.put(users_url(org, jane), b"{", content_type="application/json"), 400, "malformed_body")
    assert User.objects.values().get(pk=jane.pk) == before


# --- delete --------------------------------------------------------------------------------------


def test_delete_user_answers_the_deleted_resource(api, org, jane):
    add_identity(jane)
    response = api.delete(users_url(org, jane))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"deleted", "resource"} and body["deleted"] is True
    assert_user(body["resource"], "misapret", id=str(jane.id), email="jane@misapret.fr")
    assert len(body["resource"]["identities"]) == 1
    assert not User.objects.exists() and not Identity.objects.exists()
    assert_error(api.delete(users_url(org, jane)), 404, "not_found")


def test_deleted_user_email_can_be_used_again(api, org, jane):
    api.delete(users_url(org, jane))
    assert api.post(users_url(org), {"email": "jane@misapret.fr"}, format="json").status_code == 201


def test_created_user_has_a_location_header(api, org):
    response = api.post(users_url(org), {"email": "jane@misapret.fr"}, format="json")
    assert response["Location"] == f"/api/v2/org/misapret/users/{response.json()['id']}"
    assert api.get(response["Location"]).json()["email"] == "jane@misapret.fr"


@pytest.mark.parametrize("query", ["jane@misapret.fr", "JANE@Misapret.FR"])
def test_list_users_filtered_by_email_whatever_its_case(api, make_org, query):
    org, other = make_org(name="Misapret"), make_org(name="Other")
    jane = services.user_create(organization=org, email="Jane@misapret.fr")
    services.user_create(organization=org, email="john@misapret.fr")
    services.user_create(organization=other, email="jane@misapret.fr")
    body = api.get(users_url(org), {"email": query}).json()
    assert [item["id"] for item in body["data"]] == [str(jane.id)]
    assert body["total"] == 1
    assert api.get(users_url(org), {"email": "nobody@misapret.fr"}).json()["total"] == 0


@pytest.mark.parametrize("email", ["not-an-email", "a\u0000@b.fr", "a" * 250 + "@b.fr"])
def test_list_users_refuses_a_bad_email_filter(api, org, email):
    assert "email" in assert_error(api.get(users_url(org), {"email": email}), 400, "invalid_request")["fields"]


def test_error_description_names_the_nested_field_at_fault(api, org):
    response = api.post(
        users_url(org), {"email": "jane@misapret.fr", "profile": {"given_name": "J" * 256}}, format="json"
    )
    body = assert_error(response, 400, "invalid_request")
    assert body["fields"] == {"profile": {"given_name": ["Ensure this field has no more than 255 characters."]}}
    assert body["error_description"] == "Check 'profile.given_name': Ensure this field has no more than 255 characters."
