from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "applications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .oauth.tenancy import connect_signals

        connect_signals()  # a saved or deleted organization is dropped from every process's tenant lookup
