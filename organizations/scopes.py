"""Scopes of the management API: `read:<resource>` and `write:<resource>`."""

RESOURCES = ("organizations", "users", "applications", "sso_connections")
ALL_SCOPES = tuple(f"{action}:{resource}" for resource in RESOURCES for action in ("read", "write"))
