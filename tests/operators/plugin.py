"""Test helper (registered in tests/conftest.py): a staff user signed in with `client.force_login`
has passed the second factor, so admin tests written before the MFA gate keep working.

force_login skips allauth's login flow, hence its MFA stage and the session record of it that the
admin gate (cryptr_sso/accounts/middleware.py) looks for. For staff users this wrapper gives the user
a TOTP authenticator (when none), records an MFA authentication in the client's session and lists
the session in allauth.usersessions, as a real sign-in would. Tests that need a bare force_login
(the gate's own tests) use the `force_login_without_mfa` marker.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.test import Client
from django.test.client import RequestFactory

from cryptr_sso.accounts.gate import is_operator


def pytest_configure(config):
    config.addinivalue_line("markers", "force_login_without_mfa: client.force_login leaves the MFA gate closed")


def give_operator_totp(user) -> Authenticator:
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, generate_totp_secret()).instance


def record_mfa_in_session(client: Client, user, authenticator: Authenticator) -> None:
    """What allauth's MFA step writes into the session, written into the test client's session."""
    request = RequestFactory().get("/")
    request.session = (
        client.session if client.session.session_key else import_module(settings.SESSION_ENGINE).SessionStore()
    )
    request.user = user
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    request.session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = request.session.session_key
    # allauth's sign-in lists the session (allauth.usersessions) at login; force_login does not, and the
    # first request would then differ from the next ones in queries.
    UserSession.objects.create_from_request(request, user=user, session=request.session)


@pytest.fixture(autouse=True)
def _force_login_passes_mfa(request, monkeypatch):
    if request.node.get_closest_marker("force_login_without_mfa"):
        return
    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if is_operator(user):
            record_mfa_in_session(self, user, give_operator_totp(user))

    monkeypatch.setattr(Client, "force_login", force_login)
