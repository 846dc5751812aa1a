"""Reads of webhook endpoints, scoped to one organization: another tenant's endpoint is a 404."""

import uuid

from django.db.models import QuerySet

from cryptr_sso.api.errors import NotFound
from organizations.models import Organization

from .models import WebhookEndpoint


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
