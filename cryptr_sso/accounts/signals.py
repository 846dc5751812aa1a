"""Enrolling the first second factor counts as giving it, and every enrolment is in the audit trail.

Activating TOTP asks for a code from the new authenticator, adding a passkey asks the key to sign:
both prove the operator holds the factor. Without this, an operator who just set up MFA would be
asked for a code again before the admin opens. Only for the first one: an operator who already has
a factor must give it (the gate sends such a session to the MFA step before any account page). And only
in a session that proved control of the operator's email address (email_code.py) when that is required:
the gate keeps other sessions away from the MFA pages; this is the second lock on the same door.
"""

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.conf import settings
from django.dispatch import receiver

from cryptr_sso import audit

from .gate import SECOND_FACTORS, session_proved_email


@receiver(authenticator_added)
def record_enrolment_as_mfa(sender, request, user, authenticator, **kwargs):
    if request is None or authenticator.type not in SECOND_FACTORS:
        return
    if Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).count() != 1:
        return
    if settings.OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE and not session_proved_email(request, user):
        return
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)


def _by(request, user) -> audit.Actor:
    return audit.Actor.of_request(request, f"operator:{user.get_username()}") if request else audit.SYSTEM


@receiver(authenticator_added)
def audit_enrolment(sender, request, user, authenticator, **kwargs):
    audit.record(
        "operator.mfa_enrolled",
        by=_by(request, user),
        data={"operator": user.get_username(), "operator_id": user.pk, "factor": authenticator.type},
    )


@receiver(authenticator_removed)
def audit_removal(sender, request, user, authenticator, **kwargs):
    audit.record(
        "operator.mfa_removed",
        by=_by(request, user),
        data={"operator": user.get_username(), "operator_id": user.pk, "factor": authenticator.type},
    )
