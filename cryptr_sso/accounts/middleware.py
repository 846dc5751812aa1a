"""The Django admin opens only to operators who gave their second factor in this session.

A middleware rather than a custom AdminSite: it covers every URL under /admin/, including the
views other apps add to the admin with get_urls(), and the admin's own login form, which would
otherwise be a way in with a password alone.
"""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.internal.stagekit import get_pending_stage
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .gate import MfaState, is_operator, operator_mfa_state


def _safe_next(request: HttpRequest, default: str) -> str:
    candidate = request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _with_next(url: str, next_url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{url}?{urlencode({'next': next_url})}")


class OperatorMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.gate(request) or self.get_response(request)

    def gate(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path_info
        admin_root = reverse("admin:index")
        accounts_root = reverse("account_login").removesuffix("login/")
        in_admin, in_accounts = path.startswith(admin_root), path.startswith(accounts_root)
        if not (in_admin or in_accounts):
            return None
        if in_admin and path == reverse("admin:login"):
            return self.admin_login(request)
        user = request.user
        if not user.is_authenticated:
            if in_admin:
                # Password given, second factor pending: straight back to the MFA step.
                stage = get_pending_stage(request)
                if stage is not None and stage.urlname:
                    return HttpResponseRedirect(reverse(stage.urlname))
            return None  # the admin sends anonymous visitors to admin:login, hence to allauth's login
        if not is_operator(user):
            return None  # the admin refuses them (admin_login below), allauth's own pages are theirs
        state = operator_mfa_state(request, user)
        if state is MfaState.SATISFIED:
            return None
        if state is MfaState.NEEDS_EMAIL_PROOF:
            # A session signed in without the email code (from before the setting, or by another way in):
            # it cannot enrol a factor; signing in again goes through the code.
            if path == reverse("account_logout"):
                return None
            logout(request)
            messages.warning(
                request,
                _(
                    "Before you set up a second factor, confirm your email address: sign in again and enter the "
                    "code we email you."
                ),
            )
            next_url = request.get_full_path() if request.method == "GET" else admin_root
            return _with_next(reverse("account_login"), next_url)
        if state is MfaState.NEEDS_SETUP:
            if in_accounts and self._setup_path(path):
                return None
            messages.warning(
                request,
                _("Set up a second factor (an authenticator app or a passkey) before you use the operator console."),
            )
            return HttpResponseRedirect(reverse("mfa_index"))
        # NEEDS_SECOND_FACTOR: a session that reached here without allauth's MFA stage.
        reauthenticate = reverse("mfa_reauthenticate")
        if path == reauthenticate or path == reverse("account_logout"):
            return None
        return _with_next(reauthenticate, request.get_full_path() if request.method == "GET" else admin_root)

    @staticmethod
    def _setup_path(path: str) -> bool:
        # The MFA pages (TOTP, passkeys, recovery codes), the reauthentication they may ask for, sign-out.
        return path.startswith(reverse("mfa_index")) or path in {
            reverse("account_reauthenticate"),
            reverse("account_logout"),
        }

    def admin_login(self, request: HttpRequest) -> HttpResponse:
        """The admin's login page, GET or POST, never checks a password: allauth's login does,
        followed by the MFA step."""
        user = request.user
        next_url = _safe_next(request, reverse("admin:index"))
        if user.is_authenticated:
            if is_operator(user):
                return HttpResponseRedirect(next_url)  # the gate applies on that request
            return render(request, "account/operator_required.html", status=403)
        stage = get_pending_stage(request)
        if stage is not None and stage.urlname:
            return HttpResponseRedirect(reverse(stage.urlname))
        return _with_next(reverse("account_login"), next_url)
