"""Before a staff account without a second factor enrols its first one, the sign-in proves control of the
operator's email address: a one-time code sent there.

Without it, whoever holds an operator's password (and the operator has no factor yet: a new account, or
one whose factors another operator reset) could enrol their own authenticator and keep the console.

A login stage of allauth (adapter.get_login_stages), after the password: the session is not signed in
until the code is given. allauth's own login-by-code stage was the first candidate; it keeps the code in
clear in the session, counts wrong codes per sign-in only and does not limit resends per account, so this
stage reuses its code format and its rate limiter but keeps a keyed hash of the code, counts wrong codes
per account and per IP (the `login_failed` limits, as the password and MFA forms do) and limits sends per
account and per IP (`operator_email_code` in ACCOUNT_RATE_LIMITS).

The code is bound to this session (it lives in the session's pending login) and to this user (the user's
id is in the hash), lives OPERATOR_EMAIL_CODE_TIMEOUT seconds, works once (the stage ends with it) and
allows OPERATOR_EMAIL_CODE_MAX_ATTEMPTS wrong tries before the sign-in starts over. Giving it is recorded
in the session as the authentication method "email_code", which the gate (gate.py) and the enrolment
signal (signals.py) look for.
"""

from __future__ import annotations

import hmac
import time

from allauth.account.adapter import get_adapter
from allauth.account.internal.decorators import login_stage_required
from allauth.account.internal.flows.login import record_authentication
from allauth.account.models import EmailAddress
from allauth.account.stages import LoginStage
from allauth.core import ratelimit
from allauth.core.internal import ratelimit as ratelimit_internal
from allauth.core.internal.cryptokit import generate_user_code, normalize_user_code
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic.edit import FormView

from .gate import EMAIL_PROOF_METHOD, SECOND_FACTORS, is_operator

STAGE_KEY = "operator_email_code"
SEND_ACTION = "operator_email_code"  # ACCOUNT_RATE_LIMITS: codes sent, per IP and per account
EMAIL_TEMPLATE = "account/email/operator_email_code"
CODE_FORMAT = {"length": 8, "dashed": True}  # allauth's login-code alphabet, 8 characters (~39 bits)


def is_required(user) -> bool:
    """A staff account with no TOTP or passkey (recovery codes alone do not count), MFA being required."""
    if not (settings.OPERATOR_MFA_REQUIRED and settings.OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE):
        return False
    if user is None or not is_operator(user):
        return False
    from allauth.mfa.models import Authenticator

    return not Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


def operator_email(user) -> str:
    return (EmailAddress.objects.get_primary_email(user) or "").strip()


def masked(email: str) -> str:
    """a***@ops.example: the page shows where the code went without telling a password holder the address."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else ""


def code_hash(user, code: str) -> str:
    """Keyed with SECRET_KEY and bound to the user: the session never holds the code itself."""
    value = f"{user.pk}:{normalize_user_code(code)}"
    return salted_hmac("cryptr_sso.accounts.operator-email-code", value, algorithm="sha256").hexdigest()


def _send_key(user) -> str:
    return f"operator-email-code-send-{user.pk}"


def _attempt_key(user) -> str:
    return f"operator-email-code-{user.pk}"


class EmailCodeStage(LoginStage):
    key = STAGE_KEY
    urlname = "operator_email_code"

    def is_resumable(self, request: HttpRequest) -> bool:
        # The sign-in page starts over (a new password, a new code) rather than sending back to the code.
        return False

    def handle(self):
        user = self.login.user
        if not is_required(user):
            return None, True
        # Each pass here (a new password sign-in) sends a new code; only the view ends the stage.
        email = operator_email(user)
        if not email:
            # Nothing to send the code to: the sign-in stops here, with a page saying what to do.
            response = render(self.request, "account/operator_email_required.html", {"operator": user}, status=403)
            return response, False
        if not send_code(self.request, user, email, self.state):
            response = render(self.request, "429.html", status=429)
            return response, False
        return HttpResponseRedirect(reverse(self.urlname)), True


def send_code(request: HttpRequest, user, email: str, state: dict) -> bool:
    """A new code replaces the previous one. False when the send limit is reached (nothing sent)."""
    if not ratelimit.consume(request, action=SEND_ACTION, key=_send_key(user)):
        return False
    code = generate_user_code(**CODE_FORMAT)
    state.update(
        code_hash=code_hash(user, code),
        email=email,
        sent_at=time.time(),
        failed_attempts=state.get("failed_attempts", 0),  # a new code does not give new tries
        resends=state.get("resends", -1) + 1,
    )
    minutes = max(1, settings.OPERATOR_EMAIL_CODE_TIMEOUT // 60)
    get_adapter(request).send_mail(EMAIL_TEMPLATE, email, {"code": code, "user": user, "minutes": minutes})
    return True


class EmailCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )

    def __init__(self, *args, request: HttpRequest, user, state: dict, **kwargs):
        self.request, self.user, self.state = request, user, state
        super().__init__(*args, **kwargs)

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        adapter = get_adapter(self.request)
        # Every try counts against the account and the IP, as passwords and MFA codes do; a right one is
        # given back (as allauth does for a right password), a wrong one stays counted.
        usage = ratelimit_internal.consume(
            self.request, app="allauth.account", action="login_failed", key=_attempt_key(self.user)
        )
        if not usage:
            raise adapter.validation_error("too_many_login_attempts")
        if time.time() - self.state.get("sent_at", 0) > settings.OPERATOR_EMAIL_CODE_TIMEOUT:
            raise forms.ValidationError(
                _("This code has expired. Send a new one, or sign in again."), code="expired_code"
            )
        expected = self.state.get("code_hash") or ""
        if not (expected and hmac.compare_digest(code_hash(self.user, code), expected)):
            raise adapter.validation_error("incorrect_code")
        usage.rollback()
        return code


@method_decorator(login_stage_required(stage=STAGE_KEY, redirect_urlname="account_login"), name="dispatch")
class EmailCodeView(FormView):
    form_class = EmailCodeForm
    template_name = "account/operator_email_code.html"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.stage = request._login_stage
        self.user = self.stage.login.user
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request, "user": self.user, "state": self.stage.state}

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.POST.get("action") == "resend":
            return self.resend()
        return super().post(request, *args, **kwargs)

    def resend(self) -> HttpResponse:
        state = self.stage.state
        if state.get("resends", 0) >= settings.OPERATOR_EMAIL_CODE_MAX_RESENDS or not send_code(
            self.request, self.user, state.get("email") or operator_email(self.user), state
        ):
            messages.error(
                self.request, _("No new code for now: too many were sent. Wait a few minutes, then sign in again.")
            )
        else:
            messages.success(self.request, _("A new code is on its way. The previous one no longer works."))
        self._persist()
        return HttpResponseRedirect(reverse(EmailCodeStage.urlname))

    def form_valid(self, form) -> HttpResponse:
        state = self.stage.state
        state.pop("code_hash", None)  # single use, even if the rest of the sign-in fails
        record_authentication(self.request, self.user, EMAIL_PROOF_METHOD, email=state.get("email"))
        return self.stage.exit()

    def form_invalid(self, form) -> HttpResponse:
        state = self.stage.state
        state["failed_attempts"] = state.get("failed_attempts", 0) + 1
        if state["failed_attempts"] >= settings.OPERATOR_EMAIL_CODE_MAX_ATTEMPTS:
            messages.error(self.request, _("Too many wrong codes: sign in again to receive a new one."))
            return self.stage.abort()
        self._persist()
        return super().form_invalid(form)

    def _persist(self) -> None:
        from allauth.account.internal.stagekit import stash_login

        stash_login(self.request, self.stage.login)

    def get_context_data(self, **kwargs) -> dict:
        state = self.stage.state
        return {
            **super().get_context_data(**kwargs),
            "email": masked(state.get("email", "")),
            "minutes": max(1, settings.OPERATOR_EMAIL_CODE_TIMEOUT // 60),
            "can_resend": state.get("resends", 0) < settings.OPERATOR_EMAIL_CODE_MAX_RESENDS,
        }


email_code = EmailCodeView.as_view()
