"""Webhook endpoints and the log of their deliveries. Registered in the organizations app
(organizations/models.py imports this module): endpoints belong to one organization."""

import uuid

from django.db import models

from cryptr_sso.models import BaseModel

from .events import WEBHOOK_EVENT_TYPES


class WebhookEndpoint(BaseModel):
    """A URL of the SaaS backend that receives one organization's events, signed with its secret.

    The secret is shown once, at creation or rotation; the gateway needs it in clear to sign, so it is
    stored encrypted (connections.crypto, keys from FIELD_ENCRYPTION_KEY), not hashed. After a rotation the
    previous secret also signs every delivery until `previous_secret_expires_at` (two `v1=` in the
    header), so that the receiver can switch to the new one without refusing events in between."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True, default="")
    event_types = models.JSONField(default=list, help_text=f"Any of: {', '.join(WEBHOOK_EVENT_TYPES)}.")
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(editable=False, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)

    class Meta:
        app_label = "organizations"
        ordering = ("-inserted_at", "-id")
        indexes = [models.Index(fields=["organization", "-inserted_at", "-id"], name="webhook_org_newest_first")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one endpoint: its payload as sent, and how the attempts went."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        app_label = "organizations"
        verbose_name_plural = "webhook deliveries"
        ordering = ("-inserted_at",)
        constraints = [
            # One delivery per event and endpoint, however many times the listener runs.
            models.UniqueConstraint("endpoint", "event_id", name="webhook_delivery_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["status", "-inserted_at"], name="webhook_delivery_status"),
            # The delivery log of one endpoint, newest first (the API's list), however long it grows.
            models.Index(fields=["endpoint", "-inserted_at", "-id"], name="webhook_delivery_endpoint_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
