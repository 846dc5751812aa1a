"""Helpers of the operators' sign-in tests: operators, TOTP codes, the allauth forms."""

from __future__ import annotations

import re
import time

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth import get_user_model
from django.urls import reverse

PASSWORD = "a long passphrase 42"


def make_operator(username="alice", email="alice@ops.example", *, is_staff=True, is_superuser=True):
    return get_user_model().objects.create_user(
        username=username, email=email, password=PASSWORD, is_staff=is_staff, is_superuser=is_superuser
    )


def give_totp(user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# allauth accepts the current 30 s period only (MFA_TOTP_TOLERANCE 0): a code read in the last moments of
# a period can reach the server in the next one on a loaded machine. Then wait for the next period.
TOTP_SAFETY_SECONDS = 3


def totp_code(secret: str, *, offset_periods: int = 0) -> str:
    """The code an authenticator app shows now (RFC 6238, allauth's own HOTP helper)."""
    left = 30 - time.time() % 30
    if left < TOTP_SAFETY_SECONDS:
        time.sleep(left + 0.05)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + offset_periods))


def wrong_code(secret: str) -> str:
    valid = {totp_code(secret, offset_periods=i) for i in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def sign_in_with_password(client, login: str, password: str = PASSWORD, next_url: str | None = None):
    url = reverse("account_login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"login": login, "password": password})


def email_code_from(message) -> str:
    """The code of the email-code step (cryptr_sso/accounts/email_code.py), read from the delivered email."""
    return re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", message.body, re.MULTILINE).group(1)


def submit_email_code(client, code: str):
    return client.post(reverse("operator_email_code"), {"code": code})


def sign_in_proving_email(client, login: str, capture, password: str = PASSWORD, next_url: str | None = None):
    """Password, then the code emailed to an operator without a second factor (delivered through the
    Celery task after the commit: `capture` is pytest-django's django_capture_on_commit_callbacks, the
    test uses eager_celery). Returns the response to the code."""
    from django.core import mail

    sent = len(mail.outbox)
    with capture(execute=True):
        response = sign_in_with_password(client, login, password, next_url)
    assert response.status_code == 302 and response["Location"] == reverse("operator_email_code"), response
    assert len(mail.outbox) == sent + 1
    return submit_email_code(client, email_code_from(mail.outbox[-1]))


def submit_mfa_code(client, code: str):
    return client.post(reverse("mfa_authenticate"), {"code": code})


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def second_factors(user) -> set[str]:
    return set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
