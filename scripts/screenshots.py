"""`make screenshots`: a PNG of every page of the IT admin's onboarding wizard, for SAML (Okta and Microsoft
Entra ID) and OpenID Connect (Okta over OIDC, plus the guides of Entra ID and Google Workspace over OIDC), the
invitation email, and the page of a sign-out refused at the gateway, into ./screenshots/, so a person can review
the pages without running the flow.

It runs a throwaway gateway (embedded default: SQLite and keys in a temporary directory, in-process tasks,
mail kept in memory) with `manage.py runserver`, the test suite's peers as the customer's IdPs (samlify for
SAML, panva's oidc-provider for OpenID Connect, whose self-signed certificate the gateway is given as its CA
bundle) and Debian's chromium through Playwright. Each walk goes through the real flow, live test login
included; the OIDC guides of Entra ID and Google need no live IdP (their issuers are Microsoft's and Google's).

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--providers okta,azure_ad]
        [--oidc-providers okta_oidc] [--oidc-guides entra_id_oidc,google_oidc]
"""

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DESKTOP = {"width": 1280, "height": 900}
IDP_USERS = [
    {
        "username": "alice",
        "password": "alice-password",
        "email": "alice@example.com",
        "attributes": {
            "email": "alice@example.com",
            "firstName": "Alice",
            "lastName": "Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "groups": ["staff", "wonderland"],
        },
    },
    {
        "username": "carol",
        "password": "carol-password",
        "email": "carol@elsewhere.example",
        "attributes": {"email": "carol@elsewhere.example", "firstName": "Carol", "lastName": "Other"},
    },
]
PHONE = {"width": 390, "height": 844}
OIDC_CLIENT_ID = "misapret-portal"
OIDC_CLIENT_SECRET = "screenshots-client-secret-" + "s" * 24  # the peer's client, in a throwaway run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the gateway did not answer at {url}")


def configure_environment(var_dir: str, base_url: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "CRYPTR_VAR_DIR": var_dir,
            "BASE_URL": base_url,
            "DJANGO_SETTINGS_MODULE": "cryptr_sso.settings",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous.
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        }
    )
    os.environ.clear()
    os.environ.update(env)
    return env


def seed(provider: str, app_name: str, org_name: str):
    from applications.services import application_create
    from connections.services import connection_create
    from onboarding.services import onboarding_invite
    from organizations.services import organization_create

    # Only example.com people may sign in: carol@elsewhere.example shows what a refused test login looks like.
    org = organization_create(name=org_name, locality="Paris", allowed_email_domains=["example.com"])
    app, _secret = application_create(
        organization=org,
        name=app_name,
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.example/callback"],
    )
    connection = connection_create(organization=org, application=app)
    invitation, token = onboarding_invite(connection=connection, email=f"it@{org.domain}.example", locale="en")
    return connection, invitation, token


def shoot(page, out: Path, name: str, *, full_page: bool = True) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def walk(chromium, gateway: str, provider: str, label: str, token: str, out: Path) -> None:
    """The wizard, step by step, as the IT admin sees it; the IdP is the samlify peer."""
    from tests.peers.saml_idp import run_saml_idp

    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    prefix = f"{provider}-"
    base = f"{gateway}/onboarding/{token}"
    page.goto(f"{base}/")
    shoot(page, out, prefix + "01-choose-provider")
    page.get_by_role("button", name="Save and continue").click()  # nothing chosen: the error summary
    shoot(page, out, prefix + "01b-choose-provider-error")
    page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/create-app")
    shoot(page, out, prefix + "02-create-app")
    metadata_url = (
        page.locator(".value")
        .filter(has=page.locator(".name", has_text="Metadata URL"))
        .locator(".copy-source")
        .first.inner_text()
        .strip()
    )

    with run_saml_idp(sp_metadata_url=metadata_url, users=IDP_USERS) as idp:
        page.get_by_role("button", name="I have created the application: continue").click()
        page.wait_for_url("**/idp-metadata")
        shoot(page, out, prefix + "03-idp-metadata")
        page.get_by_text("Upload or paste the metadata XML").click()
        page.get_by_label("Or paste the metadata XML").fill("<md:EntityDescriptor xmlns:md=")
        page.locator("details", has_text="Upload or paste").get_by_role("button", name="Read the metadata").click()
        shoot(page, out, prefix + "03b-idp-metadata-error")
        page.get_by_label("Or paste the metadata XML").fill(idp.metadata_xml())
        page.locator("details", has_text="Upload or paste").get_by_role("button", name="Read the metadata").click()
        page.get_by_role("heading", name="What we understood").wait_for()
        shoot(page, out, prefix + "03c-idp-metadata-understood")
        page.get_by_role("link", name="This is right: continue").click()
        page.wait_for_url("**/attribute-mapping")
        if provider == "azure_ad":
            # The peer sends short attribute names; an Entra ID tenant sends the claim URIs prefilled here.
            shoot(page, out, prefix + "04-attribute-mapping")
            page.get_by_label("Email address").fill("email")
            page.get_by_label("Given name").fill("given_name")
            page.get_by_label("Family name").fill("family_name")
        else:
            shoot(page, out, prefix + "04-attribute-mapping")
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url("**/test-login")
        shoot(page, out, prefix + "05-test-login")
        page.get_by_role("button", name="Start the test login").click()
        page.wait_for_url(f"{idp.base_url}/**")
        shoot(page, out, prefix + "05b-idp-login-form")
        # First as someone the organization does not let in: the refusal, as the admin reads it.
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill("carol-password")
        page.locator("#login").click()
        page.wait_for_url("**/test-result")
        shoot(page, out, prefix + "05c-test-refused")
        page.get_by_role("button", name="Run the test login again").click()
        page.wait_for_url(f"{idp.base_url}/**")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice-password")
        page.locator("#login").click()
        page.wait_for_url("**/test-result")
        shoot(page, out, prefix + "05d-test-result")
    page.get_by_role("link", name="Continue to the activation").click()
    page.wait_for_url("**/activate")
    shoot(page, out, prefix + "06-activate")
    page.get_by_role("button", name="Activate the connection").click()
    page.wait_for_url("**/done")
    shoot(page, out, prefix + "07-done")
    context.close()


def oidc_walk(chromium, gateway: str, provider: str, label: str, token: str, out: Path, op) -> None:
    """The OpenID Connect path of the wizard, step by step; the IdP is the oidc-provider peer (`op`), started
    before the gateway so that the gateway trusts its certificate."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US", ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    prefix = f"{provider}-"
    page.goto(f"{gateway}/onboarding/{token}/")
    page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/create-app")
    shoot(page, out, prefix + "02-create-app")
    page.get_by_role("button", name="I have created the application: continue").click()
    page.wait_for_url("**/idp-settings")
    shoot(page, out, prefix + "03-idp-settings")
    page.get_by_label("Issuer URL").fill(f"{op.issuer}/not-an-issuer")
    page.get_by_label("Client ID").fill(OIDC_CLIENT_ID)
    page.get_by_label("Client secret").fill(OIDC_CLIENT_SECRET)
    page.get_by_role("button", name="Check and save").click()
    page.locator(".error, [role=alert]").first.wait_for()
    shoot(page, out, prefix + "03b-idp-settings-error")
    page.get_by_label("Issuer URL").fill(op.issuer)
    page.get_by_label("Client secret").fill(OIDC_CLIENT_SECRET)
    page.get_by_role("button", name="Check and save").click()
    page.get_by_role("heading", name="Your identity provider answered").wait_for()
    shoot(page, out, prefix + "03c-idp-settings-checked")
    page.get_by_role("link", name="This is right: continue").click()
    page.wait_for_url("**/attribute-mapping")
    shoot(page, out, prefix + "04-claim-mapping")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/test-login")
    shoot(page, out, prefix + "05-test-login")
    page.get_by_role("button", name="Start the test login").click()
    page.wait_for_url(f"{op.issuer}/interaction/**")
    shoot(page, out, prefix + "05b-idp-login-form")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password")
    page.locator("#sign-in").click()
    page.wait_for_url("**/test-result")
    page.get_by_role("heading", name="The test login worked").wait_for()
    shoot(page, out, prefix + "05d-test-result")
    page.get_by_role("link", name="Continue to the activation").click()
    page.wait_for_url("**/activate")
    shoot(page, out, prefix + "06-activate")
    page.get_by_role("button", name="Activate the connection").click()
    page.wait_for_url("**/done")
    shoot(page, out, prefix + "07-done")
    context.close()


def oidc_guides(chromium, gateway: str, guides: list[tuple[str, str, str]], out: Path) -> None:
    """The OIDC pages that need no live IdP: the guide with our redirect URIs, and the IdP settings form
    (Entra ID asks for its tenant, Google's issuer is filled in)."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    for provider, label, token in guides:
        page.goto(f"{gateway}/onboarding/{token}/?locale=en")  # the French page before chose French
        page.get_by_label(label, exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url("**/create-app")
        shoot(page, out, f"{provider}-02-create-app")
        page.get_by_role("button", name="I have created the application: continue").click()
        page.wait_for_url("**/idp-settings")
        shoot(page, out, f"{provider}-03-idp-settings")
        page.goto(f"{gateway}/onboarding/{token}/create-app?locale=fr")
        shoot(page, out, f"fr-{provider}-create-app")
    context.close()


def logout_refused(chromium, gateway: str, idp_id: str, out: Path) -> None:
    """What a person sees when the IdP sends them back from a sign-out this browser did not start (the state
    is checked at /sso/oidc/logout/callback)."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.goto(f"{gateway}/sso/oidc/logout/callback/{idp_id}?state=not-from-this-browser")
    shoot(page, out, "oidc-logout-state-refused")
    context.close()


def extras(chromium, gateway: str, token: str, out: Path) -> None:
    """French, a phone, and the page of a link that no longer works."""
    context = chromium.new_context(viewport=DESKTOP, locale="fr-FR", extra_http_headers={"Accept-Language": "fr"})
    page = context.new_page()
    for slug in ("choose-provider", "create-app", "idp-metadata"):
        page.goto(f"{gateway}/onboarding/{token}/{slug}?locale=fr")
        shoot(page, out, f"fr-{slug}")
    page.goto(f"{gateway}/onboarding/expired-or-unknown-token/?locale=fr")
    shoot(page, out, "fr-link-unknown")
    context.close()
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    for slug in ("choose-provider", "create-app", "idp-metadata", "test-result"):
        page.goto(f"{gateway}/onboarding/{token}/{slug}?locale=en")
        shoot(page, out, f"phone-{slug}")
    context.close()


def invitation_emails(chromium, out: Path, invitation, token: str) -> None:
    from onboarding.tasks import render_invitation

    context = chromium.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    for locale in ("en", "fr"):
        invitation.locale = locale
        message = render_invitation(invitation, token)
        html = next(content for content, mimetype in message.alternatives if mimetype == "text/html")
        page.set_content(html)
        shoot(page, out, f"invitation-email-{locale}")
        page.set_content(
            f"<pre style='font:14px/1.5 monospace;white-space:pre-wrap;padding:1rem'>"
            f"Subject: {escape(message.subject)}\n\n{escape(message.body)}</pre>"
        )
        shoot(page, out, f"invitation-email-{locale}-text")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--providers", default="okta,azure_ad", help="SAML walks")
    parser.add_argument("--oidc-providers", default="okta_oidc", help="OpenID Connect walks (a typed issuer)")
    parser.add_argument(
        "--oidc-guides",
        default="entra_id_oidc,google_oidc",
        help="OpenID Connect providers whose guide and settings pages are shown without a walk",
    )
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"

    with tempfile.TemporaryDirectory(prefix="wizard-screenshots-") as var_dir, contextlib.ExitStack() as stack:
        env = configure_environment(var_dir, gateway)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)
        from connections.providers import PROVIDERS

        walks, oidc_walks, guides = [], [], []
        for index, provider in enumerate(args.providers.split(",") if args.providers else []):
            connection, invitation, token = seed(
                provider, app_name="Misapret Portal", org_name=f"Misapret {index + 1}" if index else "Misapret"
            )
            walks.append((provider, PROVIDERS[provider].label, connection, invitation, token))
        for index, provider in enumerate(args.oidc_providers.split(",") if args.oidc_providers else []):
            connection, _invitation, token = seed(
                provider, app_name="Misapret Portal", org_name=f"Misapret OIDC {index + 1}"
            )
            oidc_walks.append((provider, PROVIDERS[provider].label, connection, token))
        for index, provider in enumerate(args.oidc_guides.split(",") if args.oidc_guides else []):
            _connection, _invitation, token = seed(
                provider, app_name="Misapret Portal", org_name=f"Misapret guide {index + 1}"
            )
            guides.append((provider, PROVIDERS[provider].label, token))

        op = None
        if oidc_walks:
            from tests.peers.oidc_op import run_oidc_op

            # The IdP's client: our redirect and post-logout redirect URIs of every OIDC walk's connection.
            op = stack.enter_context(
                run_oidc_op(
                    clients=[
                        {
                            "client_id": OIDC_CLIENT_ID,
                            "client_secret": OIDC_CLIENT_SECRET,
                            "redirect_uris": [f"{gateway}/sso/oidc/callback/{c.id}" for _p, _l, c, _t in oidc_walks],
                            "post_logout_redirect_uris": [
                                f"{gateway}/sso/oidc/logout/callback/{c.id}" for _p, _l, c, _t in oidc_walks
                            ],
                        }
                    ]
                )
            )
            # The peer's certificate is self-signed, on 127.0.0.1: the gateway trusts it for this run only.
            env.update({"SAML_METADATA_CA_BUNDLE": op.ca_file, "OIDC_DISCOVERY_ALLOW_PRIVATE_URLS": "true"})

        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"{gateway}/healthz")
            from playwright.sync_api import sync_playwright

            from tests.browser import CHROMIUM_ARGS, chromium_path

            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                try:
                    if walks:
                        first = walks[0]
                        invitation_emails(chromium, out, first[3], first[4])
                    for provider, label, _connection, _invitation, token in walks:
                        print(f"{label}:")
                        walk(chromium, gateway, provider, label, token, out)
                    if walks:
                        extras(chromium, gateway, walks[0][4], out)
                    for provider, label, _connection, token in oidc_walks:
                        print(f"{label}:")
                        oidc_walk(chromium, gateway, provider, label, token, out, op)
                    if guides:
                        print("OpenID Connect guides:")
                        oidc_guides(chromium, gateway, guides, out)
                    if oidc_walks:
                        print("Sign-out:")
                        logout_refused(chromium, gateway, oidc_walks[0][2].id, out)
                finally:
                    chromium.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"Screenshots in {out}")


if __name__ == "__main__":
    main()
