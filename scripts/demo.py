"""`make demo`: the gateway on its embedded default, a demo organization with an application and a
SAML connection to a local test IdP (the samlify peer the tests use), and a tiny demo app that signs a
user in through the gateway with authorization code + PKCE and shows the decoded tokens.

    gateway   http://127.0.0.1:8000   (admin at /admin/)
    demo app  http://127.0.0.1:8001   (an OAuth client of the gateway, like your SaaS app)
    test IdP  http://127.0.0.1:8002   (plays the customer's identity provider; users alice and bob)
"""

import base64
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptr_sso.settings")

GATEWAY = "http://127.0.0.1:8000"
APP = "http://127.0.0.1:8001"
IDP_PORT = 8002
DOMAIN_NAME = "Demo Corp"


def seed() -> dict:
    import django

    django.setup()
    from applications.models import Application
    from applications.services import application_create
    from connections.models import SSOConnection
    from connections.services import connection_create
    from organizations.models import Organization
    from organizations.services import organization_create

    org = Organization.objects.filter(name=DOMAIN_NAME).first() or organization_create(
        name=DOMAIN_NAME, locality="Paris", allowed_email_domains=["example.com"]
    )
    app = Application.objects.filter(organization=org, name="Demo app").first()
    secret = secrets.token_urlsafe(32)
    if app is None:
        app, secret = application_create(
            organization=org,
            name="Demo app",
            application_type="regular_web",
            allowed_redirect_uris_after_login=[f"{APP}/callback"],
            allowed_redirect_uris_after_logout=[f"{APP}/"],
        )
    else:  # the secret was shown once at creation: give the demo a fresh one at every start
        app.client_secret = secret
        app.save()
    connection = SSOConnection.objects.filter(organization=org).first() or connection_create(
        organization=org, application=app, provider_type="generic_saml"
    )
    return {"domain": org.domain, "client_id": app.client_id, "client_secret": secret, "idp_id": connection.id}


def configure_idp(idp_id: str, metadata_xml: str) -> None:
    from connections.models import SSOConnection
    from connections.services import connection_update

    connection = SSOConnection.objects.get(pk=idp_id)
    connection_update(
        connection=connection,
        data={
            "saml_config": {"idp_metadata_xml": metadata_xml},
            "bypass_it_admin_test": True,
            "active": True,
        },
    )


def start_idp(idp_id: str) -> tuple[subprocess.Popen, str]:
    server = ROOT / "tests/peers/saml-idp/server.mjs"
    process = subprocess.Popen(
        ["node", str(server), "--port", str(IDP_PORT), "--sp-metadata-url", f"{GATEWAY}/sso/sp/metadata/{idp_id}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=server.parent,
    )
    ready = json.loads(process.stdout.readline() or "{}")
    if "metadata_url" not in ready:
        sys.exit("The test IdP did not start: run `npm ci --prefix tests/peers/saml-idp` (make demo does).")
    with urllib.request.urlopen(ready["metadata_url"], timeout=10) as response:
        return process, response.read().decode()


# --- the demo app: an OAuth 2.0 / OIDC client of the gateway -------------------------------------------


def demo_app(conf: dict, *, gateway: str = GATEWAY, app_url: str = APP):
    """A WSGI app: `/login` starts authorization code + PKCE at the gateway, `/callback` exchanges the
    code with the client secret and shows the decoded tokens and the userinfo."""
    issuer = f"{gateway}/t/{conf['domain']}"
    callback = f"{app_url}/callback"
    pending: dict[str, dict] = {}

    def page(body: str) -> list[bytes]:
        return [
            f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo app</title>
<style>body{{font:16px/1.5 system-ui;max-width:60rem;margin:2rem auto;padding:0 1rem}}
pre{{background:#f4f5f7;padding:1rem;overflow:auto;border-radius:6px}}</style></head>
<body><h1>Demo app</h1>{body}</body></html>""".encode()
        ]

    def decode(jwt: str) -> dict:
        payload = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    def app(environ, start_response):
        path, query = environ["PATH_INFO"], parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/login":
            state, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            pending[state] = {"verifier": verifier}
            location = f"{issuer}/oauth2/authorize?" + urlencode(
                {
                    "response_type": "code",
                    "client_id": conf["client_id"],
                    "redirect_uri": callback,
                    "scope": "openid email profile",
                    "state": state,
                    "nonce": secrets.token_urlsafe(16),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "idp_id": conf["idp_id"],
                }
            )
            start_response("302 Found", [("Location", location)])
            return [b""]
        if path == "/callback":
            state = query.get("state", [""])[0]
            if "error" in query or state not in pending:
                start_response("400 Bad Request", [("Content-Type", "text/html; charset=utf-8")])
                return page(f"<p>Sign-in failed: {escape(str(query))}</p><p><a href='/login'>Try again</a></p>")
            data = urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "redirect_uri": callback,
                    "code_verifier": pending.pop(state)["verifier"],
                    "client_id": conf["client_id"],
                    "client_secret": conf["client_secret"],
                }
            ).encode()
            with urllib.request.urlopen(f"{issuer}/oauth2/token", data=data, timeout=10) as response:
                tokens = json.loads(response.read())
            request = urllib.request.Request(
                f"{issuer}/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                userinfo = json.loads(response.read())
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return page(
                f"<p>Signed in as <strong>{escape(userinfo.get('email', '?'))}</strong> through the SSO "
                f"connection <code>{escape(conf['idp_id'])}</code>.</p>"
                f"<h2>ID token</h2><pre id='id-token'>{escape(json.dumps(decode(tokens['id_token']), indent=2))}</pre>"
                f"<h2>Access token</h2><pre id='access-token'>"
                f"{escape(json.dumps(decode(tokens['access_token']), indent=2))}</pre>"
                f"<h2>Userinfo</h2><pre>{escape(json.dumps(userinfo, indent=2))}</pre>"
                f"<p><a href='/login'>Sign in again</a></p>"
            )
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return page(
            "<p>An app of the SaaS company, signing its customers' employees in through the gateway.</p>"
            "<p><a href='/login'>Sign in with my company's SSO</a></p>"
        )

    return app


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    conf = seed()
    idp, metadata_xml = start_idp(conf["idp_id"])
    configure_idp(conf["idp_id"], metadata_xml)
    gateway = subprocess.Popen([sys.executable, "manage.py", "runserver", "127.0.0.1:8000", "--noreload"], cwd=ROOT)
    server = make_server("127.0.0.1", 8001, demo_app(conf), handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(*_):
        server.shutdown()
        for process in (gateway, idp):
            process.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    time.sleep(2)
    print(
        f"""
  Demo ready. Open this link, sign in at the test IdP as alice / alice-password (or bob / bob-password),
  and the demo app shows the tokens the gateway issued:

      {APP}/login

  Organization '{DOMAIN_NAME}' (domain {conf["domain"]}), SSO connection {conf["idp_id"]},
  issuer {GATEWAY}/t/{conf["domain"]}. Ctrl-C stops everything.
""",
        flush=True,
    )
    try:
        gateway.wait()
    except KeyboardInterrupt:
        stop()


if __name__ == "__main__":
    main()
