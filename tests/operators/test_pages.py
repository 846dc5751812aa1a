"""The operator's own pages render in the project's layout once the second factor is given."""

import pytest
from django.urls import reverse

from .helpers import PASSWORD, page_text, sign_in_with_password, submit_mfa_code, totp_code


@pytest.fixture
def signed_in(client, totp_operator):
    sign_in_with_password(client, "alice")
    submit_mfa_code(client, totp_code(totp_operator.totp_secret))
    return client


@pytest.mark.parametrize(
    "name",
    [
        "mfa_index",
        "mfa_add_webauthn",
        "mfa_generate_recovery_codes",
        "usersessions_list",
        "account_change_password",
        "account_email",
    ],
)
def test_account_pages_render(signed_in, name):
    response = signed_in.get(reverse(name), follow=True)
    assert response.status_code == 200, name
    text = page_text(response)
    assert "Operator console" in text and "Sign out" in text
    assert "{#" not in text and "{%" not in text


def test_the_passkey_page_carries_allauths_webauthn_script(signed_in):
    # Adding a passkey asks for the password again first (allauth's default for MFA changes).
    confirm = signed_in.get(reverse("mfa_add_webauthn"))
    assert confirm["Location"].startswith(reverse("account_reauthenticate"))
    signed_in.post(confirm["Location"], {"password": PASSWORD})
    text = page_text(signed_in.get(reverse("mfa_add_webauthn")))
    assert "<script" in text and "webauthn" in text.lower() and 'name="credential"' in text


def test_the_sign_in_page_offers_username_or_email_and_the_reset_link(client, db):
    text = page_text(client.get(reverse("account_login")))
    assert 'name="login"' in text and reverse("account_reset_password") in text
    assert reverse("account_signup") not in text
    assert "{#" not in text and "{%" not in text
