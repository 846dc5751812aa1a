"""The delivery log API: GET .../webhooks/{id}/deliveries (newest first, paginated, by status),
GET .../deliveries/{delivery_id} (the payload as sent, the attempts), POST .../redeliver (409 while an attempt
is in flight), and POST .../webhooks/{id}/test."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from cryptr_sso.models import AuditEvent
from organizations.webhooks.models import WebhookDelivery
from organizations.webhooks.services import webhook_deliveries_create
from organizations.webhooks.tasks import deliver_webhook

from ..api.v2.helpers import assert_error
from .test_delivery import _event

pytestmark = pytest.mark.django_db
URL = "https://hooks.misapret.example/cryptr"


def _base(endpoint) -> str:
    return f"/api/v2/org/{endpoint.organization.domain}/webhooks/{endpoint.pk}"


def _deliveries(org, count, type="user.provisioned", endpoint=None):
    """`count` events of `type`: the delivery of each to `endpoint` (else to the only subscribed endpoint)."""
    made = []
    for _ in range(count):
        created = webhook_deliveries_create(event=_event(org, type))
        made.append(next(d for d in created if endpoint is None or d.endpoint_id == endpoint.pk))
    return made


def _attempt(delivery, attempt=1) -> str:
    return deliver_webhook.apply(kwargs={"delivery_id": str(delivery.pk), "attempt": attempt}).get()


def test_the_log_lists_one_endpoints_deliveries_newest_first_paginated(api, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, URL)
    other, _secret = make_endpoint(org, f"{URL}/other")
    first, second, third = _deliveries(org, 3, endpoint=endpoint)
    assert WebhookDelivery.objects.filter(endpoint=other).count() == 3  # the other endpoint's log is its own

    body = api.get(f"{_base(endpoint)}/deliveries?per_page=2").json()
    assert body["__type__"] == "List" and body["__domain__"] == org.domain and body["total"] == 3
    assert [item["id"] for item in body["data"]] == [str(third.pk), str(second.pk)]
    assert body["pagination"] == {"current_page": 1, "next_page": 2, "prev_page": None, "per_page": 2, "total_pages": 2}
    item = body["data"][0]
    assert item["__type__"] == "WebhookDelivery" and item["endpoint_id"] == str(endpoint.pk)
    assert (item["event_type"], item["status"], item["attempts"]) == ("user.provisioned", "pending", 0)
    assert "payload" not in item  # the detail has it
    page_two = api.get(f"{_base(endpoint)}/deliveries?per_page=2&page=2").json()
    assert [item["id"] for item in page_two["data"]] == [str(first.pk)]


def test_the_log_filters_by_status(api, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, URL)
    delivered, failed, pending = _deliveries(org, 3)
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status="delivered", attempts=1)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=8)

    def ids(query):
        return [item["id"] for item in api.get(f"{_base(endpoint)}/deliveries?{query}").json()["data"]]

    assert ids("status=failed") == [str(failed.pk)]
    assert ids("status=delivered") == [str(delivered.pk)]
    assert ids("status=pending") == [str(pending.pk)]
    assert ids("status=retrying") == []
    assert ids("status=") == [str(pending.pk), str(failed.pk), str(delivered.pk)]
    [login_failed] = _deliveries(org, 1, "sso.login.failed")
    assert ids("event_type=sso.login.failed") == [str(login_failed.pk)]
    assert ids("event_type=user.provisioned&status=failed") == [str(failed.pk)]
    assert ids("event_type=webhook.test") == []


@pytest.mark.parametrize(
    "query", ["status=bogus", "status=FAILED", "event_type=user.deleted", "page=0", "per_page=-1", "page=two"]
)
def test_bad_list_queries_are_refused(api, org, make_endpoint, query):
    endpoint, _secret = make_endpoint(org, URL)
    body = assert_error(api.get(f"{_base(endpoint)}/deliveries?{query}"), 400, "invalid_request")
    assert query.split("=")[0] in body["fields"]


def test_the_log_costs_the_same_queries_however_long_it_is(api, org, make_endpoint, django_assert_max_num_queries):
    endpoint, _secret = make_endpoint(org, URL)
    _deliveries(org, 2)
    with django_assert_max_num_queries(7) as few:
        api.get(f"{_base(endpoint)}/deliveries")
    _deliveries(org, 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(f"{_base(endpoint)}/deliveries").json()["data"]) == 10


def test_a_delivery_shows_the_payload_as_sent_and_how_the_attempts_went(api, org, receiver, make_endpoint):
    endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret, receiver.statuses = secret, [503, 200]
    [delivery] = _deliveries(org, 1)
    before = timezone.now()
    assert _attempt(delivery, 1) == "retrying"
    failed_once = api.get(f"{_base(endpoint)}/deliveries/{delivery.pk}").json()
    assert (failed_once["status"], failed_once["attempts"], failed_once["last_response_code"]) == ("retrying", 1, 503)
    assert failed_once["last_error"].startswith("HTTP 503") and failed_once["next_retry_at"] is not None
    assert failed_once["delivered_at"] is None and failed_once["last_attempt_at"] >= before.isoformat()[:19]

    assert _attempt(delivery, 2) == "delivered"
    shown = api.get(f"{_base(endpoint)}/deliveries/{delivery.pk}").json()
    assert shown["payload"] == receiver.received[-1].json  # byte for byte what was signed, once parsed
    assert shown["payload"]["type"] == "user.provisioned" and shown["event_id"] == shown["payload"]["id"]
    assert (shown["status"], shown["attempts"], shown["last_response_code"], shown["last_error"]) == (
        "delivered",
        2,
        200,
        "",
    )
    assert shown["delivered_at"] and shown["next_retry_at"] is None and shown["inserted_at"]
    assert shown["id"] == receiver.received[-1].headers["X-Cryptr-Delivery"]


def test_redelivering_a_delivered_event_sends_it_again_with_the_same_id(
    api, org, receiver, make_endpoint, eager, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret = secret
    [delivery] = _deliveries(org, 1)
    assert _attempt(delivery) == "delivered"

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending" and response.json()["id"] == str(delivery.pk)
    first, second = receiver.received
    assert first.body == second.body and second.signature_valid
    assert first.headers["X-Cryptr-Delivery"] == second.headers["X-Cryptr-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    event = AuditEvent.objects.get(type="webhook.delivery_redelivered")
    assert event.actor == f"api_key:{api.api_key.client_id}" and event.data["delivery_id"] == str(delivery.pk)


def test_redelivering_a_failed_or_retrying_delivery_queues_the_next_attempt(
    api, org, make_endpoint, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: queued.append(kwargs))
    endpoint, _secret = make_endpoint(org, URL)
    failed, retrying = _deliveries(org, 2)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=8)
    WebhookDelivery.objects.filter(pk=retrying.pk).update(
        status="retrying", attempts=2, next_retry_at=timezone.now() + timedelta(minutes=4)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{_base(endpoint)}/deliveries/{failed.pk}/redeliver").status_code == 202
        assert api.post(f"{_base(endpoint)}/deliveries/{retrying.pk}/redeliver").status_code == 202
    assert queued == [
        {"delivery_id": str(failed.pk), "attempt": 9},
        {"delivery_id": str(retrying.pk), "attempt": 3},  # the scheduled attempt 3 will find it made: stale
    ]


def test_a_queued_attempt_is_in_flight_until_the_sweepers_grace_passes(api, org, make_endpoint, monkeypatch):
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: None)
    endpoint, _secret = make_endpoint(org, URL)
    [delivery] = _deliveries(org, 1)  # pending: its first attempt is queued
    body = assert_error(api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver"), 409, "delivery_in_flight")
    assert "Wait for it" in body["error_description"]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(inserted_at=timezone.now() - timedelta(minutes=11))
    assert api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver").status_code == 202  # message lost
    assert_error(api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver"), 409, "delivery_in_flight")
    assert AuditEvent.objects.filter(type="webhook.delivery_redelivered").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_delivery_being_sent_cannot_be_redelivered_until_the_receiver_answers(
    api, org, receiver, make_endpoint, eager
):
    """The task holds the row while the receiver answers (3 s here): a redelivery then is a 409, not a wait."""
    endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret = secret
    _event(org, "user.provisioned")  # committed at once: the listener creates the delivery, sent in-process
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered"
    # As if that attempt had failed and the worker now made the retry, with a slow receiver.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="retrying", attempts=1)
    receiver.delay = 3
    outcome = []

    def send_attempt_two():
        try:
            outcome.append(_attempt(delivery, 2))
        finally:
            db_connection.close()

    sender = threading.Thread(target=send_attempt_two)
    sender.start()
    deadline = timezone.now() + timedelta(seconds=5)
    while len(receiver.received) < 2 and timezone.now() < deadline:
        threading.Event().wait(0.02)
    assert len(receiver.received) == 2, "the retry never reached the receiver"
    started = timezone.now()
    assert_error(api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver"), 409, "delivery_in_flight")
    assert timezone.now() - started < timedelta(seconds=2)  # refused at once, not after the receiver
    sender.join(10)
    assert outcome == ["delivered"]
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 2


def test_an_inactive_endpoints_delivery_is_not_redelivered(api, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, URL)
    [delivery] = _deliveries(org, 1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=1)
    endpoint.active = False
    endpoint.save()
    body = assert_error(api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver"), 422, "endpoint_inactive")
    assert "activate it" in body["error_description"]
    assert WebhookDelivery.objects.get().status == "failed"


def test_deliveries_of_other_endpoints_and_organizations_look_missing(make_api, make_org, make_endpoint):
    mine, theirs = make_org(name="Misapret"), make_org(name="Boreal")
    my_endpoint, _secret = make_endpoint(mine, URL, event_types=["user.provisioned"])
    _my_other, _secret = make_endpoint(mine, f"{URL}/other", event_types=["sso.login.failed"])
    their_endpoint, _secret = make_endpoint(theirs, "https://hooks.boreal.example/cryptr")
    [my_delivery] = _deliveries(mine, 1)
    [other_delivery] = _deliveries(mine, 1, "sso.login.failed")
    [their_delivery] = _deliveries(theirs, 1)
    WebhookDelivery.objects.update(status="failed", attempts=1)
    limited = make_api(organizations=[mine])

    assert limited.get(f"{_base(my_endpoint)}/deliveries/{my_delivery.pk}").status_code == 200
    for path in (
        f"{_base(their_endpoint)}/deliveries",
        f"{_base(their_endpoint)}/deliveries/{their_delivery.pk}",
        f"/api/v2/org/{mine.domain}/webhooks/{their_endpoint.pk}/deliveries",
        f"{_base(my_endpoint)}/deliveries/{their_delivery.pk}",
        f"{_base(my_endpoint)}/deliveries/{other_delivery.pk}",  # my delivery, but of my other endpoint
        f"{_base(my_endpoint)}/deliveries/not-a-uuid",
        f"{_base(my_endpoint)}/deliveries/00000000-0000-0000-0000-000000000000",
    ):
        assert_error(limited.get(path), 404, "not_found")
    for path in (
        f"{_base(their_endpoint)}/deliveries/{their_delivery.pk}/redeliver",
        f"{_base(my_endpoint)}/deliveries/{their_delivery.pk}/redeliver",
        f"{_base(my_endpoint)}/deliveries/{other_delivery.pk}/redeliver",
        f"{_base(their_endpoint)}/test",
        f"/api/v2/org/{mine.domain}/webhooks/{their_endpoint.pk}/test",
    ):
        assert_error(limited.post(path), 404, "not_found")
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    assert not WebhookDelivery.objects.filter(event_type="webhook.test").exists()
    assert [item["id"] for item in limited.get(f"{_base(my_endpoint)}/deliveries").json()["data"]] == [
        str(my_delivery.pk)
    ]


def test_reading_the_log_needs_read_and_redelivering_needs_write(make_api, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, URL)
    [delivery] = _deliveries(org, 1)
    WebhookDelivery.objects.update(status="failed", attempts=1)
    reader, writer = make_api(scopes=["read:webhooks"]), make_api(scopes=["write:webhooks"])
    assert reader.get(f"{_base(endpoint)}/deliveries").status_code == 200
    assert reader.get(f"{_base(endpoint)}/deliveries/{delivery.pk}").status_code == 200
    for call in (
        lambda: reader.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver"),
        lambda: reader.post(f"{_base(endpoint)}/test"),
        lambda: writer.get(f"{_base(endpoint)}/deliveries"),
        lambda: writer.get(f"{_base(endpoint)}/deliveries/{delivery.pk}"),
        lambda: make_api(scopes=["read:organizations", "write:organizations"]).get(f"{_base(endpoint)}/deliveries"),
    ):
        assert_error(call(), 403, "insufficient_scope")
    assert WebhookDelivery.objects.get().status == "failed"


def test_anonymous_calls_are_refused(client, org, make_endpoint):
    endpoint, _secret = make_endpoint(org, URL)
    assert client.get(f"{_base(endpoint)}/deliveries").status_code == 401
    assert client.post(f"{_base(endpoint)}/test").status_code == 401


# --- POST .../webhooks/{id}/test -------------------------------------------------------------------------


def test_a_test_event_reaches_the_receiver_signed_whatever_the_subscription(
    api, org, receiver, make_endpoint, eager, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(org, receiver.url, event_types=["certificate.expiring"])
    receiver.secret = secret
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{_base(endpoint)}/test")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["event_type"] == "webhook.test" and queued["status"] == "pending"
    assert response["Location"].endswith(f"{_base(endpoint)}/deliveries/{queued['id']}")

    [request] = receiver.received
    assert request.signature_valid and request.headers["X-Cryptr-Event"] == "webhook.test"
    assert request.json["type"] == "webhook.test" and request.json["organization"] == org.domain
    assert request.json["data"]["endpoint_id"] == str(endpoint.pk)
    shown = api.get(f"{_base(endpoint)}/deliveries/{queued['id']}").json()
    assert (shown["status"], shown["attempts"], shown["last_response_code"]) == ("delivered", 1, 200)
    assert AuditEvent.objects.get(type="webhook.test_sent").data["delivery_id"] == queued["id"]


def test_one_test_event_at_a_time_and_none_to_an_inactive_endpoint(api, org, make_endpoint, monkeypatch):
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: None)  # the first test stays queued
    endpoint, _secret = make_endpoint(org, URL)
    assert api.post(f"{_base(endpoint)}/test").status_code == 202
    assert_error(api.post(f"{_base(endpoint)}/test"), 409, "delivery_in_flight")
    WebhookDelivery.objects.update(status="delivered", attempts=1)
    assert api.post(f"{_base(endpoint)}/test").status_code == 202

    endpoint.active = False
    endpoint.save()
    assert_error(api.post(f"{_base(endpoint)}/test"), 422, "endpoint_inactive")
    assert WebhookDelivery.objects.filter(event_type="webhook.test").count() == 2


def test_the_sweeper_counts_a_redelivery_from_when_it_was_queued(
    api, org, make_endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    from organizations.webhooks.tasks import retry_due_webhook_deliveries

    queued = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: queued.append(kwargs))
    endpoint, _secret = make_endpoint(org, URL)
    [delivery] = _deliveries(org, 1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempts=8, inserted_at=timezone.now() - timedelta(days=3)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{_base(endpoint)}/deliveries/{delivery.pk}/redeliver").status_code == 202
    assert retry_due_webhook_deliveries.apply().get() == 0  # just queued, however old the delivery
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now() - timedelta(minutes=11))
    assert retry_due_webhook_deliveries.apply().get() == 1  # that message was lost: queued again
    assert queued == [{"delivery_id": str(delivery.pk), "attempt": 9}] * 2
