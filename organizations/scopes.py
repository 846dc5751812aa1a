"""Scopes of the management API: `read:<resource>` and `write:<resource>`."""

RESOURCES = ("organizations", "users", "applications", "sso_connections", "webhooks")
# The audit trail is written by the gateway only: API keys may read it, never write it.
ALL_SCOPES = (*(f"{action}:{resource}" for resource in RESOURCES for action in ("read", "write")), "read:events")
