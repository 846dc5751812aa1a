from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import openapi  # noqa: F401  (registers the schema extension of the Bearer authentication)
