"""Writes of webhook endpoints and deliveries. Each service owns its transaction; deliveries are queued
for the Celery task after the commit."""

import secrets
from typing import Any

from django.db import IntegrityError, transaction

from connections.crypto import encrypt_text
from cryptr_sso.api.errors import ApiError
from organizations.models import Organization

from .events import WEBHOOK_EVENT_TYPES
from .http import UrlRefused, check_url
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .tasks import deliver_webhook

SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS_PER_ORGANIZATION = 20


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
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret, which is shown this once."""
    try:
        check_url(url)
    except UrlRefused as refused:
        raise ApiError(refused.message, code="invalid_url", fields={"url": [refused.message]}) from None
    event_types = _check_event_types(event_types)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
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
    return endpoint, secret


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    with transaction.atomic():
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


def webhook_delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again now (the operator's action), with a fresh retry schedule, whatever its status."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        locked.status, locked.next_retry_at = DeliveryStatus.PENDING, None
        locked.save(update_fields=["status", "next_retry_at"])
        attempt = locked.attempts + 1
        transaction.on_commit(lambda: deliver_webhook.delay(delivery_id=str(locked.pk), attempt=attempt))
    return locked
