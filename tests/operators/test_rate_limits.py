"""Brute-force limits: the password form, the MFA code form, the password reset form."""

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
