"""GET, POST /api/v2/org/{domain}/webhooks and GET, DELETE .../webhooks/{id}: the secret once, tenant
scoping, scopes."""

import pytest

from connections.crypto import decrypt_text
from organizations.webhooks.models import WebhookEndpoint

from ..api.v2.helpers import assert_error, send

pytestmark = pytest.mark.django_db
URL = "https://hooks.misapret.example/cryptr"


def _create(api, domain, body=None):
    return send(api, "post", f"/api/v2/org/{domain}/webhooks", body if body is not None else {"url": URL})


def test_the_secret_is_in_the_creation_answer_only_and_stored_encrypted(api, org):
    response = _create(
        api, org.domain, {"url": URL, "events": ["user.provisioned", "sso.login.failed"], "description": "Provisioning"}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["__type__"] == "WebhookEndpoint" and created["__domain__"] == org.domain
    assert created["events"] == ["user.provisioned", "sso.login.failed"] and created["active"] is True
    assert response["Location"].endswith(f"/api/v2/org/{org.domain}/webhooks/{created['id']}")
    assert response["Cache-Control"] == "no-store"

    shown = api.get(f"/api/v2/org/{org.domain}/webhooks/{created['id']}").json()
    listed = api.get(f"/api/v2/org/{org.domain}/webhooks").json()
    assert "secret" not in shown and all("secret" not in item for item in listed["data"])
    assert shown == {key: value for key, value in created.items() if key != "secret"}
    assert listed["__type__"] == "List" and listed["total"] == 1

    stored = WebhookEndpoint.objects.get().secret_encrypted
    assert secret not in stored and stored.startswith("enc:v1:") and decrypt_text(stored) == secret
    second = _create(api, org.domain).json()
    assert second["secret"] != secret and second["events"] == [
        "connection.activated",
        "connection.deactivated",
        "user.provisioned",
        "sso.login.failed",
        "certificate.expiring",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.misapret.example/cryptr"}, "url"),
        ({"url": "ftp://hooks.misapret.example/cryptr"}, "url"),
        ({"url": "https://user:pass@hooks.misapret.example/"}, "url"),
        ({"url": "/relative"}, "url"),
        # Addresses written in the URL are checked when it is saved (names are resolved and checked at each send).
        ({"url": "https://10.0.0.7/cryptr"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "https://127.0.0.1/cryptr"}, "url"),
        ({"url": "https://[::ffff:127.0.0.1]/cryptr"}, "url"),
        ({"url": "https://[fd00::1]:8443/cryptr"}, "url"),
        ({"url": URL, "events": ["user.deleted"]}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "secret": "mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_endpoints_are_refused_with_the_field(api, org, body, field, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    body = assert_error(_create(api, org.domain, body), 400)
    assert field in body["fields"], body
    assert not WebhookEndpoint.objects.exists()


def test_another_organizations_endpoints_look_missing(make_api, make_org):
    mine, theirs = make_org(name="Misapret"), make_org(name="Boreal")
    admin = make_api()
    their_endpoint = _create(admin, theirs.domain).json()
    limited = make_api(organizations=[mine])
    assert _create(limited, mine.domain).status_code == 201
    assert_error(limited.get(f"/api/v2/org/{theirs.domain}/webhooks"), 404, "not_found")
    assert_error(_create(limited, theirs.domain), 404, "not_found")
    # Their endpoint's id under my organization is as unknown as a random one.
    assert_error(limited.get(f"/api/v2/org/{mine.domain}/webhooks/{their_endpoint['id']}"), 404, "not_found")
    assert_error(limited.delete(f"/api/v2/org/{mine.domain}/webhooks/{their_endpoint['id']}"), 404, "not_found")
    assert_error(limited.get(f"/api/v2/org/{mine.domain}/webhooks/not-a-uuid"), 404, "not_found")
    assert [item["url"] for item in limited.get(f"/api/v2/org/{mine.domain}/webhooks").json()["data"]] == [URL]
    assert WebhookEndpoint.objects.filter(organization=theirs).count() == 1


def test_scopes_read_and_write_webhooks(make_api, org):
    reader = make_api(scopes=["read:webhooks"])
    assert reader.get(f"/api/v2/org/{org.domain}/webhooks").status_code == 200
    assert "write:webhooks" in assert_error(_create(reader, org.domain), 403)["error_description"]
    other = make_api(scopes=["read:organizations", "write:organizations", "read:events"])
    assert_error(other.get(f"/api/v2/org/{org.domain}/webhooks"), 403)
    writer = make_api(scopes=["write:webhooks"])
    created = _create(writer, org.domain)
    assert created.status_code == 201
    assert_error(writer.get(f"/api/v2/org/{org.domain}/webhooks/{created.json()['id']}"), 403)
    assert_error(reader.delete(f"/api/v2/org/{org.domain}/webhooks/{created.json()['id']}"), 403)


def test_anonymous_requests_are_refused(client, org):
    assert client.get(f"/api/v2/org/{org.domain}/webhooks").status_code == 401


def test_delete_answers_the_resource_and_removes_the_endpoint(api, org):
    created = _create(api, org.domain).json()
    response = api.delete(f"/api/v2/org/{org.domain}/webhooks/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["deleted"] is True and body["resource"]["id"] == created["id"] and "secret" not in body["resource"]
    assert_error(api.get(f"/api/v2/org/{org.domain}/webhooks/{created['id']}"), 404)
    assert not WebhookEndpoint.objects.exists()


def test_the_list_is_newest_first_paginated_in_constant_queries(api, org, django_assert_max_num_queries):
    for index in range(3):
        _create(api, org.domain, {"url": f"{URL}/{index}"})
    with django_assert_max_num_queries(6):
        body = api.get(f"/api/v2/org/{org.domain}/webhooks?per_page=2").json()
    assert [item["url"] for item in body["data"]] == [f"{URL}/2", f"{URL}/1"]
    assert body["pagination"]["next_page"] == 2 and body["total"] == 3
