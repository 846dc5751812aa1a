"""Webhook deliveries, sent by Celery workers.

Each task message carries the attempt number it is for. The task claims the delivery row with
`SELECT ... FOR UPDATE`, and sends only when the row is still waiting for exactly that attempt
(`attempts == attempt - 1`, status pending or retrying): a redelivered or duplicated message, a late
retry after an operator's manual one, or the sweeper's copy finds the attempt already made and does
nothing. The lock is held while the receiver answers (WEBHOOKS_TIMEOUT bounds it).

Retry policy: network errors, 5xx and 429 are retried up to WEBHOOKS_MAX_ATTEMPTS attempts in all,
after exponential backoff with jitter (WEBHOOKS_RETRY_BASE_SECONDS x 2^n, capped under the broker's
visibility timeout); other answers (a 4xx, a 3xx redirect, which is not followed) fail at once.
As with every at-least-once delivery, the receiver may get an event twice if we die between its 2xx
and our COMMIT: it deduplicates on X-Cryptr-Delivery.

A redelivery (API or admin, services.webhook_delivery_redeliver) queues attempt `attempts + 1` at once: a
delivery waiting for a retry continues its schedule from there (the scheduled message then finds its attempt
made), one that had used up its WEBHOOKS_MAX_ATTEMPTS gets this single attempt, as a manual resend.
"""

import json
import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.crypto import DecryptionError, decrypt_text

from . import http, signing
from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = {429} | set(range(500, 600))


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOKS_MAX_ATTEMPTS", 8))


def retry_delay(attempt: int) -> float:
    """Seconds before the attempt after `attempt`: base * 2^(attempt-1), capped, with "equal jitter"
    (half fixed, half random) so that endpoints that failed together do not come back together."""
    base = float(getattr(settings, "WEBHOOKS_RETRY_BASE_SECONDS", 60))
    cap = float(getattr(settings, "WEBHOOKS_RETRY_MAX_SECONDS", 3000))
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not a secret)


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signing_secrets(endpoint, *, now) -> list[str]:
    """The current secret, then the previous one while a rotation's overlap lasts. DecryptionError when the
    current one cannot be read; a previous one that cannot be read is left out (the receiver has the new one)."""
    secrets = [decrypt_text(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and now < expires:
        try:
            secrets.append(decrypt_text(endpoint.previous_secret_encrypted))
        except DecryptionError:
            logger.warning(
                "Webhook endpoint %s: the previous secret cannot be decrypted; signed with the current one only.",
                endpoint.pk,
            )
    return secrets


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_webhook(self, *, delivery_id: str, attempt: int) -> str:
    """Make attempt number `attempt` of one delivery. Returns what happened ("delivered", "retrying",
    "failed", "stale", "unknown", "inactive"), for the logs and the tests."""
    retry_in: float | None = None
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "unknown"
        if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING) or delivery.attempts != attempt - 1:
            return "stale"
        endpoint = delivery.endpoint
        now = timezone.now()
        delivery.attempts, delivery.last_attempt_at, delivery.next_retry_at = attempt, now, None
        delivery.last_response_code = None
        retryable = False
        if not endpoint.active:
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, "The endpoint was deactivated."
        else:
            try:
                secrets = signing_secrets(endpoint, now=now)
                body = body_of(delivery.payload)
                answer = http.post(
                    endpoint.url,
                    body=body,
                    headers={
                        signing.SIGNATURE_HEADER: signing.sign(secrets, body),
                        signing.EVENT_HEADER: delivery.event_type,
                        signing.DELIVERY_HEADER: str(delivery.pk),
                    },
                )
            except DecryptionError:
                delivery.status = DeliveryStatus.FAILED
                delivery.last_error = (
                    "The endpoint's secret cannot be decrypted (FIELD_ENCRYPTION_KEY changed?): "
                    "create the endpoint again."
                )
            except http.UrlRefused as refused:
                delivery.status, delivery.last_error = DeliveryStatus.FAILED, refused.message[:500]
            except http.SendFailed as error:
                delivery.last_error, retryable = str(error)[:500], True
            else:
                delivery.last_response_code = answer.status
                if 200 <= answer.status < 300:
                    delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.DELIVERED, now, ""
                else:
                    delivery.last_error = f"HTTP {answer.status}: {answer.body.strip()[:200]}"[:500]
                    retryable = answer.status in RETRYABLE_STATUSES
                    if not retryable:
                        delivery.status = DeliveryStatus.FAILED
        if retryable:
            if attempt >= max_attempts():
                delivery.status = DeliveryStatus.FAILED
            else:
                retry_in = retry_delay(attempt)
                delivery.status = DeliveryStatus.RETRYING
                delivery.next_retry_at = now + timedelta(seconds=retry_in)
        delivery.save()
    logger.info(
        "Webhook delivery %s (%s) attempt %s: %s %s",
        delivery_id,
        delivery.event_type,
        attempt,
        delivery.status,
        delivery.last_response_code or delivery.last_error[:100],
    )
    if retry_in is not None and not self.request.is_eager:
        # Eager mode (the embedded default, no worker) does not retry inside the request that recorded the
        # event: the delivery stays "retrying" for the operator's retry in the admin (or the sweeper, with beat).
        raise self.retry(kwargs={"delivery_id": delivery_id, "attempt": attempt + 1}, countdown=retry_in)
    return str(delivery.status)


@shared_task(acks_late=True)
def retry_due_webhook_deliveries() -> int:
    """Beat: queue the deliveries whose retry is well past due (a retry message lost with its broker). The
    attempt number makes a late duplicate harmless."""
    grace = timedelta(seconds=float(getattr(settings, "WEBHOOKS_SWEEP_GRACE_SECONDS", 600)))
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.RETRYING, next_retry_at__lte=now - grace).values_list(
            "pk", "attempts"
        )[:500]
    )
    # A pending delivery was queued when created, or at its redelivery (next_retry_at, set then).
    due += list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, inserted_at__lte=now - grace)
        .filter(Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now - grace))
        .values_list("pk", "attempts")[:500]
    )
    for delivery_id, attempts in due:
        deliver_webhook.delay(delivery_id=str(delivery_id), attempt=attempts + 1)
    return len(due)


PURGE_BATCH = 5000


@shared_task(acks_late=True)
def purge_old_webhook_deliveries() -> int:
    """Beat: the delivery log keeps WEBHOOKS_DELIVERY_RETENTION_DAYS days (default 30; 0 keeps everything) of
    finished deliveries (delivered or failed), so that it does not grow for as long as the gateway runs.
    Deleted in batches, each a short statement that checks the conditions again (a delivery redelivered
    meanwhile is pending, and kept)."""
    days = int(getattr(settings, "WEBHOOKS_DELIVERY_RETENTION_DAYS", 30))
    if days <= 0:
        return 0
    finished = {
        "status__in": (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED),
        "inserted_at__lt": timezone.now() - timedelta(days=days),
    }
    deleted = 0
    while batch := list(WebhookDelivery.objects.filter(**finished).values_list("pk", flat=True)[:PURGE_BATCH]):
        deleted += WebhookDelivery.objects.filter(pk__in=batch, **finished).delete()[0]
    return deleted
