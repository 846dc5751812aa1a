"""The whole onboarding in headless Chromium, as the IT admin lives it: the link in the invitation email -> Okta
chosen -> our metadata URL read from the page and given to the IdP (the samlify peer) -> the IdP's
metadata pasted -> attributes -> a live test login through the IdP's login form -> the attributes
shown -> activation; then an end user signs in to the app through the new connection."""

import json
import re
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core import mail

from applications.services import application_create
from connections.models import SSOConnection
from connections.services import connection_create
from onboarding.services import onboarding_invite
from onboarding.tasks import send_invitation
from organizations import services as directory
from organizations.models import User
from scripts.demo import demo_app
from tests.peers.saml_idp import run_saml_idp

pytestmark = [pytest.mark.browser, pytest.mark.peer, pytest.mark.django_db(transaction=True)]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def app_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    holder = {}
    server = make_server("127.0.0.1", port, lambda environ, start: holder["app"](environ, start), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", holder
    server.shutdown()


def test_it_admin_sets_up_okta_tests_and_activates_then_a_user_signs_in(
    live_server, settings, app_server, chromium, page
):
    settings.BASE_URL = live_server.url
    app_url, holder = app_server
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, secret = application_create(
        organization=org,
        name="Misapret Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[f"{app_url}/callback"],
    )
    connection = connection_create(organization=org, application=app)
    invitation, _token = onboarding_invite(connection=connection, email="it@misapret.example")
    # The invitation task, run here (the suite's Celery has no worker): the email lands in Django's outbox.
    assert send_invitation.apply(kwargs={"invitation_id": invitation.id}).get() == "sent"
    [email] = [message for message in mail.outbox if message.to == ["it@misapret.example"]]
    link = re.search(rf"{re.escape(live_server.url)}/onboarding/[\w-]+/", email.body).group(0)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    # 1. The link from the email opens the first step.
    page.goto(link)
    assert page.locator('nav ol.progress a[aria-current="step"]').inner_text().strip().endswith("Provider")
    page.get_by_label("Okta", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()

    # 2. The guide for Okta, with our values to copy.
    page.wait_for_url("**/create-app")
    page.get_by_text("Create App Integration").first.wait_for()
    metadata_url = (
        page.locator(".value")
        .filter(has=page.locator(".name", has_text="Metadata URL"))
        .locator(".copy-source")
        .first.inner_text()
        .strip()
    )
    assert metadata_url == f"{live_server.url}/sso/sp/metadata/{connection.id}"
    copy = page.get_by_role("button", name="Copy Entity ID (Audience)").first
    copy.click()  # shown only with JavaScript, and it works
    page.get_by_text("Copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == metadata_url

    with run_saml_idp(sp_metadata_url=metadata_url) as idp:
        page.get_by_role("button", name="I have created the application: continue").click()

        # 3. The IdP's metadata, pasted (the peer serves it on http://127.0.0.1, which a URL may not be).
        page.wait_for_url("**/idp-metadata")
        page.get_by_text("Upload or paste the metadata XML").click()
        page.get_by_label("Or paste the metadata XML").fill(idp.metadata_xml())
        page.locator("details", has_text="Upload or paste").get_by_role("button", name="Read the metadata").click()
        page.get_by_role("heading", name="What we understood").wait_for()
        assert idp.entity_id in page.content()
        page.get_by_role("link", name="This is right: continue").click()

        # 4. Okta's default attribute names, kept.
        page.wait_for_url("**/attribute-mapping")
        assert page.get_by_label("Given name").input_value() == "firstName"
        page.get_by_role("button", name="Save and continue").click()

        # 5. The live test login, through the IdP's own login form, back to the wizard.
        page.wait_for_url("**/test-login")
        page.get_by_role("button", name="Start the test login").click()
        page.wait_for_url(f"{idp.base_url}/**")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice-password")
        page.locator("#login").click()
        page.wait_for_url("**/test-result")
        page.get_by_role("heading", name="The test login worked").wait_for()
        html = page.content()
        assert "alice@example.com" in html and "Liddell" in html and "<code>firstName</code>" in html
        assert not User.objects.exists()  # a test signs nobody in

        # 6. Activation.
        page.get_by_role("link", name="Continue to the activation").click()
        page.wait_for_url("**/activate")
        page.get_by_role("button", name="Activate the connection").click()
        page.wait_for_url("**/done")
        page.get_by_role("heading", name="Done: single sign-on is on").wait_for()
        connection.refresh_from_db()
        assert connection.active and connection.last_successful_test_at is not None

        # An end user, in their own browser, signs in to the app through the new connection.
        holder["app"] = demo_app(
            {"domain": org.domain, "client_id": app.client_id, "client_secret": secret, "idp_id": connection.id},
            gateway=live_server.url,
            app_url=app_url,
        )
        context = chromium.new_context()
        user_page = context.new_page()
        user_page.set_default_timeout(20_000)
        try:
            user_page.goto(app_url)
            user_page.get_by_role("link", name="Sign in with my company's SSO").click()
            user_page.wait_for_url(f"{idp.base_url}/**")
            user_page.get_by_label("Username").fill("bob")
            user_page.get_by_label("Password").fill("bob-password")
            user_page.locator("#login").click()
            user_page.wait_for_url(f"{app_url}/callback?**")
            id_token = json.loads(user_page.locator("#id-token").inner_text())
        finally:
            context.close()

    user = User.objects.get(organization=org)
    assert user.email == "bob@example.com"
    assert id_token["sub"] == str(user.pk) and id_token["sci"] == connection.id
    assert SSOConnection.objects.get(pk=connection.pk).provider_type == "okta"


def test_the_wizard_works_with_javascript_off_and_from_the_keyboard(live_server, settings, chromium):
    from tests.connections.saml.idp import TestIdp

    settings.BASE_URL = live_server.url
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _secret = application_create(
        organization=org,
        name="Misapret Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.example/callback"],
    )
    connection = connection_create(organization=org, application=app)
    _invitation, token = onboarding_invite(connection=connection, email="it@misapret.example")
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{live_server.url}/onboarding/{token}/")
        # Keyboard only: the radio, then Enter submits with the primary button (not "Back").
        page.get_by_label("Okta", exact=True).focus()
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
        page.wait_for_url("**/create-app")
        assert page.get_by_role("button", name="Copy Entity ID (Audience)").count() == 0  # no dead buttons
        assert page.get_by_role("link", name="Download Certificate (PEM)").first.is_visible()
        page.get_by_role("button", name="I have created the application: continue").click()
        page.wait_for_url("**/idp-metadata")
        page.get_by_text("Upload or paste the metadata XML").click()  # <details> opens without JavaScript
        page.get_by_label("Or paste the metadata XML").fill(TestIdp("a").metadata())
        page.locator("details", has_text="Upload or paste").get_by_role("button", name="Read the metadata").click()
        page.get_by_role("heading", name="What we understood").wait_for()
        # Nothing wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
    connection.refresh_from_db()
    assert connection.provider_type == "okta" and connection.idp_entity_id == TestIdp("a").entity_id
