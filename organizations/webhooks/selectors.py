"""Reads of webhook endpoints and their deliveries, scoped to one organization: another tenant's endpoint
or delivery is a 404."""

import uuid

from django.db.models import QuerySet

from cryptr_sso.api.errors import NotFound
from organizations.models import Organization

from .models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization)


def webhook_endpoint_get(*, organization: Organization, endpoint_id: str) -> WebhookEndpoint:
    not_found = NotFound(f"There is no webhook endpoint '{endpoint_id[:100]}' in '{organization.domain}'.")
    try:
        uuid.UUID(str(endpoint_id))
    except ValueError:
        raise not_found from None
    endpoint = WebhookEndpoint.objects.filter(organization=organization, id=endpoint_id).first()
    if endpoint is None:
        raise not_found
    return endpoint


def webhook_delivery_list(
    *, endpoint: WebhookEndpoint, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries


def webhook_delivery_get(*, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    """A delivery of this endpoint (itself of the caller's organization): any other id is a 404."""
    not_found = NotFound(f"There is no delivery '{str(delivery_id)[:100]}' for this webhook endpoint.")
    try:
        uuid.UUID(str(delivery_id))
    except ValueError:
        raise not_found from None
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, id=delivery_id).first()
    if delivery is None:
        raise not_found
    return delivery
