"""The audit event types an endpoint can subscribe to."""

WEBHOOK_EVENT_TYPES = (
    "connection.activated",
    "connection.deactivated",
    "user.provisioned",
    "sso.login.failed",
    "certificate.expiring",
)
