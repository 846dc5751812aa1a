"""Writes of webhook endpoints and deliveries. Each service owns its transaction; deliveries are queued
for the Celery task after the commit. Changes made by a person (API key or operator) are recorded in the
audit trail as webhook.* events, never with a secret."""

import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from connections.crypto import DecryptionError, decrypt_text, encrypt_text
from cryptr_sso import audit
from cryptr_sso.api.errors import ApiError, Conflict, StateError
from cryptr_sso.audit import Actor
from organizations.models import Organization

from .events import WEBHOOK_EVENT_TYPES
from .http import UrlRefused, check_url
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .tasks import deliver_webhook

SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS_PER_ORGANIZATION = 20
# After a rotation the previous secret still signs for this long by default, at most for a week (Stripe's bounds).
DEFAULT_PREVIOUS_SECRET_SECONDS = 24 * 3600
MAX_PREVIOUS_SECRET_SECONDS = 7 * 24 * 3600
UPDATABLE_FIELDS = ("url", "description", "event_types", "active")
TEST_EVENT_TYPE = "webhook.test"


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _checked_url(url: str) -> str:
    try:
        check_url(url)
    except UrlRefused as refused:
        raise ApiError(refused.message, code="invalid_url", fields={"url": [refused.message]}) from None
    return url


def _url_for_the_trail(url: str) -> str:
    """A receiver's URL may carry a token in its query string: the trail keeps the rest."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="[masked]")) if parts.query else url


def _endpoint_audit_data(endpoint: WebhookEndpoint, **extra: Any) -> dict[str, Any]:
    return {"endpoint_id": str(endpoint.pk), "url": _url_for_the_trail(endpoint.url), **extra}


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("organization").get(pk=endpoint.pk)


def _check_event_types(event_types: list[str] | None) -> list[str]:
    if event_types is None:
        return list(WEBHOOK_EVENT_TYPES)
    chosen = list(dict.fromkeys(event_types))
    unknown = sorted(set(chosen) - set(WEBHOOK_EVENT_TYPES))
    if unknown or not chosen:
        message = f"Unknown event types: {', '.join(unknown)}. " if unknown else "Choose at least one event type. "
        message += f"Known: {', '.join(WEBHOOK_EVENT_TYPES)}."
        raise ApiError(message, fields={"events": [message]})
    return chosen


def webhook_endpoint_create(
    *,
    organization: Organization,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    active: bool = True,
    by: Actor | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret, which is shown this once."""
    _checked_url(url)
    event_types = _check_event_types(event_types)
    secret = _new_secret()
    with transaction.atomic():
        # Lock the organization so two concurrent creations cannot both pass the cap.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS_PER_ORGANIZATION:
            raise ApiError(
                f"An organization has at most {MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints.",
                code="conflict",
                status_code=409,
            )
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            event_types=event_types,
            description=description,
            secret_encrypted=encrypt_text(secret),
            active=active,
        )
        audit.record(
            "webhook.created",
            by=by,
            organization=organization,
            data=_endpoint_audit_data(endpoint, event_types=event_types, active=active),
        )
    return endpoint, secret


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, data: dict[str, Any], by: Actor | None = None
) -> WebhookEndpoint:
    """Change any of `url`, `description`, `event_types`, `active` (the keys present in `data`), checked as
    at creation. Records webhook.updated with the old and new values when something changed."""
    values = {field: data[field] for field in UPDATABLE_FIELDS if field in data}
    if "url" in values:
        _checked_url(values["url"])
    if "event_types" in values:
        values["event_types"] = _check_event_types(values["event_types"] or [])
    with transaction.atomic():
        locked = _locked(endpoint)
        before = audit.snapshot(locked, UPDATABLE_FIELDS)
        for field, value in values.items():
            setattr(locked, field, value)
        changes = audit.changes(before, locked)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
            if "url" in changes:
                changes["url"] = {key: _url_for_the_trail(value) for key, value in changes["url"].items()}
            audit.record(
                "webhook.updated",
                by=by,
                organization=locked.organization,
                data={"endpoint_id": str(locked.pk), "changes": changes},
            )
    return locked


def webhook_endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    expire_previous_in: int = DEFAULT_PREVIOUS_SECRET_SECONDS,
    by: Actor | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, returned this once. The current one becomes the previous one and keeps signing
    beside it for `expire_previous_in` seconds (0: not at all); a previous secret still in its overlap is
    dropped, as only one previous secret is kept."""
    if not 0 <= expire_previous_in <= MAX_PREVIOUS_SECRET_SECONDS:
        message = f"'expire_previous_in' must be between 0 and {MAX_PREVIOUS_SECRET_SECONDS} seconds (7 days)."
        raise ApiError(message, fields={"expire_previous_in": [message]})
    secret = _new_secret()
    with transaction.atomic():
        locked = _locked(endpoint)
        locked.previous_secret_encrypted, locked.previous_secret_expires_at = "", None
        if expire_previous_in:
            try:
                # Encrypted again, under the current FIELD_ENCRYPTION_KEY.
                locked.previous_secret_encrypted = encrypt_text(decrypt_text(locked.secret_encrypted))
                locked.previous_secret_expires_at = timezone.now() + timedelta(seconds=expire_previous_in)
            except DecryptionError:
                pass  # the current secret is unreadable and signs nothing: there is nothing to keep
        locked.secret_encrypted = encrypt_text(secret)
        locked.save(
            update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated_at"]
        )
        until = locked.previous_secret_expires_at
        audit.record(
            "webhook.secret_rotated",
            by=by,
            organization=locked.organization,
            # No secret here; the key names avoid the trail's secret-looking words, which would mask the date.
            data=_endpoint_audit_data(locked, previous_valid_until=until.isoformat() if until else None),
        )
    return locked, secret


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, by: Actor | None = None) -> None:
    with transaction.atomic():
        audit.record("webhook.deleted", by=by, organization=endpoint.organization, data=_endpoint_audit_data(endpoint))
        endpoint.delete()  # its delivery log goes with it; queued tasks find no row and stop


def _payload(event: Any, organization: Organization) -> dict[str, Any]:
    """The JSON body receivers get (documented in signing.py). Built from the audit event, whose data is
    already masked."""
    data = dict(event.data or {})
    if event.connection_id:
        data.setdefault("connection_id", event.connection_id)
    if event.user_id:
        data.setdefault("user_id", event.user_id)
    return {
        "id": str(event.pk),
        "type": event.type,
        "created_at": event.inserted_at.isoformat().replace("+00:00", "Z"),
        "organization": organization.domain,
        "data": data,
    }


def webhook_deliveries_create(*, event: Any) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the event's organization subscribed to its type; queued after
    the commit. Idempotent per (endpoint, event): a second call creates nothing and queues nothing."""
    if event.type not in WEBHOOK_EVENT_TYPES or event.organization_id is None:
        return []
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=event.organization_id, active=True
        ).select_related("organization")
        if event.type in endpoint.event_types
    ]
    created = []
    for endpoint in endpoints:
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event_id=str(event.pk),
                    event_type=event.type,
                    payload=_payload(event, endpoint.organization),
                )
        except IntegrityError:
            continue  # already created for this event
        transaction.on_commit(
            lambda delivery_id=delivery.pk: deliver_webhook.delay(delivery_id=str(delivery_id), attempt=1)
        )
        created.append(delivery)
    return created


def _sweep_grace() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "WEBHOOKS_SWEEP_GRACE_SECONDS", 600)))


def _in_flight(delivery: WebhookDelivery, now) -> bool:
    """An attempt is queued and not made yet. Past the sweeper's grace the message is presumed lost, and a
    new one may be queued (its attempt number makes a late duplicate harmless)."""
    queued_at = delivery.next_retry_at or delivery.inserted_at
    return delivery.status == DeliveryStatus.PENDING and queued_at > now - _sweep_grace()


IN_FLIGHT = (
    "An attempt of this delivery is queued or being sent right now. Wait for it to finish (GET the delivery "
    "to see its status), then redeliver if needed."
)


def webhook_delivery_redeliver(*, delivery: WebhookDelivery, by: Actor | None = None) -> WebhookDelivery:
    """Queue a fresh attempt now, whatever the delivery's outcome so far (delivered, failed, or waiting for a
    retry, which this one replaces). Conflict (`delivery_in_flight`) while an attempt is queued or being
    sent: a second one would only be a duplicate."""
    try:
        with transaction.atomic():
            # NOWAIT: the task holds this lock while the receiver answers; that is an attempt in flight.
            locked = (
                WebhookDelivery.objects.select_for_update(nowait=True, of=("self",))
                .select_related("endpoint__organization")
                .get(pk=delivery.pk)
            )
            now = timezone.now()
            if _in_flight(locked, now):
                raise Conflict(IN_FLIGHT, code="delivery_in_flight")
            if not locked.endpoint.active:
                raise StateError(
                    "The endpoint is inactive: activate it (PATCH with active: true) before redelivering.",
                    code="endpoint_inactive",
                )
            locked.status, locked.next_retry_at = DeliveryStatus.PENDING, now
            locked.save(update_fields=["status", "next_retry_at"])
            attempt = locked.attempts + 1
            audit.record(
                "webhook.delivery_redelivered",
                by=by,
                organization=locked.endpoint.organization,
                data={"endpoint_id": str(locked.endpoint_id), "delivery_id": str(locked.pk), "attempt": attempt},
            )
            transaction.on_commit(lambda: deliver_webhook.delay(delivery_id=str(locked.pk), attempt=attempt))
    except OperationalError:
        raise Conflict(IN_FLIGHT, code="delivery_in_flight") from None
    return locked


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint, by: Actor | None = None) -> WebhookDelivery:
    """Queue a `webhook.test` event to this endpoint only (whatever its event types), signed and logged like
    any delivery. Conflict while the previous test event of the endpoint is still in flight."""
    with transaction.atomic():
        locked = _locked(endpoint)  # one test at a time per endpoint
        if not locked.active:
            raise StateError(
                "The endpoint is inactive: activate it (PATCH with active: true) before sending a test event.",
                code="endpoint_inactive",
            )
        now = timezone.now()
        last_test = locked.deliveries.filter(event_type=TEST_EVENT_TYPE).order_by("-inserted_at").first()
        if last_test is not None and _in_flight(last_test, now):
            raise Conflict(
                "The previous test event to this endpoint is still queued. Wait for it (GET its delivery), then "
                "send another.",
                code="delivery_in_flight",
            )
        event_id = f"test_{uuid.uuid4().hex}"
        delivery = WebhookDelivery.objects.create(
            endpoint=locked,
            event_id=event_id,
            event_type=TEST_EVENT_TYPE,
            payload={
                "id": event_id,
                "type": TEST_EVENT_TYPE,
                "created_at": now.isoformat().replace("+00:00", "Z"),
                "organization": locked.organization.domain,
                "data": {
                    "endpoint_id": str(locked.pk),
                    "message": "A test event: your endpoint received and can verify Cryptr webhooks.",
                },
            },
        )
        audit.record(
            "webhook.test_sent",
            by=by,
            organization=locked.organization,
            data={"endpoint_id": str(locked.pk), "delivery_id": str(delivery.pk)},
        )
        transaction.on_commit(lambda: deliver_webhook.delay(delivery_id=str(delivery.pk), attempt=1))
    return delivery
