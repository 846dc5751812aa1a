"""TOTP codes and recovery codes at the MFA step."""

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse

from .helpers import (
    is_signed_in,
    page_text,
    sign_in_proving_email,
    sign_in_with_password,
    submit_mfa_code,
    totp_code,
    wrong_code,
)


def test_a_wrong_totp_code_is_refused(client, totp_operator):
    sign_in_with_password(client, "alice")
    response = submit_mfa_code(client, wrong_code(totp_operator.totp_secret))
    assert response.status_code == 200
    assert "Incorrect code" in page_text(response)
    assert not is_signed_in(client)
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_authenticate")


def test_a_code_from_another_secret_is_refused(client, totp_operator):
    sign_in_with_password(client, "alice")
    response = submit_mfa_code(client, totp_code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
    assert response.status_code == 200 and not is_signed_in(client)


def test_a_totp_code_is_accepted_once(client, totp_operator):
    code = totp_code(totp_operator.totp_secret)
    sign_in_with_password(client, "alice")
    assert submit_mfa_code(client, code)["Location"] == "/admin/"
    assert is_signed_in(client)
    client.post(reverse("account_logout"))
    sign_in_with_password(client, "alice")
    response = submit_mfa_code(client, code)  # replayed within its 30 s window
    assert response.status_code == 200 and not is_signed_in(client)


def test_a_recovery_code_works_once(client, totp_operator):
    codes = RecoveryCodes.activate(totp_operator).get_unused_codes()
    assert len(codes) == 10
    sign_in_with_password(client, "alice")
    assert submit_mfa_code(client, codes[0])["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(reverse("account_logout"))

    sign_in_with_password(client, "alice")
    response = submit_mfa_code(client, codes[0])
    assert response.status_code == 200 and not is_signed_in(client)
    assert "Incorrect code" in page_text(response)
    assert submit_mfa_code(client, codes[1])["Location"] == "/admin/"
    authenticator = Authenticator.objects.get(user=totp_operator, type=Authenticator.Type.RECOVERY_CODES)
    assert len(RecoveryCodes(authenticator).get_unused_codes()) == 8


def test_recovery_codes_alone_are_not_a_second_factor(
    client, operator, eager_celery, django_capture_on_commit_callbacks
):
    # An operator left with recovery codes only (TOTP removed) must set up TOTP or a passkey again, and
    # prove their email address first like any operator without a second factor.
    RecoveryCodes.activate(operator)
    sign_in_proving_email(client, "alice", django_capture_on_commit_callbacks)
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_index")
