"""The account adapter of the operators' sign-in (django-allauth)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .mail import seal_message


def lockout_minutes() -> int:
    return max(1, round(settings.OPERATOR_LOGIN_ATTEMPTS_TIMEOUT / 60))


class OperatorAccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # Shown by the password form and by the MFA code form once their per-account limit is hit.
        "too_many_login_attempts": _(
            "Too many failed sign-in attempts: this account is locked for a few minutes. Wait, then try "
            "again, or reset your password. Ask another operator if you no longer have your second factor."
        ),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Operators are created with `manage.py createsuperuser` or by another operator in the admin.
        return False

    def get_login_stages(self) -> list[str]:
        # After the password: the email code of an operator who has no second factor yet (email_code.py).
        return [*super().get_login_stages(), "cryptr_sso.accounts.email_code.EmailCodeStage"]

    def validation_error(self, code, *args):
        error = super().validation_error(code, *args)
        if code == "too_many_login_attempts":
            minutes = lockout_minutes()
            error.message = f"{error.message} " + ngettext(
                "(Locked for up to %(n)d minute.)", "(Locked for up to %(n)d minutes.)", minutes
            ) % {"n": minutes}
        return error

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials) -> str:
        """One failed-login counter per account. allauth keys it on the Host header and on the name
        typed, so the username and the email address (and each allowed host name) would each get
        their own N guesses at the same password. (A private allauth hook, pinned with the version.)"""
        from allauth.account.utils import filter_users_by_email, filter_users_by_username

        login = (credentials.get("email") or credentials.get("username") or "").strip().lower()
        users = filter_users_by_email(login) if "email" in credentials else list(filter_users_by_username(login))
        if users:
            return "operator:" + ",".join(sorted(str(user.pk) for user in users))
        return f"unknown:{login}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Render here (the request, the user and the reset key are at hand), deliver through Celery
        once the transaction commits. The rendered message may carry a password reset link: it crosses
        the broker encrypted (see mail.seal_message)."""
        from allauth.core import context as allauth_context
        from django.contrib.sites.shortcuts import get_current_site

        from .tasks import send_account_email

        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        sealed = seal_message(self.render_mail(template_prefix, email, ctx))
        # robust: a broker that is down after the commit is logged, not a 500 on the page.
        transaction.on_commit(lambda: send_account_email.delay(sealed=sealed), robust=True)
