"""The applications API: DOT clients of one organization, the secret shown once, exact redirect URIs."""

import pytest
from django.contrib.auth.hashers import check_password

from applications.models import Application

CALLBACK = "https://app.misapret.example/callback"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # DOT hashes client secrets with the first password hasher (PBKDF2, ~0.5 s each); what these
    # tests check is that a hash is stored, not its cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    assert set(body) == {"error", "error_description", "fields"}, body
    return body


def create(api, domain, **overrides):
    body = {
        "name": "Misapret app",
        "application_type": "regular_web",
        "allowed_redirect_uris_after_login": [CALLBACK],
        **overrides,
    }
    return api.post(f"/api/v2/org/{domain}/applications", body, format="json")


@pytest.fixture
def app_of(api):
    def make(org, **overrides):
        response = create(api, org.domain, **overrides)
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def test_create_confidential_application_shows_the_secret_once(api, org):
    response = create(
        api,
        org.domain,
        description="Our SaaS",
        allowed_origins_cors=["https://app.misapret.example"],
        allowed_redirect_uris_after_logout=["https://app.misapret.example/bye"],
    )
    assert response.status_code == 201, response.json()
    assert response["Cache-Control"] == "no-store"
    assert response["Location"] == f"/api/v2/org/{org.domain}/applications/{response.json()['id']}"
    body = response.json()
    assert body["__type__"] == "Application" and body["__domain__"] == org.domain
    assert body["id"] == body["client_id"]
    assert body["client_type"] == "confidential"
    assert body["organization_id"] == str(org.id)
    assert body["allowed_redirect_uris_after_login"] == [CALLBACK]
    assert body["default_redirect_uri_after_login"] == CALLBACK  # the first allowed, when not given
    assert body["default_redirect_uri_after_logout"] == "https://app.misapret.example/bye"
    secret = body["client_secret"]
    assert len(secret) >= 40

    application = Application.objects.get(client_id=body["id"])
    assert application.client_secret != secret
    assert check_password(secret, application.client_secret)  # stored hashed by DOT
    assert application.hash_client_secret is True
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.algorithm == Application.RS256_ALGORITHM
    assert application.redirect_uris == CALLBACK
    assert application.allowed_origins == "https://app.misapret.example"
    assert application.post_logout_redirect_uris == "https://app.misapret.example/bye"

    for path in (f"/api/v2/org/{org.domain}/applications/{body['id']}", f"/api/v2/org/{org.domain}/applications"):
        again = api.get(path)
        assert again.status_code == 200
        assert "client_secret" not in again.content.decode()
        assert secret not in again.content.decode()


@pytest.mark.parametrize("application_type", ["spa", "react", "vue", "angular", "mobile", "native"])
def test_browser_and_device_applications_are_public_clients_without_secret(api, org, application_type):
    response = create(
        api,
        org.domain,
        application_type=application_type,
        allowed_redirect_uris_after_login=["http://localhost:3000/callback"],
    )
    assert response.status_code == 201, response.json()
    assert response.json()["client_type"] == "public"
    assert response.json()["client_secret"] is None
    assert Application.objects.get(client_id=response.json()["id"]).client_type == Application.CLIENT_PUBLIC


@pytest.mark.parametrize("application_type", ["regular_web", "node", "python_flask"])
def test_server_applications_are_confidential(api, org, application_type):
    response = create(api, org.domain, application_type=application_type)
    assert response.json()["client_type"] == "confidential"


def test_unknown_application_type_is_refused(api, org):
    body = error_of(create(api, org.domain, application_type="cobol_mainframe"), 400)
    assert "application_type" in body["fields"]


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://app.misapret.example/callback", "must use https"),
        ("https://app.misapret.example/callback#top", "fragment"),
        ("/callback", "not an absolute URI"),
        ("app.misapret.example/callback", "not an absolute URI"),
        ("https://*.misapret.example/callback", "wildcard"),
        ("https://user:pw@app.misapret.example/callback", "user name or password"),
        ("https://app.misapret.example/call back", "whitespace"),
        ("javascript:alert(1)", "not an absolute URI"),
        ("https://app.misapret.example:99999/callback", "invalid port"),
    ],
)
def test_bad_redirect_uris_are_refused(api, org, uri, words):
    body = error_of(create(api, org.domain, allowed_redirect_uris_after_login=[uri]), 400)
    assert words in body["error_description"]
    assert "allowed_redirect_uris_after_login" in body["fields"]
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:3000/callback",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "https://app.misapret.example/callback?tenant=a",
    ],
)
def test_loopback_http_and_https_redirect_uris_are_accepted(api, org, uri):
    response = create(api, org.domain, application_type="spa", allowed_redirect_uris_after_login=[uri])
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_redirect_uris_after_login"] == [uri]


def test_at_least_one_login_redirect_uri_is_required(api, org):
    error_of(create(api, org.domain, allowed_redirect_uris_after_login=[]), 400)


def test_default_redirect_after_login_must_be_an_allowed_one(api, org):
    body = error_of(create(api, org.domain, default_redirect_uri_after_login="https://app.misapret.example/other"), 400)
    assert "default_redirect_uri_after_login" in body["fields"]
    # Exact match: a different path or query is another URI.
    error_of(create(api, org.domain, default_redirect_uri_after_login=CALLBACK + "/"), 400)
    error_of(create(api, org.domain, default_redirect_uri_after_login=CALLBACK + "?x=1"), 400)


def test_default_redirect_after_logout_must_be_an_allowed_one(api, org):
    body = error_of(create(api, org.domain, default_redirect_uri_after_logout="https://app.misapret.example/bye"), 400)
    assert "default_redirect_uri_after_logout" in body["fields"]


def test_origins_are_scheme_host_and_port_only(api, org):
    body = error_of(create(api, org.domain, allowed_origins_cors=["https://app.misapret.example/path"]), 400)
    assert "not an origin" in body["error_description"]
    response = create(api, org.domain, allowed_origins_cors=["https://app.misapret.example/", "http://localhost:5173"])
    assert response.json()["allowed_origins_cors"] == ["https://app.misapret.example", "http://localhost:5173"]


def test_unknown_fields_are_refused(api, org):
    body = error_of(create(api, org.domain, client_secret="mine"), 400)
    assert "client_secret" in body["fields"]


def test_form_encoded_body_with_list_fields(api, org):
    response = api.post(
        f"/api/v2/org/{org.domain}/applications",
        "name=Form+app&application_type=react&allowed_redirect_uris_after_login[]=https%3A%2F%2Fa.example%2Fcb"
        "&allowed_redirect_uris_after_login[]=https%3A%2F%2Fb.example%2Fcb",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_redirect_uris_after_login"] == ["https://a.example/cb", "https://b.example/cb"]


def test_update_changes_only_the_fields_sent(api, org, app_of):
    application = app_of(org, description="before")
    url = f"/api/v2/org/{org.domain}/applications/{application['id']}"
    response = api.put(
        url,
        {
            "name": "Renamed",
            "allowed_redirect_uris_after_login": [CALLBACK, "https://x.example/cb"],
            "default_redirect_uri_after_login": "https://x.example/cb",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Renamed" and body["description"] == "before"
    assert body["default_redirect_uri_after_login"] == "https://x.example/cb"
    assert "client_secret" not in body
    stored = Application.objects.get(client_id=application["id"])
    assert stored.redirect_uris == f"{CALLBACK} https://x.example/cb"
    assert check_password(application["client_secret"], stored.client_secret)  # the secret survives updates


def test_update_cannot_drop_the_default_redirect_from_the_allowed_ones(api, org, app_of):
    application = app_of(org)
    url = f"/api/v2/org/{org.domain}/applications/{application['id']}"
    body = error_of(api.put(url, {"allowed_redirect_uris_after_login": ["https://x.example/cb"]}, format="json"), 400)
    assert "default_redirect_uri_after_login" in body["fields"]


def test_update_cannot_turn_a_confidential_client_public(api, org, app_of):
    application = app_of(org)
    url = f"/api/v2/org/{org.domain}/applications/{application['id']}"
    body = error_of(api.put(url, {"application_type": "spa"}, format="json"), 422)
    assert body["error"] == "invalid_state"
    assert api.put(url, {"application_type": "python_flask"}, format="json").status_code == 200


def test_delete_application(api, org, app_of):
    application = app_of(org)
    url = f"/api/v2/org/{org.domain}/applications/{application['id']}"
    response = api.delete(url)
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    assert response.json()["resource"]["id"] == application["id"]
    assert "client_secret" not in response.json()["resource"]
    error_of(api.get(url), 404)


def test_list_is_newest_first_and_paginated(api, org, app_of, django_assert_max_num_queries):
    ids = [app_of(org, name=f"App {number}")["id"] for number in range(3)]
    with django_assert_max_num_queries(8):
        response = api.get(f"/api/v2/org/{org.domain}/applications?per_page=2")
    body = response.json()
    assert body["__type__"] == "List" and body["total"] == 3
    assert [item["id"] for item in body["data"]] == ids[::-1][:2]
    assert body["pagination"]["next_page"] == 2
    page_two = api.get(f"/api/v2/org/{org.domain}/applications?per_page=2&page=2").json()
    assert [item["id"] for item in page_two["data"]] == [ids[0]]


def test_another_tenants_application_is_not_found(make_api, make_org, app_of):
    misapret, other = make_org(), make_org(name="Other Corp")
    theirs = app_of(other)
    api_a = make_api(organizations=[misapret])
    error_of(api_a.get(f"/api/v2/org/{other.domain}/applications"), 404)
    error_of(api_a.get(f"/api/v2/org/{other.domain}/applications/{theirs['id']}"), 404)
    error_of(create(api_a, other.domain), 404)
    # Through one's own organization's path, another organization's client_id is unknown too.
    error_of(api_a.get(f"/api/v2/org/{misapret.domain}/applications/{theirs['id']}"), 404)
    error_of(api_a.put(f"/api/v2/org/{misapret.domain}/applications/{theirs['id']}", {"name": "x"}, format="json"), 404)
    error_of(api_a.delete(f"/api/v2/org/{misapret.domain}/applications/{theirs['id']}"), 404)
    assert Application.objects.filter(client_id=theirs["id"], name="Misapret app").exists()


def test_scopes_are_required(make_api, org, app_of):
    reader = make_api(scopes=["read:applications"])
    assert reader.get(f"/api/v2/org/{org.domain}/applications").status_code == 200
    body = error_of(create(reader, org.domain), 403)
    assert "write:applications" in body["error_description"]
    other_scopes = make_api(scopes=["read:users", "write:users"])
    error_of(other_scopes.get(f"/api/v2/org/{org.domain}/applications"), 403)
    error_of(create(other_scopes, org.domain), 403)


def test_anonymous_requests_are_refused(client, org):
    assert client.get(f"/api/v2/org/{org.domain}/applications").status_code == 401
