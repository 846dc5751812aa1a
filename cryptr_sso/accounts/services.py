"""What one operator does to another's operator account (writes, HackSoft style): reset their second factors."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.db import transaction

from cryptr_sso import audit


class CannotResetOwnFactors(Exception):
    pass


@transaction.atomic
def operator_mfa_reset(*, operator, by_user, by: audit.Actor) -> list[str]:
    """Removes every authenticator of `operator` (TOTP, passkeys, recovery codes) and ends their sessions:
    their next sign-in proves their email address again before they enrol a new factor (email_code.py).
    Returns the types removed. Nobody resets their own: they remove a factor from their MFA page, where
    allauth asks for it first."""
    if operator.pk == by_user.pk:
        raise CannotResetOwnFactors
    authenticators = Authenticator.objects.select_for_update().filter(user_id=operator.pk)
    removed = sorted({authenticator.type for authenticator in authenticators})
    authenticators.delete()
    sessions = list(UserSession.objects.filter(user_id=operator.pk))
    for session in sessions:
        session.end()
    audit.record(
        "operator.mfa_reset",
        by=by,
        data={
            "operator": operator.get_username(),
            "operator_id": operator.pk,
            "removed": removed,
            "sessions_ended": len(sessions),
        },
    )
    email = EmailAddress.objects.get_primary_email(operator)
    if email:
        from allauth.account.adapter import get_adapter

        get_adapter().send_mail(
            "account/email/operator_mfa_reset", email, {"user": operator, "by": by_user.get_username()}
        )
    return removed
