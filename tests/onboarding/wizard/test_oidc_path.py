"""The wizard's OpenID Connect path through Django's test client: an OIDC provider chosen -> our redirect
URI and the console's guide -> issuer, client id and secret checked by reading the discovery document
(refusals in plain words, nothing saved, the secret never shown back) -> claims -> a live test login
through a fake IdP -> activation. The same path in headless Chromium against oidc-provider is at the end."""

import json
import re
import socket
import threading
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.utils.html import escape

from connections.models import SSOConnection
from onboarding.models import AdminOnboarding
from onboarding.steps import OIDC_STEPS, progress
from organizations.models import Identity, User
from tests.connections.oidc.fake_idp import fake_idp, tls_pair

SECRET = "wizard-client-secret-" + "z" * 24


@pytest.fixture
def tls(tmp_path, settings):
    cert, key = tls_pair(tmp_path)
    settings.OIDC_CA_BUNDLE = str(cert)
    settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True  # the fake IdP is on 127.0.0.1
    return cert, key


@pytest.fixture
def idp(tls):
    with fake_idp(tls) as peer:
        yield peer


def onboarding_of(connection) -> AdminOnboarding:
    return AdminOnboarding.objects.select_related("connection").get(connection=connection)


def choose(client, wizard_url, provider_type="okta_oidc"):
    response = client.post(wizard_url("choose-provider"), {"provider_type": provider_type})
    assert response.status_code == 303, response.content[:2000]
    return response


@pytest.fixture
def okta(client, wizard_url, invited):
    choose(client, wizard_url)
    return invited[0]


@pytest.fixture
def configured(client, wizard_url, okta, idp):
    response = client.post(
        wizard_url("idp-settings"), {"issuer": idp.issuer, "client_id": "gw-client", "client_secret": SECRET}
    )
    assert response.status_code == 303, response.content.decode()[:3000]
    okta.refresh_from_db()
    return okta


# --- choose the provider ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_provider_choice_offers_the_oidc_providers_too(client, wizard_url, invited):
    html = client.get(wizard_url("choose-provider")).content.decode()
    for value, label in (
        ("google_oidc", "Google Workspace (OpenID Connect)"),
        ("entra_id_oidc", "Microsoft Entra ID (OpenID Connect)"),
        ("okta_oidc", "Okta (OpenID Connect)"),
        ("ping_one_oidc", "PingOne (OpenID Connect)"),
        ("generic_oidc", "Another OpenID Connect identity provider"),
        ("okta", "Okta"),
    ):
        assert f'value="{value}"' in html and label in html


@pytest.mark.django_db
def test_choosing_an_oidc_provider_makes_an_oidc_connection_and_the_oidc_path(client, wizard_url, invited):
    connection, _token = invited
    response = choose(client, wizard_url, "okta_oidc")
    assert response["Location"] == wizard_url("create-app")
    connection.refresh_from_db()
    assert (connection.protocol, connection.provider_type) == ("oidc", "okta_oidc")
    assert connection.attribute_mapping == {"email": "email", "given_name": "given_name", "family_name": "family_name"}
    body = progress(onboarding_of(connection))
    assert body["total_steps"] == 6 and len(body["steps"]) == 6
    assert [step["key"] for step in body["steps"]] == [step.key for step in OIDC_STEPS]
    assert body["steps"][2] == {"key": "idp_settings", "done": False}
    assert body["tutorial_step"] == 2 and body["progress_in_percentage"] == 16
    html = client.get(wizard_url("create-app")).content.decode()
    assert "Step 2 of 6" in html and "IdP settings" in html and "IdP metadata" not in html


@pytest.mark.django_db
def test_the_saml_steps_of_the_other_path_lead_back_into_the_oidc_path(client, wizard_url, okta):
    response = client.get(wizard_url("idp-metadata"))
    assert response.status_code == 302 and response["Location"] == wizard_url()
    assert client.get(wizard_url("no-such-step")).status_code == 404


@pytest.mark.django_db
def test_switching_protocol_starts_the_later_steps_again(client, wizard_url, invited):
    connection, _token = invited
    choose(client, wizard_url, "okta")
    client.post(wizard_url("create-app"), {"nav": "next"})
    assert "create_app" in onboarding_of(connection).steps_done
    choose(client, wizard_url, "okta_oidc")
    onboarding = onboarding_of(connection)
    assert onboarding.steps_done == ["choose_provider"] and onboarding.current_step == "create_app"
    connection.refresh_from_db()
    assert connection.protocol == "oidc"


@pytest.mark.django_db
@pytest.mark.parametrize("step", OIDC_STEPS, ids=lambda step: step.key)
def test_every_oidc_step_renders_with_the_progress_list(client, wizard_url, okta, step):
    response = client.get(wizard_url(step.slug))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('aria-current="step"') == 1
    assert f'{step.slug}" aria-current="step"' in html
    assert escape(str(step.title)) in html


# --- create the app: our redirect URI, the console's words -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "words"),
    [
        (
            "google_oidc",
            [
                "Google Cloud console",
                "APIs &amp; Services",
                "Credentials",
                "Create credentials",
                "OAuth client ID",
                "Web application",
                "Authorized redirect URIs",
                "Client secret",
            ],
        ),
        (
            "entra_id_oidc",
            [
                "Microsoft Entra admin center",
                "App registrations",
                "New registration",
                "Redirect URI (Web)",
                "Certificates &amp; secrets",
                "New client secret",
                "Application (client) ID",
                "Directory (tenant) ID",
                "Overview",
            ],
        ),
        (
            "okta_oidc",
            [
                "Okta Admin Console",
                "Create App Integration",
                "OIDC - OpenID Connect",
                "Web Application",
                "Sign-in redirect URIs",
                "Client Credentials",
                "Client secret",
            ],
        ),
        (
            "ping_one_oidc",
            ["PingOne admin console", "OIDC Web App", "Configuration", "Redirect URIs", "Client ID", "Client Secret"],
        ),
        ("generic_oidc", ["Redirect URI / Callback URL", "Client ID", "Issuer"]),
    ],
)
def test_create_app_shows_our_redirect_uri_and_the_consoles_own_words(client, wizard_url, invited, provider, words):
    connection, _token = invited
    choose(client, wizard_url, provider)
    html = client.get(wizard_url("create-app")).content.decode()
    redirect_uri = f"http://testserver/sso/oidc/callback/{connection.id}"
    assert f'<code class="copy-source">{redirect_uri}</code>' in html
    assert "Copy<span" in html  # the copy button
    for word in words:
        assert word in html, word
    assert "Metadata XML" not in html and "ACS URL" not in html  # nothing of SAML
    response = client.post(wizard_url("create-app"), {"nav": "next"})
    assert response.status_code == 303 and response["Location"] == wizard_url("idp-settings")


# --- IdP settings: the discovery check --------------------------------------------------------------------


@pytest.mark.django_db
def test_idp_settings_prefill_googles_issuer_and_ask_entra_for_its_tenant(client, wizard_url, invited):
    choose(client, wizard_url, "google_oidc")
    html = client.get(wizard_url("idp-settings")).content.decode()
    assert 'value="https://accounts.google.com"' in html and "Google Workspace domains" in html
    assert 'name="tenant_id"' not in html
    choose(client, wizard_url, "entra_id_oidc")
    html = client.get(wizard_url("idp-settings")).content.decode()
    assert 'name="tenant_id"' in html and "Directory (tenant) ID" in html and 'name="hosted_domains"' not in html
    assert 'value="https://accounts.google.com"' not in html


@pytest.mark.django_db
def test_idp_settings_are_checked_by_discovery_then_saved_and_the_secret_is_never_shown(client, wizard_url, okta, idp):
    response = client.post(
        wizard_url("idp-settings"), {"issuer": idp.issuer, "client_id": "gw-client", "client_secret": SECRET}
    )
    assert response.status_code == 303 and response["Location"] == wizard_url("idp-settings")
    okta.refresh_from_db()
    assert okta.oidc_issuer == idp.issuer and okta.oidc_client_id == "gw-client"
    assert okta.oidc_authorization_endpoint == f"{idp.issuer}/authorize"
    assert okta.oidc_client_secret == SECRET and SECRET not in okta.oidc_client_secret_encrypted
    assert okta.has_usable_idp_configuration
    onboarding = onboarding_of(okta)
    assert "idp_settings" in onboarding.steps_done and onboarding.current_step == "attribute_mapping"
    assert SECRET not in json.dumps(onboarding.data)  # what was entered is kept, but never the secret

    html = client.get(wizard_url("idp-settings")).content.decode()
    assert "Your identity provider answered" in html and f"{idp.issuer}/authorize" in html
    assert "A client secret is set" in html and SECRET not in html
    assert 'name="client_secret"' in html and 'name="client_secret" value' not in html
    # Saving again without a secret keeps the one set.
    response = client.post(wizard_url("idp-settings"), {"issuer": idp.issuer, "client_id": "gw-client-2"})
    assert response.status_code == 303
    okta.refresh_from_db()
    assert okta.oidc_client_id == "gw-client-2" and okta.oidc_client_secret == SECRET


@pytest.mark.django_db
def test_idp_settings_need_a_client_id_and_a_first_secret(client, wizard_url, okta, idp):
    response = client.post(wizard_url("idp-settings"), {"issuer": idp.issuer, "client_id": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'href="#id_client_id"' in html and "Give the client secret" in html
    okta.refresh_from_db()
    assert okta.oidc_issuer == "" and not okta.oidc_client_secret_encrypted


def _discovered(issuer: str):
    from connections.oidc.discovery import Discovery

    return Discovery(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint="",
        jwks_uri=f"{issuer}/keys",
        token_endpoint_auth_method="client_secret_post",
    )


@pytest.mark.django_db
def test_entra_id_takes_the_tenant_id_and_makes_the_issuer_from_it(client, wizard_url, invited, monkeypatch):
    from connections.exceptions import OidcFetchError
    from connections.oidc import discovery

    connection, _token = invited
    choose(client, wizard_url, "entra_id_oidc")
    asked = []

    def fake_discover(issuer, *, provider_type):
        asked.append(issuer)
        if "unknown-tenant" in issuer:
            raise OidcFetchError("Reading the discovery document answered HTTP 400.", detail="http 400")
        return _discovered(issuer)

    monkeypatch.setattr(discovery, "discover", fake_discover)
    response = client.post(
        wizard_url("idp-settings"), {"tenant_id": "unknown-tenant", "client_id": "app-id", "client_secret": SECRET}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'href="#id_tenant_id"' in html and "We found no OpenID Connect discovery document at" in html
    connection.refresh_from_db()
    assert connection.oidc_tenant_id == "" and connection.oidc_issuer == ""

    tenant = "5b7f3a1c-0000-4000-8000-000000000001"
    response = client.post(
        wizard_url("idp-settings"), {"tenant_id": tenant, "issuer": "", "client_id": "app-id", "client_secret": SECRET}
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.oidc_tenant_id == tenant
    assert connection.oidc_issuer == f"https://login.microsoftonline.com/{tenant}/v2.0" == asked[-1]
    assert connection.has_usable_idp_configuration


@pytest.mark.django_db
def test_google_keeps_its_issuer_and_the_hosted_domains(client, wizard_url, invited, monkeypatch):
    from connections.oidc import discovery

    connection, _token = invited
    choose(client, wizard_url, "google_oidc")
    monkeypatch.setattr(discovery, "discover", lambda issuer, *, provider_type: _discovered(issuer))
    response = client.post(
        wizard_url("idp-settings"),
        {
            "issuer": "https://accounts.google.com",
            "client_id": "123.apps.googleusercontent.com",
            "client_secret": SECRET,
            "hosted_domains": "Misapret.example, misapret.fr",
        },
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.oidc_issuer == "https://accounts.google.com"
    assert connection.oidc_hosted_domains == ["misapret.example", "misapret.fr"]
    html = client.get(wizard_url("idp-settings")).content.decode()
    assert "misapret.example, misapret.fr" in html and SECRET not in html


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "plain"),
    [
        ("not https", "The issuer must be an https:// address"),
        ("private address", "is on a private or internal network, which we never call"),
        ("unreachable", "We could not reach your identity provider at 127.0.0.1"),
        ("unknown host", "We could not find the server idp.does-not-exist.invalid"),
        ("issuer mismatch", "it names another issuer than the one you typed"),
        ("no discovery document", "We found no OpenID Connect discovery document at"),
    ],
)
def test_discovery_problems_are_said_in_plain_words_and_nothing_is_saved(
    client, wizard_url, okta, idp, settings, case, plain
):
    issuer = idp.issuer
    if case == "not https":
        issuer = issuer.replace("https://", "http://")
    elif case == "private address":
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = False
    elif case == "unreachable":
        issuer = f"https://127.0.0.1:{_closed_port()}"
    elif case == "unknown host":
        issuer = "https://idp.does-not-exist.invalid"
    elif case == "issuer mismatch":
        idp.discovery_overrides = {"issuer": "https://other-issuer.example"}
    elif case == "no discovery document":
        issuer = f"{idp.issuer}/nothing-here"
    response = client.post(
        wizard_url("idp-settings"), {"issuer": issuer, "client_id": "gw-client", "client_secret": SECRET}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert escape(plain) in html, html[html.find("error-summary") :][:1500]
    assert 'href="#id_issuer"' in html and "autofocus" in html
    assert SECRET not in html  # a refused form does not send the secret back either
    assert 'value="gw-client"' in html  # the rest of what was typed stays
    okta.refresh_from_db()
    assert (okta.oidc_issuer, okta.oidc_client_id, okta.oidc_client_secret_encrypted) == ("", "", "")
    assert "idp_settings" not in onboarding_of(okta).steps_done


@pytest.mark.django_db
def test_the_idp_settings_page_is_in_french(client, wizard_url, okta, idp):
    response = client.post(
        f"{wizard_url('idp-settings')}?locale=fr",
        {"issuer": idp.issuer.replace("https://", "http://"), "client_id": "gw", "client_secret": SECRET},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert escape("L'émetteur doit être une adresse https://") in html
    assert "Secret client (Client secret)" in html and "Vérifier et enregistrer" in html
    html = client.get(wizard_url("create-app")).content.decode()
    assert "Notre URI de redirection" in html


# --- claims ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_claim_mapping_starts_from_the_standard_claims_and_saves(client, wizard_url, configured):
    html = client.get(wizard_url("attribute-mapping")).content.decode()
    assert "Map the claims" in html and 'value="given_name"' in html and 'value="family_name"' in html
    response = client.post(
        wizard_url("attribute-mapping"), {"email": "email", "given_name": "first", "family_name": ""}
    )
    assert response.status_code == 303 and response["Location"] == wizard_url("test-login")
    configured.refresh_from_db()
    assert configured.attribute_mapping == {"email": "email", "given_name": "first", "family_name": "family_name"}
    response = client.post(wizard_url("attribute-mapping"), {"email": ""})
    assert response.status_code == 400


# --- live test login and activation ----------------------------------------------------------------------


def start_test(client, wizard_url, connection) -> dict:
    response = client.post(wizard_url("test-login"), {"nav": "next"})
    assert response.status_code == 303
    assert response["Location"].startswith(f"/sso/start/{connection.id}?")
    response = client.get(response["Location"])
    assert response.status_code == 302, response.content[:1000]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


@pytest.mark.django_db
def test_a_live_test_login_shows_the_claims_signs_nobody_in_then_activation(client, wizard_url, configured, idp):
    assert client.post(wizard_url("activate"), {"nav": "next"}).status_code == 400  # not tested yet
    params = start_test(client, wizard_url, configured)
    assert params["redirect_uri"] == f"http://testserver/sso/oidc/callback/{configured.id}"
    idp.token_response = {
        "access_token": "at-1",
        "token_type": "Bearer",
        "id_token": idp.sign(idp.claims(client_id="gw-client", nonce=params["nonce"])),
    }
    response = client.get(f"/sso/oidc/callback/{configured.id}", {"code": "c-1", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == wizard_url("test-result")
    html = client.get(wizard_url("test-result")).content.decode()
    assert "The test login worked" in html
    assert "alice@example.com" in html and "Liddell" in html and "user-123" in html
    assert "From the claim" in html and "Subject (sub)" in html and "<code>family_name</code>" in html
    assert not User.objects.exists() and not Identity.objects.exists()
    configured.refresh_from_db()
    assert configured.last_successful_test_at is not None and not configured.active

    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 303 and response["Location"] == wizard_url("done")
    configured.refresh_from_db()
    assert configured.active
    html = client.get(wizard_url("done")).content.decode()
    assert "client secret expires" in html
    body = progress(onboarding_of(configured))
    done = {step["key"] for step in body["steps"] if step["done"]}
    assert body["state"] == "completed" and {"idp_settings", "test_login", "activate"} <= done


@pytest.mark.django_db
def test_a_refused_test_login_names_the_redirect_uri_and_the_settings_step(client, wizard_url, configured, idp):
    params = start_test(client, wizard_url, configured)
    idp.token_response = None  # the IdP refuses the code (wrong secret, or another redirect URI)
    client.get(f"/sso/oidc/callback/{configured.id}", {"code": "c-1", "state": params["state"]})
    html = client.get(wizard_url("test-result")).content.decode()
    assert "The test login was refused" in html and "oidc_token_request_failed" in html
    assert f"http://testserver/sso/oidc/callback/{configured.id}" in html
    assert f'href="{wizard_url("idp-settings")}"' in html
    configured.refresh_from_db()
    assert configured.last_successful_test_at is None


# --- the whole path in headless Chromium, against oidc-provider --------------------------------------------


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


@pytest.fixture
def tls_page(chromium):
    # oidc-provider's certificate is self-signed for 127.0.0.1: the gateway gets it as its CA bundle,
    # the admin's browser just accepts it.
    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.mark.browser
@pytest.mark.peer
@pytest.mark.django_db(transaction=True)
def test_it_admin_sets_up_okta_oidc_tests_and_activates_then_a_user_signs_in(
    live_server, settings, app_server, chromium, tls_page
):
    from django.core import mail

    from applications.services import application_create
    from connections.services import connection_create
    from onboarding.services import onboarding_invite
    from onboarding.tasks import send_invitation
    from organizations import services as directory
    from scripts.demo import demo_app
    from tests.peers.oidc_op import run_oidc_op

    page = tls_page
    settings.BASE_URL = live_server.url
    app_url, holder = app_server
    org = directory.organization_create(name="Misapret", locality="Paris")
    app, app_secret = application_create(
        organization=org,
        name="Misapret Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[f"{app_url}/callback"],
    )
    connection = connection_create(organization=org, application=app)
    invitation, _token = onboarding_invite(connection=connection, email="it@misapret.example")
    assert send_invitation.apply(kwargs={"invitation_id": invitation.id}).get() == "sent"
    [email] = [message for message in mail.outbox if message.to == ["it@misapret.example"]]
    link = re.search(rf"{re.escape(live_server.url)}/onboarding/[\w-]+/", email.body).group(0)

    # 1. The link from the email; Okta, the OpenID Connect way.
    page.goto(link)
    page.get_by_label("Okta (OpenID Connect)", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()

    # 2. Our redirect URI, read from the page, is what the IdP registers for its client.
    page.wait_for_url("**/create-app")
    page.get_by_text("Sign-in redirect URIs").first.wait_for()
    redirect_uri = (
        page.locator(".value")
        .filter(has=page.locator(".name", has_text="Redirect URI"))
        .locator(".copy-source")
        .first.inner_text()
        .strip()
    )
    assert redirect_uri == f"{live_server.url}/sso/oidc/callback/{connection.id}"
    clients = [{"client_id": "misapret-portal", "client_secret": SECRET, "redirect_uris": [redirect_uri]}]
    with run_oidc_op(clients=clients) as op:
        settings.OIDC_CA_BUNDLE = op.ca_file
        settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = True  # the peer listens on 127.0.0.1
        page.get_by_role("button", name="I have created the application: continue").click()

        # 3. Issuer, client id and secret; the discovery check reads the peer's document.
        page.wait_for_url("**/idp-settings")
        page.get_by_label("Issuer URL").fill(op.issuer)
        page.get_by_label("Client ID").fill("misapret-portal")
        page.get_by_label("Client secret").fill(SECRET)
        page.get_by_role("button", name="Check and save").click()
        page.get_by_role("heading", name="Your identity provider answered").wait_for()
        assert SECRET not in page.content()
        page.get_by_role("link", name="This is right: continue").click()

        # 4. The standard claims, kept.
        page.wait_for_url("**/attribute-mapping")
        assert page.get_by_label("Given name").input_value() == "given_name"
        page.get_by_role("button", name="Save and continue").click()

        # 5. The live test login through the peer's login form, back to the wizard with the claims.
        page.wait_for_url("**/test-login")
        page.get_by_role("button", name="Start the test login").click()
        page.wait_for_url(f"{op.issuer}/interaction/**")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice-password")
        page.locator("#sign-in").click()
        page.wait_for_url("**/test-result")
        page.get_by_role("heading", name="The test login worked").wait_for()
        html = page.content()
        assert "alice@example.com" in html and "Liddell" in html and "sub-alice" in html
        assert not User.objects.exists()  # a test signs nobody in

        # 6. Activation.
        page.get_by_role("link", name="Continue to the activation").click()
        page.wait_for_url("**/activate")
        page.get_by_role("button", name="Activate the connection").click()
        page.wait_for_url("**/done")
        page.get_by_role("heading", name="Done: single sign-on is on").wait_for()
        connection.refresh_from_db()
        assert connection.active and connection.protocol == "oidc"

        # An end user, in their own browser: the app -> authorize -> the peer -> our callback -> the app with a code.
        holder["app"] = demo_app(
            {"domain": org.domain, "client_id": app.client_id, "client_secret": app_secret, "idp_id": connection.id},
            gateway=live_server.url,
            app_url=app_url,
        )
        context = chromium.new_context(ignore_https_errors=True)
        user_page = context.new_page()
        user_page.set_default_timeout(20_000)
        try:
            user_page.goto(app_url)
            user_page.get_by_role("link", name="Sign in with my company's SSO").click()
            user_page.wait_for_url(f"{op.issuer}/interaction/**")
            user_page.get_by_label("Username").fill("bob")
            user_page.get_by_label("Password").fill("bob-password")
            user_page.locator("#sign-in").click()
            user_page.wait_for_url(f"{app_url}/callback?**")
            assert "code=" in user_page.url
            id_token = json.loads(user_page.locator("#id-token").inner_text())
        finally:
            context.close()

    user = User.objects.get(organization=org)
    assert user.email == "bob@example.com"
    assert id_token["sub"] == str(user.pk) and id_token["sci"] == connection.id and id_token["ips"] == "okta_oidc"
    assert Identity.objects.get(user=user).subject == "sub-bob"
    assert SSOConnection.objects.get(pk=connection.pk).provider_type == "okta_oidc"
