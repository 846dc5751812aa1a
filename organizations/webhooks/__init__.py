"""Signed webhooks: per-organization endpoints that receive the events an application reacts to.

The audit trail (cryptr_sso/audit.py) calls `dispatch.on_audit_event` for every recorded event after
its commit; the events listed in `events.WEBHOOK_EVENT_TYPES` become one `WebhookDelivery` per
subscribed endpoint, sent by the Celery task `tasks.deliver_webhook`. Format and signature: signing.py.

An endpoint is managed through the v2 API (apis.py) or the admin, both through services.py: created (its
secret shown once), changed (PATCH), its secret rotated with an overlap (the previous secret signs beside
the new one until it expires), sent a `webhook.test` event, deleted; each of these is recorded in the audit
trail as a webhook.* event. Its delivery log is read, filtered and redelivered from the same places, and
purged of finished deliveries after WEBHOOKS_DELIVERY_RETENTION_DAYS (tasks.purge_old_webhook_deliveries).
"""
