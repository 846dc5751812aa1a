"""Signed webhooks: per-organization endpoints that receive the events an application reacts to.

The audit trail (cryptr_sso/audit.py) calls `dispatch.on_audit_event` for every recorded event after
its commit; the events listed in `events.WEBHOOK_EVENT_TYPES` become one `WebhookDelivery` per
subscribed endpoint, sent by the Celery task `tasks.deliver_webhook`. Format and signature: signing.py.
"""
