"""/api/v2/organizations: create, list, read, update, delete; bodies as JSON or forms; every bad input refused."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from organizations import services
from organizations.models import Organization, User

from .helpers import assert_error, send

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ORGANIZATION_KEYS = {
    "__type__",
    "__domain__",
    "id",
    "name",
    "domain",
    "locality",
    "country_name",
    "state",
    "allowed_email_domains",
    "inserted_at",
    "updated_at",
}


def assert_organization(body: dict, **expected):
    assert set(body) == ORGANIZATION_KEYS, body
    assert body["__type__"] == "Organization"
    assert body["__domain__"] == body["domain"]
    uuid.UUID(body["id"])
    assert ISO_UTC.match(body["inserted_at"]) and ISO_UTC.match(body["updated_at"]), body
    for key, value in expected.items():
        assert body[key] == value, (key, body[key])


# --- create --------------------------------------------------------------------------------------


def test_create_organization_from_json(api):
    response = api.post(
        "/api/v2/organizations",
        {
            "name": "Misapret",
            "locality": "Paris",
            "country_name": "France",
            "state": "IDF",
            "allowed_email_domains": ["misapret.fr", "Misapret.COM"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert_organization(
        response.json(),
        name="Misapret",
        domain="misapret",
        locality="Paris",
        country_name="France",
        state="IDF",
        allowed_email_domains=["misapret.fr", "misapret.com"],
    )
    stored = Organization.objects.get()
    assert str(stored.id) == response.json()["id"]
    assert stored.allowed_email_domains == ["misapret.fr", "misapret.com"]


def test_create_organization_from_a_form_with_bracketed_list(api):
    response = send(
        api,
        "post",
        "/api/v2/organizations",
        {
            "name": "B'Oréal",
            "locality": "Clichy",
            "allowed_email_domains[]": ["boreal.fr", "boreal.com"],
        },
        as_="form",
    )
    assert response.status_code == 201, response.json()
    assert_organization(
        response.json(),
        domain="b-oreal",
        name="B'Oréal",
        allowed_email_domains=["boreal.fr", "boreal.com"],
        country_name="",
        state="",
    )


def test_create_organization_from_a_form_with_one_list_item(api):
    response = send(
        api,
        "post",
        "/api/v2/organizations",
        {
            "name": "Acme",
            "locality": "Lyon",
            "allowed_email_domains[]": "acme.fr",
        },
        as_="form",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_email_domains"] == ["acme.fr"]


def test_create_organization_drops_repeated_email_domains(api):
    response = api.post(
        "/api/v2/organizations",
        {
            "name": "Acme",
            "locality": "Lyon",
            "allowed_email_domains": ["acme.fr", "ACME.fr", "acme.com"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_email_domains"] == ["acme.fr", "acme.com"]


def test_names_that_collide_get_numbered_domains(api):
    domains = [
        api.post("/api/v2/organizations", {"name": name, "locality": "Paris"}, format="json").json()["domain"]
        for name in ("Misapret", "misapret", "MISAPRET!")
    ]
    assert domains == ["misapret", "misapret-2", "misapret-3"]


OVERLONG = "x" * 256


@pytest.mark.parametrize(
    ("body", "as_", "field"),
    [
        pytest.param({"locality": "Paris"}, "json", "name", id="missing-name"),
        pytest.param({"name": "Acme"}, "json", "locality", id="missing-locality"),
        pytest.param({}, "json", "name", id="empty-object"),
        pytest.param({"name": "", "locality": "Paris"}, "json", "name", id="blank-name"),
        pytest.param({"name": "   ", "locality": "Paris"}, "json", "name", id="whitespace-name"),
        pytest.param({"name": None, "locality": "Paris"}, "json", "name", id="null-name"),
        pytest.param({"name": 42, "locality": "Paris"}, "json", "name", id="number-name"),
        pytest.param({"name": True, "locality": "Paris"}, "json", "name", id="boolean-name"),
        pytest.param({"name": ["Acme"], "locality": "Paris"}, "json", "name", id="list-name"),
        pytest.param({"name": {"en": "Acme"}, "locality": "Paris"}, "json", "name", id="object-name"),
        pytest.param({"name": "Acme", "locality": 75}, "json", "locality", id="number-locality"),
        pytest.param({"name": OVERLONG, "locality": "Paris"}, "json", "name", id="overlong-name"),
        pytest.param({"name": "Acme", "locality": OVERLONG}, "json", "locality", id="overlong-locality"),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "country_name": OVERLONG},
            "json",
            "country_name",
            id="overlong-country",
        ),
        pytest.param({"name": "Acme", "locality": "Paris", "state": OVERLONG}, "json", "state", id="overlong-state"),
        pytest.param({"name": "Acme", "locality": "Paris", "state": 3}, "json", "state", id="number-state"),
        pytest.param({"name": "A\u0000cme", "locality": "Paris"}, "json", "name", id="nul-character"),
        pytest.param({"name": "A\ud800cme", "locality": "Paris"}, "json", "name", id="lone-surrogate"),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": "acme.fr"},
            "json",
            "allowed_email_domains",
            id="domains-not-a-list",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": None},
            "json",
            "allowed_email_domains",
            id="domains-null",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": ["not a domain"]},
            "json",
            "allowed_email_domains",
            id="domain-with-space",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": ["jane@acme.fr"]},
            "json",
            "allowed_email_domains",
            id="domain-is-an-email",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": [42]},
            "json",
            "allowed_email_domains",
            id="domain-is-a-number",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": [{"d": "acme.fr"}]},
            "json",
            "allowed_email_domains",
            id="domain-is-an-object",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": ["a" * 250 + ".com"]},
            "json",
            "allowed_email_domains",
            id="overlong-domain",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": [f"d{i}.example.com" for i in range(101)]},
            "json",
            "allowed_email_domains",
            id="too-many-domains",
        ),
        pytest.param({"name": "Acme", "locality": "Paris", "domain": "acme"}, "json", "domain", id="unknown-domain"),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "__type__": "Organization"}, "json", "__type__", id="unknown-type"
        ),
        pytest.param({"name": "Acme", "locality": "Paris", "colour": "red"}, "form", "colour", id="form-unknown"),
        pytest.param({"locality": "Paris"}, "form", "name", id="form-missing-name"),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains": "acme.fr"},
            "form",
            "allowed_email_domains",
            id="form-list-without-brackets",
        ),
        pytest.param(
            {"name": "Acme", "locality": "Paris", "allowed_email_domains[]": "bad domain"},
            "form",
            "allowed_email_domains",
            id="form-bad-domain",
        ),
    ],
)
def test_create_organization_refuses_bad_input(api, body, as_, field):
    response = send(api, "post", "/api/v2/organizations", body, as_=as_)
    error = assert_error(response, 400, "invalid_request")
    assert field in error["fields"], error
    assert field in error["error_description"]
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        pytest.param(
            b'{"name": "Acme", "locality": "Paris"', "application/json", 400, "malformed_body", id="truncated"
        ),
        pytest.param(b"{'name': 'Acme'}", "application/json", 400, "malformed_body", id="single-quotes"),
        pytest.param(b'{"name": NaN, "locality": "Paris"}', "application/json", 400, "malformed_body", id="nan"),
        pytest.param(b'\xff\xfe{"name"', "application/json", 400, "malformed_body", id="not-utf8"),
        pytest.param(b'[{"name": "Acme", "locality": "Paris"}]', "application/json", 400, "malformed_body", id="array"),
        pytest.param(b'"Acme"', "application/json", 400, "malformed_body", id="string"),
        pytest.param(b"null", "application/json", 400, "malformed_body", id="null"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_body", id="deep-nesting"),
        pytest.param(b"name=Acme&locality=Paris", "text/plain", 415, "unsupported_media_type", id="text-plain"),
        pytest.param(b"<org><name>Acme</name></org>", "application/xml", 415, "unsupported_media_type", id="xml"),
    ],
)
def test_create_organization_refuses_unreadable_bodies(api, raw, content_type, status, error):
    response = api.post("/api/v2/organizations", raw, content_type=content_type)
    assert_error(response, status, error)
    assert not Organization.objects.exists()


def test_create_organization_refuses_an_oversized_body(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = b'{"name": "Acme", "locality": "Paris", "state": "' + b"x" * 20_000 + b'"}'
    response = api.post("/api/v2/organizations", raw, content_type="application/json")
    assert_error(response, 413, "request_too_large")
    assert not Organization.objects.exists()


# --- list ----------------------------------------------------------------------------------------


def test_list_organizations_is_a_list_envelope_newest_first(api, make_org):
    first, second = make_org(name="First"), make_org(name="Second")
    response = api.get("/api/v2/organizations")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"__type__", "__domain__", "data", "pagination", "total"}
    assert body["__type__"] == "List"
    assert body["total"] == 2
    assert [item["domain"] for item in body["data"]] == [second.domain, first.domain]
    for item in body["data"]:
        assert_organization(item)
    assert body["pagination"] == {
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "per_page": 10,
        "total_pages": 1,
    }


def test_empty_list_has_one_empty_page(api):
    body = api.get("/api/v2/organizations").json()
    assert body["data"] == [] and body["total"] == 0
    assert body["pagination"] == {
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "per_page": 10,
        "total_pages": 1,
    }


@pytest.fixture
def seven_orgs(make_org):
    return [make_org(name=f"Org {i}") for i in range(7)]


@pytest.mark.parametrize("per_page", [1, 2, 3, 7, 10])
def test_walking_every_page_yields_each_organization_once_newest_first(api, seven_orgs, per_page):
    expected = [org.domain for org in reversed(seven_orgs)]
    seen, page = [], 1
    while page is not None:
        body = api.get(f"/api/v2/organizations?page={page}&per_page={per_page}").json()
        assert body["pagination"]["current_page"] == page
        assert body["pagination"]["total_pages"] == -(-7 // per_page)
        assert len(body["data"]) == min(per_page, 7 - (page - 1) * per_page)
        seen += [item["domain"] for item in body["data"]]
        page = body["pagination"]["next_page"]
    assert seen == expected


def test_middle_and_last_pages_link_both_ways(api, seven_orgs):
    middle = api.get("/api/v2/organizations?page=2&per_page=3").json()["pagination"]
    assert middle == {"current_page": 2, "next_page": 3, "prev_page": 1, "per_page": 3, "total_pages": 3}
    last = api.get("/api/v2/organizations?page=3&per_page=3").json()
    assert last["pagination"] == {"current_page": 3, "next_page": None, "prev_page": 2, "per_page": 3, "total_pages": 3}
    assert [item["domain"] for item in last["data"]] == [seven_orgs[0].domain]


def test_current_page_is_an_alias_of_page(api, seven_orgs):
    body = api.get("/api/v2/organizations?current_page=2&per_page=5").json()
    assert body["pagination"]["current_page"] == 2
    assert [item["domain"] for item in body["data"]] == [seven_orgs[1].domain, seven_orgs[0].domain]


def test_page_past_the_end_is_empty_and_points_back_to_the_last_page(api, seven_orgs):
    body = api.get("/api/v2/organizations?page=9&per_page=3").json()
    assert body["data"] == []
    assert body["total"] == 7
    assert body["pagination"] == {"current_page": 9, "next_page": None, "prev_page": 3, "per_page": 3, "total_pages": 3}
    huge = api.get(f"/api/v2/organizations?page={10**30}").json()
    assert huge["data"] == [] and huge["pagination"]["prev_page"] == 1


def test_per_page_is_capped(api, make_org, settings):
    make_org(name="Acme")
    body = api.get("/api/v2/organizations?per_page=100000").json()
    assert body["pagination"]["per_page"] == settings.API_MAX_PER_PAGE == 100


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=-1", "page=abc", "page=1.5", "per_page=0", "per_page=-5", "per_page=ten", "current_page=0"],
)
def test_bad_pagination_parameters_are_refused(api, make_org, query):
    make_org()
    body = assert_error(api.get(f"/api/v2/organizations?{query}"), 400, "invalid_request")
    assert query.split("=")[0] in body["fields"]


def test_listing_organizations_costs_the_same_queries_for_1_or_50_per_page(
    make_api, make_org, django_assert_num_queries
):
    orgs = [make_org(name=f"Org {i}") for i in range(60)]
    for client in (make_api(), make_api(organizations=orgs[:55])):
        with CaptureQueriesContext(connection) as one:
            assert len(client.get("/api/v2/organizations?per_page=1").json()["data"]) == 1
        with django_assert_num_queries(len(one)):
            assert len(client.get("/api/v2/organizations?per_page=50").json()["data"]) == 50
        # A page read from the far end of the index costs the same as the first.
        with django_assert_num_queries(len(one)):
            assert len(client.get("/api/v2/organizations?per_page=50&page=2").json()["data"]) > 0


# --- read ----------------------------------------------------------------------------------------


def test_get_organization_by_domain_or_id(api, org):
    for key in (org.domain, str(org.id)):
        response = api.get(f"/api/v2/organizations/{key}")
        assert response.status_code == 200
        assert_organization(response.json(), id=str(org.id), domain="misapret", name="Misapret")


@pytest.mark.parametrize("domain", ["nope", str(uuid.uuid4()), "MISAPRET", "misapret%20", "x" * 300])
def test_get_unknown_organization_is_404(api, org, domain):
    assert_error(api.get(f"/api/v2/organizations/{domain}"), 404, "not_found")


# --- update --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_organization_changes_only_the_fields_sent_and_never_the_domain(api, org, method):
    response = send(
        api,
        method,
        f"/api/v2/organizations/{org.domain}",
        {"name": "Misapret Group", "allowed_email_domains": ["misapret.fr"]},
    )
    assert response.status_code == 200, response.json()
    assert_organization(
        response.json(),
        name="Misapret Group",
        domain="misapret",
        locality="Paris",
        allowed_email_domains=["misapret.fr"],
    )
    org.refresh_from_db()
    assert (org.name, org.domain, org.locality) == ("Misapret Group", "misapret", "Paris")


def test_update_organization_from_a_form(api, org):
    response = send(
        api,
        "put",
        f"/api/v2/organizations/{org.domain}",
        {"locality": "Lyon", "allowed_email_domains[]": ["a.fr", "b.fr"]},
        as_="form",
    )
    assert response.status_code == 200, response.json()
    org.refresh_from_db()
    assert (org.locality, org.allowed_email_domains) == ("Lyon", ["a.fr", "b.fr"])


def test_update_organization_can_empty_the_email_domains(api, make_org):
    org = make_org(allowed_email_domains=["misapret.fr"])
    response = api.put(f"/api/v2/organizations/{org.domain}", {"allowed_email_domains": []}, format="json")
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.allowed_email_domains == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": 1}, "name"),
        ({"name": OVERLONG}, "name"),
        ({"locality": ""}, "locality"),
        ({"domain": "other"}, "domain"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"allowed_email_domains": ["nope"]}, "allowed_email_domains"),
        ({"name": "Ok", "extra": 1}, "extra"),
    ],
)
def test_update_organization_refuses_bad_input_and_changes_nothing(api, org, body, field):
    before = Organization.objects.values().get(pk=org.pk)
    error = assert_error(api.put(f"/api/v2/organizations/{org.domain}", body, format="json"), 400, "invalid_request")
    assert field in error["fields"]
    assert Organization.objects.values().get(pk=org.pk) == before


def test_update_organization_refuses_malformed_json(api, org):
    before = Organization.objects.values().get(pk=org.pk)
    response = api.put(f"/api/v2/organizations/{org.domain}", b'{"name": ', content_type="application/json")
    assert_error(response, 400, "malformed_body")
    assert Organization.objects.values().get(pk=org.pk) == before


def test_update_unknown_organization_is_404(api, org):
    assert_error(api.put("/api/v2/organizations/nope", {"name": "X"}, format="json"), 404, "not_found")
    assert not Organization.objects.filter(name="X").exists()


# --- delete --------------------------------------------------------------------------------------


def test_delete_organization_answers_the_deleted_resource_and_removes_its_users(api, org):
    services.user_create(organization=org, email="jane@misapret.fr")
    response = api.delete(f"/api/v2/organizations/{org.domain}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"deleted", "resource"}
    assert body["deleted"] is True
    assert_organization(body["resource"], id=str(org.id), domain="misapret")
    assert not Organization.objects.exists()
    assert not User.objects.exists()
    assert_error(api.delete(f"/api/v2/organizations/{org.domain}"), 404, "not_found")


def test_delete_unknown_organization_is_404_and_deletes_nothing(api, org):
    assert_error(api.delete("/api/v2/organizations/nope"), 404, "not_found")
    assert Organization.objects.count() == 1


def test_domain_of_a_deleted_organization_can_be_used_again(api, org):
    api.delete(f"/api/v2/organizations/{org.domain}")
    response = api.post("/api/v2/organizations", {"name": "Misapret", "locality": "Paris"}, format="json")
    assert response.json()["domain"] == "misapret"


def test_unsupported_method_is_405_with_the_error_shape(api, org):
    assert_error(api.delete("/api/v2/organizations"), 405, "method_not_allowed")
    assert_error(api.post(f"/api/v2/organizations/{org.domain}", {}, format="json"), 405, "method_not_allowed")
    assert Organization.objects.count() == 1


def test_form_body_past_the_size_limit_is_refused(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = send(api, "post", "/api/v2/organizations", {"name": "Acme", "locality": "x" * 20_000}, as_="form")
    assert_error(response, 413, "request_too_large")
    assert not Organization.objects.exists()


@pytest.mark.parametrize("parser_class", ["JSONParser", "FormParser"])
def test_body_read_as_a_stream_stops_at_the_size_limit(settings, parser_class):
    # Behind a real WSGI server DRF reads the socket stream, where Django's own limit does not apply.
    import io

    from cryptr_sso.api import parsers
    from cryptr_sso.api.errors import PayloadTooLarge

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    parser = getattr(parsers, parser_class)()
    with pytest.raises(PayloadTooLarge):
        parser.parse(io.BytesIO(b"x" * 101), parser_context={})
    assert parser.parse(io.BytesIO(b'{"a": 1}' if parser_class == "JSONParser" else b"a=1"), parser_context={})


def test_too_many_form_fields_are_refused(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    body = {"name": "Acme", "locality": "Paris", "allowed_email_domains[]": [f"d{i}.fr" for i in range(10)]}
    response = send(api, "post", "/api/v2/organizations", body, as_="form")
    assert_error(response, 413, "request_too_large")
    assert not Organization.objects.exists()


def test_form_sends_an_empty_list_as_a_lone_empty_bracket_key(api, make_org):
    org = make_org(allowed_email_domains=["misapret.fr"])
    response = send(api, "put", f"/api/v2/organizations/{org.domain}", {"allowed_email_domains[]": ""}, as_="form")
    assert response.status_code == 200, response.json()
    org.refresh_from_db()
    assert org.allowed_email_domains == []


def test_json_only_api_answers_other_accept_headers_with_406(api, org):
    assert_error(api.get("/api/v2/organizations", HTTP_ACCEPT="application/xml"), 406, "not_acceptable")


@pytest.mark.parametrize("domain", ["%00", "misapret%00", "%E2%80%AE", "%FF", "a" * 5000, "Misapret", "-misapret"])
def test_organization_paths_that_cannot_be_a_domain_are_404(api, org, domain):
    for method in ("get", "put", "delete"):
        assert_error(getattr(api, method)(f"/api/v2/organizations/{domain}"), 404, "not_found")
    assert_error(api.get(f"/api/v2/org/{domain}/users"), 404, "not_found")
    assert_error(api.post(f"/api/v2/org/{domain}/users", {"email": "a@b.fr"}, format="json"), 404, "not_found")
    assert Organization.objects.filter(pk=org.pk).exists() and not User.objects.exists()


def test_created_organization_has_a_location_header(api):
    response = api.post("/api/v2/organizations", {"name": "Misapret", "locality": "Paris"}, format="json")
    assert response["Location"] == "/api/v2/organizations/misapret"
    assert api.get(response["Location"]).status_code == 200


def test_error_description_names_every_field_at_fault_and_the_list_item(api):
    response = api.post("/api/v2/organizations", {"allowed_email_domains": ["ok.fr", "bad domain"]}, format="json")
    body = assert_error(response, 400, "invalid_request")
    assert set(body["fields"]) == {"name", "locality", "allowed_email_domains"}
    assert body["fields"]["allowed_email_domains"] == {
        "1": ["'bad domain' is not an email domain such as 'example.com'."]
    }
    assert body["error_description"].startswith("Check the fields 'name', 'locality', 'allowed_email_domains'.")
