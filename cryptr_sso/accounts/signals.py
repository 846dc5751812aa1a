"""Enrolling the first second factor counts as giving it.

Activating TOTP asks for a code from the new authenticator, adding a passkey asks the key to sign:
both prove the operator holds the factor. Without this, an operator who just set up MFA would be
asked for a code again before the admin opens. Only for the first one: an operator who already has
a factor must give it (the gate sends such a session to the MFA step before any account page).
"""

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.dispatch import receiver

from .gate import SECOND_FACTORS


@receiver(authenticator_added)
def record_enrolment_as_mfa(sender, request, user, authenticator, **kwargs):
    if request is None or authenticator.type not in SECOND_FACTORS:
        return
    if Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).count() != 1:
        return
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)
