"""An operator signs in in headless Chromium: username and password, then a TOTP code computed here,
then the SSO connection's page in the admin."""

import pytest
from django.urls import reverse

from applications.services import application_create
from connections.services import connection_create
from organizations import services as directory

from .helpers import PASSWORD, give_totp, make_operator, totp_code

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
