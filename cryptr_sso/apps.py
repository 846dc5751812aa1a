from django.apps import AppConfig


class CryptrSsoConfig(AppConfig):
    name = "cryptr_sso"
    verbose_name = "SSO gateway"
