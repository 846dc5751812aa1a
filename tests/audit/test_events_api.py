"""GET /api/v2/org/{domain}/events: tenant-scoped, filtered, paginated newest first, flat query count."""

import datetime as dt

import pytest
from django.utils import timezone

from cryptr_sso.audit import record_event
from cryptr_sso.models import AuditEvent

pytestmark = pytest.mark.django_db


def events_of(response):
    assert response.status_code == 200, response.json()
    return [(e["type"], e["connection_id"]) for e in response.json()["data"]]


def test_events_of_another_organization_never_appear(make_org, api):
    misapret, boreal = make_org(name="Misapret"), make_org(name="B'Oréal")
    record_event(type="sso.login.failed", organization=boreal, connection_id="b_oreal_x")
    body = api.get(f"/api/v2/org/{misapret.domain}/events").json()
    assert body["__type__"] == "List" and body["__domain__"] == "misapret"
    assert all(e["__domain__"] == "misapret" for e in body["data"])
    assert "sso.login.failed" not in [e["type"] for e in body["data"]]


def test_key_limited_to_one_organization_gets_404_for_the_events_of_another(make_org, make_api):
    misapret, boreal = make_org(name="Misapret"), make_org(name="B'Oréal")
    client = make_api(organizations=[misapret])
    assert client.get(f"/api/v2/org/{misapret.domain}/events").status_code == 200
    response = client.get(f"/api/v2/org/{boreal.domain}/events")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert client.get(f"/api/v2/org/{boreal.id}/events").status_code == 404


def test_events_need_the_read_events_scope(org, make_api):
    response = make_api(scopes=["read:organizations", "read:users"]).get(f"/api/v2/org/{org.domain}/events")
    assert response.status_code == 403 and "read:events" in response.json()["error_description"]
    assert make_api(scopes=["read:events"]).get(f"/api/v2/org/{org.domain}/events").status_code == 200


def test_filters_by_exact_type_prefix_connection_and_user(org, api):
    AuditEvent.objects.all().delete()
    record_event(type="sso.login.succeeded", organization=org, connection_id="c1", user="u1")
    record_event(type="sso.login.failed", organization=org, connection_id="c2")
    record_event(type="token.issued", organization=org, connection_id="c1", user="u1")
    url = f"/api/v2/org/{org.domain}/events"
    assert events_of(api.get(url, {"type": "sso.login.failed"})) == [("sso.login.failed", "c2")]
    assert events_of(api.get(url, {"type": "sso.login."})) == [
        ("sso.login.failed", "c2"),
        ("sso.login.succeeded", "c1"),
    ]
    assert events_of(api.get(url, {"type": "sso.login.*"})) == events_of(api.get(url, {"type": "sso.login."}))
    assert events_of(api.get(url, {"type": "sso.login"})) == []  # not a prefix without the dot
    assert events_of(api.get(url, {"connection_id": "c1"})) == [("token.issued", "c1"), ("sso.login.succeeded", "c1")]
    assert events_of(api.get(url, {"user_id": "u1", "type": "token.issued"})) == [("token.issued", "c1")]


def test_filters_by_date(org, api):
    AuditEvent.objects.all().delete()
    now = timezone.now()
    for days, type_ in ((3, "a.old"), (1, "b.recent"), (0, "c.now")):
        event = record_event(type=type_, organization=org)
        AuditEvent.objects.filter(pk=event.pk).update(inserted_at=now - dt.timedelta(days=days))
    url = f"/api/v2/org/{org.domain}/events"
    since = (now - dt.timedelta(days=2)).isoformat()
    until = (now - dt.timedelta(hours=12)).isoformat()
    assert [t for t, _ in events_of(api.get(url, {"since": since}))] == ["c.now", "b.recent"]
    assert [t for t, _ in events_of(api.get(url, {"until": until}))] == ["b.recent", "a.old"]
    assert [t for t, _ in events_of(api.get(url, {"since": since, "until": until}))] == ["b.recent"]
    assert [t for t, _ in events_of(api.get(url, {"since": "2000-01-01"}))] == ["c.now", "b.recent", "a.old"]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"colour": "blue"},
    ],
)
def test_bad_filters_answer_400_with_the_error_shape(org, api, query):
    response = api.get(f"/api/v2/org/{org.domain}/events", query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] and body["error_description"] and set(body["fields"]) <= {*query, "until"}


def test_pages_newest_first(org, api):
    AuditEvent.objects.all().delete()
    for i in range(5):
        record_event(type=f"test.e{i}", organization=org)
    url = f"/api/v2/org/{org.domain}/events"
    first = api.get(url, {"per_page": 2}).json()
    assert [e["type"] for e in first["data"]] == ["test.e4", "test.e3"]
    assert first["total"] == 5 and first["pagination"]["next_page"] == 2 and first["pagination"]["total_pages"] == 3
    last = api.get(url, {"per_page": 2, "page": 3}).json()
    assert [e["type"] for e in last["data"]] == ["test.e0"] and last["pagination"]["next_page"] is None


def test_event_shape_never_carries_a_secret(org, api):
    record_event(
        type="application.created",
        organization=org,
        actor="api_key:abc",
        ip="192.0.2.1",
        user_agent="curl/8",
        data={"client_secret": "s3cr3t", "changes": {"name": {"old": None, "new": "x"}}},
    )
    event = api.get(f"/api/v2/org/{org.domain}/events", {"type": "application.created"}).json()["data"][0]
    assert event["__type__"] == "Event" and event["actor"] == "api_key:abc" and event["ip"] == "192.0.2.1"
    assert event["data"]["client_secret"] == "[masked]" and event["data"]["changes"]["name"]["new"] == "x"
    assert "s3cr3t" not in str(event)


def test_query_count_is_flat_with_the_page_size(org, api, django_assert_max_num_queries):
    for i in range(30):
        record_event(type="sso.login.failed", organization=org, connection_id=f"c{i}")
    url = f"/api/v2/org/{org.domain}/events"
    api.get(url)  # warm up
    with django_assert_max_num_queries(6) as small:
        api.get(url, {"per_page": 2})
    with django_assert_max_num_queries(6) as large:
        api.get(url, {"per_page": 30})
    assert len(small.captured_queries) == len(large.captured_queries)
