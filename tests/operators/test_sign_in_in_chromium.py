"""An operator signs in in headless Chromium: username and password, then a TOTP code computed here,
then the SSO connection's page in the admin."""

import pytest
from django.core import mail
from django.urls import reverse

from applications.services import application_create
from connections.services import connection_create
from organizations import services as directory

from .helpers import PASSWORD, email_code_from, give_totp, make_operator, second_factors, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_signs_in_with_totp_and_opens_a_connection_in_the_admin(live_server, settings, page):
    settings.BASE_URL = live_server.url
    operator = make_operator()
    secret = give_totp(operator)
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _secret = application_create(
        organization=org,
        name="Demo app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.misapret.example/callback"],
    )
    connection = connection_create(organization=org, application=app, provider_type="okta")
    connection_page = reverse("admin:connections_ssoconnection_change", args=[connection.pk])

    # The admin's URL leads to allauth's sign-in, which leads back there after the second factor.
    page.goto(f"{live_server.url}{connection_page}")
    page.wait_for_url(f"{live_server.url}{reverse('account_login')}?next=**")
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()

    page.wait_for_url(f"{live_server.url}{reverse('mfa_authenticate')}")
    page.locator("input[name=code]").fill(totp_code(secret))
    page.locator("form:has(input[name=code]) button[type=submit]").click()

    page.wait_for_url(f"{live_server.url}{connection_page}")
    body = page.locator("body").inner_text()
    assert connection.id in body
    assert "Change SSO connection" in page.title()


def test_a_new_operator_gives_the_emailed_code_then_sets_up_totp(live_server, settings, page, eager_celery):
    """The first sign-in of an operator without a second factor: password, the code from the email (the
    Celery task delivers it), then TOTP set up with the secret shown on the page, then the admin."""
    settings.BASE_URL = live_server.url
    operator = make_operator()
    base = live_server.url

    page.goto(f"{base}{reverse('admin:index')}")
    page.wait_for_url(f"{base}{reverse('account_login')}?next=**")
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()

    page.wait_for_url(f"{base}{reverse('operator_email_code')}")
    assert "a***@ops.example" in page.locator("body").inner_text()
    # Before the code, the MFA pages are closed to this browser.
    page.goto(f"{base}{reverse('mfa_activate_totp')}")
    assert reverse("mfa_activate_totp") not in page.url
    page.goto(f"{base}{reverse('operator_email_code')}")
    assert [message.to for message in mail.outbox] == [["alice@ops.example"]]
    page.locator("input[name=code]").fill(email_code_from(mail.outbox[-1]))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.wait_for_url(f"{base}{reverse('mfa_index')}")

    page.goto(f"{base}{reverse('mfa_activate_totp')}")
    page.wait_for_url(f"{base}{reverse('account_reauthenticate')}?**")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    page.wait_for_url(f"{base}{reverse('mfa_activate_totp')}")
    secret = page.locator("#authenticator_secret").input_value()
    page.locator("input[name=code]").fill(totp_code(secret))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.wait_for_url(lambda url: reverse("mfa_activate_totp") not in url)
    assert second_factors(operator) == {"totp", "recovery_codes"}

    page.goto(f"{base}{reverse('admin:index')}")
    assert page.url == f"{base}{reverse('admin:index')}"
    assert "Site administration" in page.locator("body").inner_text()
