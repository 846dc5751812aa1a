"""Brute-force limits, per account and per IP: the password form, the MFA code form (TOTP and recovery
codes), the reauthentication forms (password, MFA code), the password reset form. The email code form's
are in test_email_code.py; the admin's own login form signs nobody in (test_admin_gate.py)."""

import pytest
from django.conf import settings
from django.urls import reverse

from .helpers import PASSWORD, is_signed_in, page_text, sign_in_with_password, submit_mfa_code, totp_code, wrong_code

LOCKED = "Too many failed sign-in attempts"


def test_the_account_is_locked_after_n_failed_passwords(client, operator):
    n = settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT
    for _ in range(n):
        response = sign_in_with_password(client, "alice", "not the password")
        assert response.status_code == 200
        assert "not correct" in page_text(response) and LOCKED not in page_text(response)
    response = sign_in_with_password(client, "alice", PASSWORD)  # even the right one, now
    assert response.status_code == 200 and not is_signed_in(client)
    text = page_text(response)
    assert LOCKED in text and "minutes" in text
    # The lock is on the account, whichever name is typed and whichever host name is used.
    assert LOCKED in page_text(sign_in_with_password(client, "alice@ops.example", PASSWORD))
    assert LOCKED in page_text(sign_in_with_password(client, "ALICE", PASSWORD))
    response = client.post(reverse("account_login"), {"login": "alice", "password": PASSWORD}, HTTP_HOST="localhost")
    assert LOCKED in page_text(response)


def test_guesses_by_username_and_by_email_share_one_counter(client, operator):
    n = settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT
    for i in range(n):
        sign_in_with_password(client, "alice" if i % 2 else "Alice@Ops.Example", "not the password")
    assert LOCKED in page_text(sign_in_with_password(client, "alice", PASSWORD))


def test_failed_passwords_on_one_account_do_not_lock_another(client, operator, db):
    from .helpers import make_operator

    make_operator("carol", "carol@ops.example")
    for _ in range(settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT):
        sign_in_with_password(client, "alice", "not the password")
    # carol has no second factor yet: her password is accepted and leads to the email code step.
    response = sign_in_with_password(client, "carol", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("operator_email_code")


def test_the_limit_comes_from_the_settings(client, operator, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "20/m/ip,2/300s/key"}
    for _ in range(2):
        sign_in_with_password(client, "alice", "not the password")
    assert LOCKED in page_text(sign_in_with_password(client, "alice", PASSWORD))


def test_the_mfa_code_form_is_rate_limited(client, totp_operator):
    sign_in_with_password(client, "alice")
    for _ in range(settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT):
        response = submit_mfa_code(client, wrong_code(totp_operator.totp_secret))
        assert "Incorrect code" in page_text(response)
    response = submit_mfa_code(client, totp_code(totp_operator.totp_secret))
    assert response.status_code == 200 and not is_signed_in(client)
    assert LOCKED in page_text(response)


@pytest.mark.force_login_without_mfa
def test_the_mfa_reauthentication_form_is_rate_limited_too(client, totp_operator):
    # A session that skipped allauth's MFA stage cannot guess codes at the reauthentication form either.
    client.force_login(totp_operator)
    url = reverse("mfa_reauthenticate") + "?next=/admin/"
    for _ in range(settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT):
        assert "Incorrect code" in page_text(client.post(url, {"code": wrong_code(totp_operator.totp_secret)}))
    response = client.post(url, {"code": totp_code(totp_operator.totp_secret)})
    assert response.status_code == 200 and LOCKED in page_text(response)
    assert client.get(reverse("admin:index")).status_code == 302


def test_password_reset_requests_are_rate_limited(client, operator):
    statuses = [
        client.post(reverse("account_reset_password"), {"email": "alice@ops.example"}).status_code for _ in range(6)
    ]
    assert statuses[:5] == [302] * 5
    assert statuses[5] == 429


def test_recovery_codes_at_the_mfa_step_are_rate_limited(client, totp_operator):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    codes = RecoveryCodes.activate(totp_operator).get_unused_codes()
    sign_in_with_password(client, "alice")
    for i in range(settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT):
        response = submit_mfa_code(client, f"{i:08d}")
        assert "Incorrect code" in page_text(response)
    response = submit_mfa_code(client, codes[0])
    assert response.status_code == 200 and not is_signed_in(client)
    assert LOCKED in page_text(response)


def signed_in_with_totp(client, operator):
    sign_in_with_password(client, "alice")
    assert submit_mfa_code(client, totp_code(operator.totp_secret))["Location"] == "/admin/"


def test_the_password_reauthentication_form_is_rate_limited(client, totp_operator):
    """Wrong passwords at allauth's "confirm your password" page (before MFA changes) count against the
    account like the sign-in form's, so a left-open session cannot be used to guess the password."""
    signed_in_with_totp(client, totp_operator)
    url = reverse("account_reauthenticate") + "?next=" + reverse("mfa_activate_totp")
    for _ in range(settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT):
        response = client.post(url, {"password": "not the password"})
        assert response.status_code == 200 and LOCKED not in page_text(response)
    response = client.post(url, {"password": PASSWORD})
    assert response.status_code == 200 and LOCKED in page_text(response)
    # The same counter as the sign-in form: the account is locked there too.
    client.post(reverse("account_logout"))
    assert LOCKED in page_text(sign_in_with_password(client, "alice", PASSWORD))


# Per IP: a per-account limit far away, the IP's limit low; guesses at one account (or many) from one
# address stop at the IP's limit.
PER_IP = "3/m/ip,50/300s/key"


@pytest.fixture
def ip_limit_only(settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": PER_IP}


def test_the_password_form_is_limited_per_ip(client, operator, db, ip_limit_only):
    from .helpers import make_operator

    make_operator("carol", "carol@ops.example")
    for login in ("mallory", "nobody@ops.example", "alice"):
        sign_in_with_password(client, login, "not the password")
    response = sign_in_with_password(client, "carol", PASSWORD)  # another account, the right password
    assert LOCKED in page_text(response) and not is_signed_in(client)


def test_the_mfa_code_form_is_limited_per_ip(client, totp_operator, ip_limit_only):
    sign_in_with_password(client, "alice")
    for _ in range(3):
        submit_mfa_code(client, wrong_code(totp_operator.totp_secret))
    response = submit_mfa_code(client, totp_code(totp_operator.totp_secret))
    assert LOCKED in page_text(response) and not is_signed_in(client)


def test_the_reauthentication_forms_are_limited_per_ip(client, totp_operator, ip_limit_only):
    signed_in_with_totp(client, totp_operator)
    url = reverse("account_reauthenticate") + "?next=/admin/"
    for _ in range(3):
        client.post(url, {"password": "not the password"})
    assert LOCKED in page_text(client.post(url, {"password": PASSWORD}))
    mfa_url = reverse("mfa_reauthenticate") + "?next=/admin/"
    assert LOCKED in page_text(client.post(mfa_url, {"code": totp_code(totp_operator.totp_secret)}))


def test_password_reset_requests_are_limited_per_ip(client, db, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "reset_password": "3/m/ip,50/m/key"}
    statuses = [
        client.post(reverse("account_reset_password"), {"email": f"user{i}@ops.example"}).status_code for i in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
