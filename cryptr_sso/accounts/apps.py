from django.apps import AppConfig


class OperatorAccountsConfig(AppConfig):
    name = "cryptr_sso.accounts"
    # allauth.account already uses the label "account".
    label = "operator_accounts"
    verbose_name = "Operator accounts"

    def ready(self) -> None:
        from . import signals  # noqa: F401
