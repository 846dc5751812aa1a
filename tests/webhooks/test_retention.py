"""The delivery log does not grow forever: finished deliveries older than WEBHOOKS_DELIVERY_RETENTION_DAYS
are purged (in batches); deliveries still in progress are kept whatever their age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from organizations.webhooks import tasks
from organizations.webhooks.models import WebhookDelivery
from organizations.webhooks.tasks import purge_old_webhook_deliveries

from .test_deliveries_api import _deliveries

pytestmark = pytest.mark.django_db


def _aged(delivery, *, days, status):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        inserted_at=timezone.now() - timedelta(days=days), status=status
    )
    return delivery.pk


def test_finished_deliveries_past_the_retention_are_purged_the_others_kept(org, make_endpoint, settings, monkeypatch):
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    monkeypatch.setattr(tasks, "PURGE_BATCH", 2)  # several batches
    make_endpoint(org, "https://hooks.misapret.example/cryptr")
    made = _deliveries(org, 9)
    purged = {
        _aged(made[0], days=31, status="delivered"),
        _aged(made[1], days=400, status="failed"),
        _aged(made[2], days=45, status="delivered"),
        _aged(made[3], days=31, status="failed"),
        _aged(made[4], days=90, status="delivered"),
    }
    kept = {
        _aged(made[5], days=29, status="delivered"),  # recent
        _aged(made[6], days=60, status="retrying"),  # still in progress
        _aged(made[7], days=60, status="pending"),  # a redelivery queued
        made[8].pk,
    }
    assert purge_old_webhook_deliveries.apply().get() == 5
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == kept
    assert not purged & kept
    assert purge_old_webhook_deliveries.apply().get() == 0


def test_a_retention_of_zero_keeps_everything(org, make_endpoint, settings):
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 0
    make_endpoint(org, "https://hooks.misapret.example/cryptr")
    [delivery] = _deliveries(org, 1)
    _aged(delivery, days=4000, status="delivered")
    assert purge_old_webhook_deliveries.apply().get() == 0
    assert WebhookDelivery.objects.count() == 1
