from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from cryptr_sso import audit

        from . import openapi  # noqa: F401  (registers the schema extension of the Bearer authentication)
        from .webhooks import admin as _webhooks_admin  # noqa: F401  (the endpoints and the delivery log)
        from .webhooks.dispatch import on_audit_event

        # Events of the audit trail become signed webhook deliveries (after their commit).
        if on_audit_event not in audit.EVENT_LISTENERS:
            audit.EVENT_LISTENERS.append(on_audit_event)
