"""The audit trail's listener (registered in OrganizationsConfig.ready): events become deliveries."""

from .services import webhook_deliveries_create


def on_audit_event(event) -> None:
    webhook_deliveries_create(event=event)
