"""Whole OIDC round trips in headless Chromium: the demo app -> the gateway -> panva's oidc-provider login
form -> the gateway's OIDC callback -> the app with a code -> tokens; and the sign-out back through the IdP
(RP-Initiated Logout), with a real browser's cookie rules: the IdP is another site, and the gateway's session
cookie must come back with the IdP's redirect to the logout callback."""

import contextlib
import json
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from applications.services import application_create
from connections.services import connection_create, connection_update
from organizations import services as directory
from organizations.models import Identity, User
from scripts.demo import demo_app
from tests.peers.oidc_op import run_oidc_op

pytestmark = [pytest.mark.browser, pytest.mark.peer, pytest.mark.django_db(transaction=True)]

CLIENT_SECRET = "op-client-secret-" + "c" * 32


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def app_server():
    """The demo app (scripts/demo.py) on its own port, like a SaaS app beside the gateway."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    holder = {}
    server = make_server("127.0.0.1", port, lambda environ, start: holder["app"](environ, start), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", holder
    server.shutdown()


@pytest.fixture
def tls_page(chromium):
    # The OP's certificate is self-signed for 127.0.0.1; the gateway is given it as its CA bundle,
    # the test's browser just accepts it.
    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@contextlib.contextmanager
def oidc_tenant(live_server, settings, app_server, *, logout: bool = False):
    """An organization, the demo app as its confidential client, an active Okta-over-OIDC connection to a
    running oidc-provider (registered with our callback, and our logout callback when `logout`), and the demo
    app serving that client. Yields (org, app, connection, op)."""
    settings.BASE_URL = live_server.url
    app_url, holder = app_server
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, secret = application_create(
        organization=org,
        name="Demo app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[f"{app_url}/callback"],
        allowed_redirect_uris_after_logout=[f"{app_url}/"] if logout else [],
    )
    connection = connection_create(organization=org, application=app, provider_type="okta_oidc")
    client = {
        "client_id": "gateway",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{live_server.url}/sso/oidc/callback/{connection.id}"],
    }
    if logout:
        client["post_logout_redirect_uris"] = [f"{live_server.url}/sso/oidc/logout/callback/{connection.id}"]
    with run_oidc_op(clients=[client]) as op:
        settings.OIDC_CA_BUNDLE = op.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True
        connection_update(
            connection=connection,
            data={
                "oidc_config": {"issuer": op.issuer, "client_id": "gateway", "client_secret": CLIENT_SECRET},
                "bypass_it_admin_test": True,
                "active": True,
            },
        )
        holder["app"] = demo_app(
            {"domain": org.domain, "client_id": app.client_id, "client_secret": secret, "idp_id": connection.id},
            gateway=live_server.url,
            app_url=app_url,
        )
        yield org, app, connection, op


def sign_in_from_the_app(page, app_url: str, op) -> None:
    """The person opens the app, picks SSO, signs in at the IdP's login form and lands on the app's callback."""
    page.goto(app_url)
    page.get_by_role("link", name="Sign in with my company's SSO").click()
    page.wait_for_url(f"{op.issuer}/interaction/**")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password")
    page.locator("#sign-in").click()
    page.wait_for_url(f"{app_url}/callback?**")


def test_a_person_signs_in_through_their_oidc_idp_and_the_app_gets_tokens(live_server, settings, app_server, tls_page):
    page, app_url = tls_page, app_server[0]
    with oidc_tenant(live_server, settings, app_server) as (org, _app, connection, op):
        sign_in_from_the_app(page, app_url, op)
        id_token = json.loads(page.locator("#id-token").inner_text())

    user = User.objects.get(organization=org)
    assert id_token["sub"] == str(user.pk)
    assert id_token["email"] == "alice@example.com"
    assert id_token["sci"] == connection.id and id_token["ips"] == "okta_oidc"
    assert Identity.objects.get(user=user).subject == "sub-alice"
    assert json.loads(page.locator("#access-token").inner_text())["jtt"] == "access"


def test_signing_out_of_the_app_signs_out_at_the_oidc_idp_and_ends_on_the_app(
    live_server, settings, app_server, tls_page
):
    page, app_url = tls_page, app_server[0]
    with oidc_tenant(live_server, settings, app_server, logout=True) as (org, app, _connection, op):
        sign_in_from_the_app(page, app_url, op)

        # The app sends the browser to the gateway's end_session endpoint; the person confirms there.
        page.goto(
            f"{live_server.url}/t/{org.domain}/oauth2/logout?client_id={app.client_id}"
            f"&post_logout_redirect_uri={app_url}/&state=bye"
        )
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(f"{op.issuer}/session/end**")
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(f"{app_url}/?state=bye")
        assert "Sign in with my company's SSO" in page.content()

        # Signed out at the IdP: the next sign-in shows its login form again, it is not silently reused.
        page.get_by_role("link", name="Sign in with my company's SSO").click()
        page.wait_for_url(f"{op.issuer}/interaction/**")
        page.get_by_label("Password").wait_for()
