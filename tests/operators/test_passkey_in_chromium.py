"""Passkeys in headless Chromium, with Chromium's virtual authenticator standing in for a security key:
an operator without a second factor gives the code emailed to them, adds a passkey when sent to set one up,
then signs in with it."""

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.urls import reverse

from .helpers import PASSWORD, email_code_from, make_operator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def security_key(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def sign_in_with_password(page, base_url):
    page.goto(f"{base_url}{reverse('account_login')}")
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()


def test_an_operator_adds_a_passkey_and_signs_in_with_it(live_server, settings, page, security_key, eager_celery):
    # allauth refuses plain-http origins unless told; browsers allow WebAuthn on http://localhost.
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    base = live_server.url.replace("127.0.0.1", "localhost")
    settings.BASE_URL = base
    operator = make_operator()

    sign_in_with_password(page, base)
    # No second factor yet: first the code emailed to the operator (through the Celery task), typed as
    # the operator would, read from the delivered message.
    page.wait_for_url(f"{base}{reverse('operator_email_code')}")
    assert [message.to for message in mail.outbox] == [["alice@ops.example"]]
    page.locator("input[name=code]").fill(email_code_from(mail.outbox[-1]))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.wait_for_url(f"{base}{reverse('mfa_index')}")  # then set one up
    page.goto(f"{base}{reverse('mfa_add_webauthn')}")
    page.wait_for_url(f"{base}{reverse('account_reauthenticate')}?**")  # allauth asks the password again
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    page.wait_for_url(f"{base}{reverse('mfa_add_webauthn')}")
    page.locator("input[name=name]").fill("YubiKey")
    page.locator("#mfa_webauthn_add").click()
    page.wait_for_url(lambda url: reverse("mfa_add_webauthn") not in url)
    assert Authenticator.objects.filter(user=operator, type=Authenticator.Type.WEBAUTHN).count() == 1

    # Adding the first key proved it is held: the admin opens in this session.
    page.goto(f"{base}{reverse('admin:index')}")
    assert page.url == f"{base}{reverse('admin:index')}"

    # Next sign-in: password, then the key.
    page.context.clear_cookies()
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}{reverse('mfa_authenticate')}")
    page.locator("#mfa_webauthn_authenticate").click()
    page.wait_for_url(f"{base}{reverse('admin:index')}")
    assert "Site administration" in page.locator("body").inner_text()
