"""Webhook deliveries through a real Celery worker process on the real Redis broker (nothing eager): a
receiver that fails first is retried after the backoff and gets the event once it answers 2xx; a 4xx is
not retried. Patterns and helpers of tests/onboarding/test_delivery.py."""

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection

from cryptr_sso import audit
from organizations.webhooks.models import WebhookDelivery

from ..celery_worker import CeleryWorker, broker_url, clear_queue, wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


def Worker(log: Path) -> CeleryWorker:
    return CeleryWorker(
        settings_module="tests.webhooks.worker_settings",
        name="hooks",
        log=log,
        env={"FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY},
    )


@pytest.fixture
def worker(tmp_path):
    url = broker_url()
    clear_queue(url)
    started = Worker(tmp_path / "worker.log").start()
    yield started
    started.stop()
    clear_queue(url)
    db_connection.close()


def _record(organization, type="connection.deactivated"):
    # Outside any test transaction (transaction=True): the event commits and its listeners run at once.
    return audit.record_event(
        type=type,
        organization=organization,
        actor="operator:alice",
        connection_id="misapret_Vq5XKzsUs83o5F78fqbJJU",
        data={"active": False},
    )


def _delivered():
    return WebhookDelivery.objects.filter(status="delivered").first()


def test_a_failing_receiver_is_retried_by_the_worker_then_gets_the_event_once(org, receiver, make_endpoint, worker):
    _endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret, receiver.statuses = secret, [500, 503]
    event = _record(org)

    delivery = wait_for(_delivered, timeout=60, what="the delivery after two failures", log=worker.log)
    assert (delivery.attempts, delivery.last_response_code, delivery.last_error) == (3, 200, "")
    assert len(receiver.received) == 3
    assert all(request.signature_valid for request in receiver.received)
    assert {request.json["id"] for request in receiver.received} == {str(event.pk)}
    assert {request.headers["X-Cryptr-Delivery"] for request in receiver.received} == {str(delivery.pk)}
    # Each attempt signs anew: the timestamps never go back.
    stamps = [request.timestamp for request in receiver.received]
    assert stamps == sorted(stamps)
    log = worker.log.read_text()
    assert log.count("retry") >= 2 or log.count("Retry") >= 2
    time.sleep(3)  # no late duplicate
    assert len(receiver.received) == 3


def test_a_4xx_answer_is_not_retried_by_the_worker(org, receiver, make_endpoint, worker):
    _endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret, receiver.statuses = secret, [404]
    _record(org)

    failed = wait_for(
        lambda: WebhookDelivery.objects.filter(status="failed").first(),
        timeout=30,
        what="the delivery to fail",
        log=worker.log,
    )
    assert (failed.attempts, failed.last_response_code) == (1, 404)
    time.sleep(4)  # longer than the test schedule's retry backoff
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().attempts == 1


def test_a_redelivery_through_the_api_is_sent_by_the_worker_signed_with_both_secrets(
    api, org, receiver, make_endpoint, worker
):
    """A failed delivery, then the secret rotated and the receiver fixed but still on the old secret: the
    redelivery goes through the broker and the worker, and verifies with the old secret during the overlap."""
    endpoint, old = make_endpoint(org, receiver.url)
    receiver.secret, receiver.statuses, receiver.refuse_invalid = old, [404], True
    _record(org)
    failed = wait_for(
        lambda: WebhookDelivery.objects.filter(status="failed").first(), timeout=30, what="the 404", log=worker.log
    )
    base = f"/api/v2/org/{org.domain}/webhooks/{endpoint.pk}"
    new = api.post(f"{base}/rotate-secret", {"expire_previous_in": 600}, format="json").json()["secret"]

    assert api.post(f"{base}/deliveries/{failed.pk}/redeliver").status_code == 202
    delivered = wait_for(_delivered, timeout=30, what="the redelivery", log=worker.log)
    assert (delivered.pk, delivered.attempts, delivered.last_response_code) == (failed.pk, 2, 200)
    first, second = receiver.received
    assert second.signature_valid and second.valid_for(new) and second.body == first.body
    assert second.headers["X-Cryptr-Delivery"] == str(failed.pk)
