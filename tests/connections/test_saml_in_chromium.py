"""One whole round trip in headless Chromium: the app -> the gateway -> the IdP's login form -> the
gateway -> the app with a code -> tokens. The app is the demo app of `make demo`, the IdP the
samlify peer, both separate from the gateway's code."""

import json
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from applications.services import application_create
from connections.services import connection_create, connection_update
from organizations import services as directory
from organizations.models import User
from scripts.demo import demo_app
from tests.peers.saml_idp import run_saml_idp

pytestmark = [pytest.mark.browser, pytest.mark.peer, pytest.mark.django_db(transaction=True)]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_server():
    port = free_port()
    holder = {}
    server = make_server("127.0.0.1", port, lambda environ, start: holder["app"](environ, start), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", holder
    server.shutdown()


def test_a_person_signs_in_through_their_idp_and_the_app_gets_tokens(live_server, settings, app_server, page):
    settings.BASE_URL = live_server.url
    app_url, holder = app_server
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, secret = application_create(
        organization=org,
        name="Demo app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[f"{app_url}/callback"],
    )
    connection = connection_create(organization=org, application=app, provider_type="okta")
    with run_saml_idp(sp_metadata_url=f"{live_server.url}/sso/sp/metadata/{connection.id}") as idp:
        connection_update(
            connection=connection,
            data={
                "saml_config": {"idp_metadata_xml": idp.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        holder["app"] = demo_app(
            {"domain": org.domain, "client_id": app.client_id, "client_secret": secret, "idp_id": connection.id},
            gateway=live_server.url,
            app_url=app_url,
        )

        page.goto(app_url)
        page.get_by_role("link", name="Sign in with my company's SSO").click()
        # The IdP's own login page, reached through the gateway's signed AuthnRequest.
        page.wait_for_url(f"{idp.base_url}/**")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice-password")
        page.locator("#login").click()
        # Back through the gateway's ACS and authorize endpoint, to the app's callback with a code.
        page.wait_for_url(f"{app_url}/callback?**")
        id_token = json.loads(page.locator("#id-token").inner_text())

    user = User.objects.get(organization=org)
    assert id_token["sub"] == str(user.pk)
    assert id_token["email"] == "alice@example.com"
    assert id_token["iss"] == f"{live_server.url}/t/{org.domain}"
    assert id_token["sci"] == connection.id
    assert json.loads(page.locator("#access-token").inner_text())["jtt"] == "access"


def test_post_only_idp_sign_in_works_with_javascript_off(live_server, settings, chromium):
    """A connection whose IdP takes AuthnRequests on HTTP-POST only: the gateway's page posts the signed
    AuthnRequest with its Continue button (no script runs), and so does the IdP's page back to the ACS."""
    from saml2 import BINDING_HTTP_POST

    from connections.models import SSOConnection

    settings.BASE_URL = live_server.url
    callback = "https://app.example/callback"
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[callback],
    )
    connection = connection_create(organization=org, application=app, provider_type="okta")
    with run_saml_idp(sp_metadata_url=f"{live_server.url}/sso/sp/metadata/{connection.id}") as idp:
        connection_update(
            connection=connection,
            data={
                "saml_config": {"idp_metadata_xml": idp.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        SSOConnection.objects.filter(pk=connection.pk).update(idp_sso_binding=BINDING_HTTP_POST)
        context = chromium.new_context(java_script_enabled=False)
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.route("https://app.example/**", lambda route: route.fulfill(body="the app", content_type="text/plain"))
            page.goto(f"{live_server.url}/sso/start/{connection.id}")
            assert page.locator("noscript").count() == 1
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{idp.base_url}/**")
            page.get_by_label("Username").fill("alice")
            page.get_by_label("Password").fill("alice-password")
            page.locator("#login").click()
            page.locator("#continue").click()  # the IdP's own form, without its script
            page.wait_for_url(f"{callback}?**")
            assert "code=" in page.url
        finally:
            context.close()
    assert User.objects.filter(organization=org, email="alice@example.com").exists()


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_single_logout_from_the_idp_signs_the_person_out_in_a_real_browser(
    live_server, settings, page, app_server, binding
):
    """The IdP's LogoutRequest reaches the gateway through the browser: on the Redirect binding with the
    gateway's session cookie, on the POST binding cross-site without it (SameSite=Lax); either way the
    gateway session ends and the IdP gets a signed LogoutResponse it accepts."""
    from saml2 import BINDING_HTTP_POST

    from connections.models import SSOConnection

    settings.BASE_URL = live_server.url
    app_url, holder = app_server
    holder["app"] = lambda environ, start: start("200 OK", [("Content-Type", "text/plain")]) or [b"the app"]
    callback = f"{app_url}/callback"
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, _ = application_create(
        organization=org,
        name="Server app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[callback],
        default_redirect_uri_after_login=callback,
    )
    connection = connection_create(organization=org, application=app, provider_type="okta")
    with run_saml_idp(sp_metadata_url=f"{live_server.url}/sso/sp/metadata/{connection.id}") as idp:
        connection_update(
            connection=connection,
            data={
                "saml_config": {"idp_metadata_xml": idp.metadata_xml()},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        if binding == "post":
            SSOConnection.objects.filter(pk=connection.pk).update(idp_slo_binding=BINDING_HTTP_POST)
        page.goto(f"{live_server.url}/sso/start/{connection.id}")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice-password")
        page.locator("#login").click()
        page.wait_for_url(f"{callback}?**")

        page.goto(f"{idp.base_url}/idp-logout?username=alice&binding={binding}")
        page.wait_for_url(f"{idp.slo_url}**")
        assert page.locator("#slo-result").inner_text() == "Success"

        # Signed out at the gateway: the next sign-in goes back to the IdP's login page.
        page.goto(f"{live_server.url}/sso/start/{connection.id}")
        page.wait_for_url(f"{idp.base_url}/**")
        assert page.get_by_label("Username").count() == 1
