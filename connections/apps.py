from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import expiry_admin  # noqa: F401  (the certificate expiry warnings, read-only)
