"""Where an operator's session stands with the second factor.

allauth keeps, in the session, the list of authentication methods used in it
(`allauth.account.authentication.get_authentication_records`): a password, then `{"method": "mfa",
"type": "totp" | "webauthn" | "recovery_codes", ...}` once a second factor was given. The admin
opens only to a session holding such a record for its user.
"""

from __future__ import annotations

import enum

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
# The authentication record the email code step (email_code.py) leaves in the session.
EMAIL_PROOF_METHOD = "email_code"


class MfaState(enum.Enum):
    SATISFIED = "satisfied"  # a second factor was given in this session (or MFA is optional and unset)
    NEEDS_SECOND_FACTOR = "needs_second_factor"  # the operator has one, this session did not use it
    NEEDS_SETUP = "needs_setup"  # MFA is required and the operator has none yet
    # ... and this session has not proved control of the operator's email address (email_code.py)
    NEEDS_EMAIL_PROOF = "needs_email_proof"


def is_operator(user: AbstractBaseUser) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


def session_used_mfa(request: HttpRequest, user: AbstractBaseUser) -> bool:
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, user))


def session_proved_email(request: HttpRequest, user: AbstractBaseUser) -> bool:
    return any(record.get("method") == EMAIL_PROOF_METHOD for record in get_authentication_records(request, user))


def operator_mfa_state(request: HttpRequest, user: AbstractBaseUser) -> MfaState:
    # The session record first: an operator who gave the second factor costs no query.
    if session_used_mfa(request, user):
        return MfaState.SATISFIED
    if is_mfa_enabled(user, SECOND_FACTORS):
        return MfaState.NEEDS_SECOND_FACTOR
    if settings.OPERATOR_MFA_REQUIRED:
        if settings.OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE and not session_proved_email(request, user):
            return MfaState.NEEDS_EMAIL_PROOF
        return MfaState.NEEDS_SETUP
    return MfaState.SATISFIED
