from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import expiry_admin  # noqa: F401  (the certificate expiry warnings, read-only)
        from .saml import schema

        schema.install()  # pysaml2's schema check of signed SAML elements by libxml2 (connections/saml/schema.py)
