#!/usr/bin/env python3
"""SAML logins and code-for-token exchanges per second, against a real server (one gunicorn worker).

    .venv/bin/python benchmarks/saml_logins.py                     # 500 logins (public client, PKCE)
                                                                   # + 100 (confidential client)
    .venv/bin/python benchmarks/saml_logins.py --logins 200 --confidential-logins 30   # a quick run
    .venv/bin/python benchmarks/saml_logins.py --profile var/bench-saml-profile        # + py-spy
    .venv/bin/python benchmarks/saml_logins.py --breakdown   # SQL, Redis and CPU per request, in-process
    .venv/bin/python benchmarks/saml_logins.py --breakdown --show-sql   # + each request's SQL and Redis commands
    .venv/bin/python benchmarks/saml_logins.py --breakdown --cprofile ACS   # + cProfile of the requests named ACS...
    make bench-saml BENCH_ARGS="--logins 200"

What it does, in order:
  1. creates the PostgreSQL database `cryptr_bench_saml` if missing and migrates it;
  2. through the real services, (re)creates an organization with a public application (PKCE) and a
     confidential one (client secret), a SAML connection (organizations.services.organization_create,
     applications.services.application_create, connections.services.connection_create, then
     connection_update with the IdP metadata, active and bypass_it_admin_test), and `--users` directory
     users who already signed in through it once (returning users: the common case);
  3. the IdP: an RSA-2048 key and self-signed certificate made by this script (kept in var/), its
     metadata given to the connection; responses are made by pysaml2's IdP (saml2.server.Server) and
     signed in-process with python-xmlsec (rsa-sha256, exclusive c14n; the Response and the Assertion by
     default, see --sign);
  4. starts gunicorn (1 sync worker, CRYPTR_ENV=production, DEBUG off, the same REDIS_URL for the
     replay cache) on 127.0.0.1:8101 and runs the HTTP client in a separate process. For each client
     type (public with PKCE, then confidential), per simulated browser (its own cookies):
       a. untimed: GET /t/<domain>/oauth2/authorize?...&idp_id=... -> 302 /sso/start/<idp_id> -> 302 to
          the IdP with a signed AuthnRequest, whose ID is read back (this phase's rate is shown too:
          it is the other half of a full login's server cost);
       b. untimed: one signed Response per browser (unique assertion ID, InResponseTo = that browser's
          AuthnRequest ID, Destination/Recipient = the ACS, Audience = the SP entity ID);
       c. timed, "login": POST /sso/sp/consume/<idp_id> -> 302 to the authorize URL -> GET it -> 302 to
          the application's redirect_uri with ?code= (two requests per login);
       d. timed, "token exchange": POST /t/<domain>/oauth2/token with each code (+ code_verifier for the
          public client, + HTTP Basic client_id:client_secret for the confidential one) -> 200 with an
          access token and an ID token.
     b, c and d run in rounds of --round-size browsers (signing, logins, then their exchanges), so every
     code is exchanged well within its 60 s; the figures add the rounds up.
     The client uses http.client with a few threads (one connection each; gunicorn's sync worker closes
     it after every response), so the one worker always has a request waiting. Besides latency and
     rates it reads the CPU time of the gunicorn worker and of its PostgreSQL backends (/proc);
  5. stops gunicorn and prints a table.

Only 127.0.0.1 is contacted.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_users import _percentile, ensure_database, port_in_use, server_cpu, stop_gunicorn  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/cryptr_bench_saml"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
ORG_NAME = "Bench SAML logins"
EMAIL_DOMAIN = "bench-saml.example"
REDIRECT_URI = "https://app.bench-saml.example/callback"
IDP_ENTITY_ID = "https://idp.bench-saml.example/metadata"
IDP_SSO_URL = "https://idp.bench-saml.example/sso"  # never contacted: the client reads the redirect
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"


def log(message: str) -> None:
    print(f"[bench-saml {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- keys kept in var/ ---------------------------------------------------------------------------------


def _key_and_certificate(path: Path, common_name: str, key_size: int) -> tuple[str, str]:
    """A private key and its self-signed certificate (PEM), made once and kept in `path` (0600)."""
    if not path.exists():
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            + certificate.public_bytes(serialization.Encoding.PEM).decode()
        )
        path.chmod(0o600)
    text = path.read_text()
    end = text.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----")
    return text[:end].strip() + "\n", text[end:].strip() + "\n"


def idp_key_pair() -> tuple[str, str]:
    return _key_and_certificate(ROOT / "var" / "bench-saml-idp.pem", "Bench SAML IdP", 2048)


def sp_key_pair() -> tuple[str, str]:
    # Production settings require the SP pair in the environment (every process signs with it).
    return _key_and_certificate(ROOT / "var" / "bench-saml-sp.pem", "Bench SAML SP", 3072)


def oidc_signing_key() -> str:
    from api_users import bench_signing_key

    return bench_signing_key()


def server_env(args) -> dict[str, str]:
    sp_key, sp_cert = sp_key_pair()
    return {
        "DJANGO_SETTINGS_MODULE": "cryptr_sso.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": "cryptr-bench-saml",
        "CRYPTR_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-" + "y" * 40,
        "OIDC_RSA_PRIVATE_KEY": oidc_signing_key(),
        "SAML_SP_PRIVATE_KEY": sp_key,
        "SAML_SP_CERTIFICATE": sp_cert,
        "BASE_URL": f"http://127.0.0.1:{args.port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }


# --- the HTTP client (its own process: `saml_logins.py --client SPEC.json`) -----------------------------


class Browser:
    """One simulated browser: its cookies, sent on every request (the Secure saml_session cookie too:
    browsers count 127.0.0.1 as a secure context)."""

    def __init__(self, number: int = 0):
        self.number = number
        self.cookies: dict[str, str] = {}
        self.verifier = ""
        self.state = secrets.token_urlsafe(12)
        self.request_id = ""
        self.relay_state = ""
        self.saml_response = ""
        self.code = ""

    def keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.msg.get_all("Set-Cookie") or []:
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


class Connection:
    """One http.client connection per thread, reopened when the server closed it."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self,
        method: str,
        path: str,
        *,
        browser: Browser | None = None,
        body: str | None = None,
        headers: dict | None = None,
    ) -> tuple[int, dict, bytes]:
        headers = dict(headers or {})
        if browser is not None and browser.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        if browser is not None:
            browser.keep_cookies(response)
        if response.will_close:
            self.conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


class Failed(Exception):
    pass


def _expect_redirect(status: int, headers: dict, body: bytes, prefix: str, what: str) -> str:
    location = headers.get("location", "")
    if status != 302 or not location.startswith(prefix):
        raise Failed(f"{what}: {status} {location[:80]!r} {body[:200]!r}")
    return location


def _query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def start_login(conn: Connection, browser: Browser, spec: dict, app: dict) -> None:
    """authorize -> /sso/start -> the IdP, with a signed AuthnRequest whose ID is kept."""
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": browser.state,
        "nonce": secrets.token_urlsafe(12),
        "idp_id": spec["idp_id"],
    }
    if app["public"]:
        import hashlib

        browser.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(browser.verifier.encode()).digest()).rstrip(b"=")
        query |= {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    status, headers, body = conn.request(
        "GET", f"/t/{spec['domain']}/oauth2/authorize?{urlencode(query)}", browser=browser
    )
    start = _expect_redirect(status, headers, body, f"/sso/start/{spec['idp_id']}?", "authorize (signed out)")
    status, headers, body = conn.request("GET", start, browser=browser)
    to_idp = _expect_redirect(status, headers, body, IDP_SSO_URL + "?", "/sso/start")
    params = _query(to_idp)
    request_xml = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15).decode()
    match = re.search(r'<(?:\w+:)?AuthnRequest\b[^>]*?\sID="([^"]+)"', request_xml)
    if not match or "Signature" not in params:
        raise Failed("no ID (or no signature) in the AuthnRequest")
    browser.request_id = match.group(1)
    browser.relay_state = params.get("RelayState", "")


def finish_login(conn: Connection, browser: Browser, spec: dict) -> tuple[float, float]:
    """ACS POST -> authorize -> the application's redirect_uri with a code. Returns both latencies."""
    t0 = time.perf_counter()
    status, headers, body = conn.request(
        "POST",
        f"/sso/sp/consume/{spec['idp_id']}",
        browser=browser,
        body=urlencode({"SAMLResponse": browser.saml_response, "RelayState": browser.relay_state}),
    )
    t1 = time.perf_counter()
    authorize = _expect_redirect(status, headers, body, f"/t/{spec['domain']}/oauth2/authorize?", "ACS")
    status, headers, body = conn.request("GET", authorize, browser=browser)
    t2 = time.perf_counter()
    back = _query(_expect_redirect(status, headers, body, REDIRECT_URI + "?", "authorize (signed in)"))
    if back.get("state") != browser.state or not back.get("code"):
        raise Failed("the redirect has no code or another state")
    browser.code = back["code"]
    return t1 - t0, t2 - t1


def exchange(conn: Connection, browser: Browser, spec: dict, app: dict) -> None:
    data = {
        "grant_type": "authorization_code",
        "code": browser.code,
        "redirect_uri": REDIRECT_URI,
        "client_id": app["client_id"],
    }
    headers = {"Accept": "application/json"}
    if app["public"]:
        data["code_verifier"] = browser.verifier
    else:
        credentials = f"{app['client_id']}:{app['client_secret']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    status, _headers, body = conn.request(
        "POST", f"/t/{spec['domain']}/oauth2/token", body=urlencode(data), headers=headers
    )
    if status != 200:
        raise Failed(f"token: {status} {body[:200]!r}")
    tokens = json.loads(body)
    if not (tokens.get("access_token") and tokens.get("id_token")):
        raise Failed("token: no access_token or id_token")


class Idp:
    """pysaml2's IdP (saml2.server.Server) builds the responses; python-xmlsec signs them in-process
    (what `xmlsec1 --sign` does, without a program start per message)."""

    def __init__(self, spec: dict, sp_metadata: str):
        import xmlsec  # noqa: F401 - fail early
        from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
        from saml2.config import IdPConfig
        from saml2.server import Server

        self.spec = spec
        self.files = []
        for content, suffix in ((spec["idp_key"], ".key"), (spec["idp_cert"], ".crt")):
            with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as handle:
                handle.write(content)
            self.files.append(handle.name)
        self.key_pem, self.cert_b64 = (
            spec["idp_key"].encode(),
            "".join(line for line in spec["idp_cert"].splitlines() if not line.startswith("-----")),
        )
        import shutil

        config = IdPConfig().load(
            {
                "entityid": IDP_ENTITY_ID,
                "xmlsec_binary": shutil.which("xmlsec1"),
                "key_file": self.files[0],
                "cert_file": self.files[1],
                "metadata": {"inline": [sp_metadata]},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (IDP_SSO_URL, BINDING_HTTP_REDIRECT),
                                (IDP_SSO_URL, BINDING_HTTP_POST),
                            ]
                        },
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": saml.NAME_FORMAT_UNSPECIFIED,
                            }
                        },
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.lock = threading.Lock()

    def close(self):
        for name in self.files:
            os.unlink(name)

    def response(self, *, in_response_to: str, email: str, given: str, family: str) -> str:
        import xmlsec
        from lxml import etree
        from saml2 import saml, samlp
        from saml2 import xmldsig as ds
        from saml2.sigver import pre_signature_part

        spec = self.spec
        now = datetime.now(UTC)

        def iso(moment):
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        with self.lock:  # pysaml2's Server keeps state (its identity cache)
            response = self.server.create_authn_response(
                {"email": [email], "firstName": [given], "lastName": [family], "groups": ["staff"]},
                in_response_to,
                spec["acs_url"],
                spec["sp_entity_id"],
                name_id=saml.NameID(format=saml.NAMEID_FORMAT_EMAILADDRESS, text=email),
                authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_instant": int(now.timestamp())},
                sign_response=False,
                sign_assertion=False,
            )
        if isinstance(response, str):
            response = samlp.response_from_string(response)
        response.destination = spec["acs_url"]
        assertion = response.assertion[0] if isinstance(response.assertion, list) else response.assertion
        response.assertion = [assertion]
        assertion.conditions.not_before = iso(now - timedelta(minutes=1))
        assertion.conditions.not_on_or_after = iso(now + timedelta(minutes=10))
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            data.recipient = spec["acs_url"]
            data.in_response_to = in_response_to
            data.not_on_or_after = iso(now + timedelta(minutes=10))
            data.not_before = None
        signed = []
        if spec["sign"] in ("assertion", "both"):
            assertion.signature = pre_signature_part(
                assertion.id, self.cert_b64, 1, sign_alg=ds.SIG_RSA_SHA256, digest_alg=ds.DIGEST_SHA256
            )
            signed.append(f"{{{NS_SAML}}}Assertion")
        if spec["sign"] in ("response", "both"):
            response.signature = pre_signature_part(
                response.id, self.cert_b64, 2, sign_alg=ds.SIG_RSA_SHA256, digest_alg=ds.DIGEST_SHA256
            )
            signed.append(f"{{{NS_SAMLP}}}Response")
        root = etree.fromstring(str(response).encode())
        xmlsec.tree.add_ids(root, ["ID"])
        key = xmlsec.Key.from_memory(self.key_pem, xmlsec.constants.KeyDataFormatPem)
        for tag in signed:  # the assertion first: the Response's signature covers it
            element = root if root.tag == tag else root.find(tag)
            context = xmlsec.SignatureContext()
            context.key = key
            context.sign(element.find(f"{{{NS_DS}}}Signature"))
        return base64.b64encode(etree.tostring(root, xml_declaration=True, encoding="UTF-8")).decode()


def run_pool(items: list, concurrency: int, port: int, work, *, time_cap: float | None = None):
    """`work(conn, item)` for every item from `concurrency` threads. Returns (results, errors, wall):
    results are (item, work's return value), errors {reason: count}."""
    lock = threading.Lock()
    queue = list(reversed(items))
    results, errors = [], {}
    started = time.perf_counter()
    deadline = started + time_cap if time_cap else None

    def worker():
        conn = Connection(port)
        while True:
            with lock:
                if not queue or (deadline and time.perf_counter() >= deadline):
                    return
                item = queue.pop()
            try:
                value = work(conn, item)
                with lock:
                    results.append((item, value))
            except Exception as exc:  # counted by reason
                reason = str(exc)[:160] if isinstance(exc, Failed) else type(exc).__name__
                with lock:
                    errors[reason] = errors.get(reason, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors, time.perf_counter() - started


def _summary(
    name: str,
    latencies: list[float],
    errors: dict,
    wall: float,
    cpu: tuple[float, float],
    count: int,
    ok: int | None = None,
    **extra,
) -> dict:
    latencies = sorted(latencies)
    ok = len(latencies) if ok is None else ok
    return {
        "name": name,
        "ok": ok,
        "errors": errors,
        "capped": ok + sum(errors.values()) < count,
        "wall_s": wall,
        "rps": ok / wall if wall else 0.0,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "app_cpu_ms": cpu[0] * 1000 / max(1, ok),
        "db_cpu_ms": cpu[1] * 1000 / max(1, ok),
        **extra,
    }


def run_client(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    port = spec["port"]

    def cpu():
        return server_cpu(spec["server_pid"], spec["db_name"])

    conn = Connection(port)
    status, _headers, sp_metadata = conn.request("GET", f"/sso/sp/metadata/{spec['idp_id']}")
    if status != 200:
        raise SystemExit(f"SP metadata: {status}")
    idp = Idp(spec, sp_metadata.decode())
    rows, phases = [], []
    try:
        for app in spec["apps"]:
            kind = "public + PKCE" if app["public"] else "confidential"
            total = app["logins"] + spec["warmup"]
            browsers = [Browser(i) for i in range(total)]

            # a. authorize + /sso/start for every browser (untimed for the login figure, reported apart)
            before = cpu()
            started, start_errors, wall = run_pool(
                browsers, spec["concurrency"], port, lambda c, b, app=app: start_login(c, b, spec, app)
            )
            after = cpu()
            phases.append(
                _summary(
                    f"authorize + /sso/start, {kind} (not in the login figure)",
                    [],
                    start_errors,
                    wall,
                    (after[0] - before[0], after[1] - before[1]),
                    total,
                    ok=len(started),
                )
            )
            browsers = [b for b, _ in started]

            def sign(batch):
                """b. one signed response per browser of the batch, just before its logins (untimed)."""
                for browser in batch:
                    user = spec["users"][browser.number % len(spec["users"])]
                    browser.saml_response = idp.response(
                        in_response_to=browser.request_id,
                        email=user["email"],
                        given=user["given_name"],
                        family=user["family_name"],
                    )

            def timed_exchange(c, b, app=app):
                t = time.perf_counter()
                exchange(c, b, spec, app)
                return time.perf_counter() - t

            # Warm-up (first use of the SAML client, caches): logins and exchanges, not counted.
            warm, timed = browsers[: spec["warmup"]], browsers[spec["warmup"] :]
            sign(warm)
            for browser in warm:
                finish_login(conn, browser, spec)
            for browser in warm:
                exchange(conn, browser, spec, app)

            # c. and d. in rounds, so that every code is exchanged well within its 60 s.
            login = {"latencies": [], "acs": [], "authorize": [], "errors": {}, "wall": 0.0, "cpu": [0.0, 0.0]}
            token = {"latencies": [], "errors": {}, "wall": 0.0, "cpu": [0.0, 0.0]}
            deadline = time.perf_counter() + spec["time_cap"]
            signing = 0.0
            for first in range(0, len(timed), spec["round_size"]):
                if time.perf_counter() >= deadline:
                    login["errors"]["time cap"] = len(timed) - first
                    break
                batch = timed[first : first + spec["round_size"]]
                t0 = time.perf_counter()
                sign(batch)
                signing += time.perf_counter() - t0
                before = cpu()
                logged_in, errors, wall = run_pool(
                    batch, spec["concurrency"], port, lambda c, b: finish_login(c, b, spec)
                )
                after = cpu()
                login["latencies"] += [a + z for _, (a, z) in logged_in]
                login["acs"] += [a for _, (a, _z) in logged_in]
                login["authorize"] += [z for _, (_a, z) in logged_in]
                login["wall"] += wall
                login["cpu"] = [login["cpu"][i] + after[i] - before[i] for i in (0, 1)]
                for reason, n in errors.items():
                    login["errors"][reason] = login["errors"].get(reason, 0) + n

                before = cpu()
                exchanged, errors, wall = run_pool([b for b, _ in logged_in], spec["concurrency"], port, timed_exchange)
                after = cpu()
                token["latencies"] += [v for _, v in exchanged]
                token["wall"] += wall
                token["cpu"] = [token["cpu"][i] + after[i] - before[i] for i in (0, 1)]
                for reason, n in errors.items():
                    token["errors"][reason] = token["errors"].get(reason, 0) + n
            log(f"{kind}: {len(timed)} responses signed in {signing:.1f} s (untimed)")
            rows.append(
                _summary(
                    f"login, {kind}: ACS POST + authorize -> code",
                    login["latencies"],
                    login["errors"],
                    login["wall"],
                    tuple(login["cpu"]),
                    len(timed),
                    acs_p50_ms=_percentile(sorted(login["acs"]), 0.5) * 1000,
                    authorize_p50_ms=_percentile(sorted(login["authorize"]), 0.5) * 1000,
                )
            )
            rows.append(
                _summary(
                    f"token exchange, {kind}",
                    token["latencies"],
                    token["errors"],
                    token["wall"],
                    tuple(token["cpu"]),
                    len(login["latencies"]),
                )
            )
    finally:
        idp.close()
    print(json.dumps({"rows": rows, "phases": phases}))


# --- setup through the services ---------------------------------------------------------------------


def setup_django(args) -> None:
    os.environ.update(server_env(args))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def idp_metadata(cert_pem: str) -> str:
    body = "".join(line for line in cert_pem.splitlines() if not line.startswith("-----"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    entityID="{IDP_ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      WantAuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO_URL}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def setup_tenant(args) -> dict:
    """A fresh organization (the previous run's is deleted with its users, grants and tokens)."""
    from django.db import connection as db

    from applications.services import application_create
    from connections.selectors import saml_sp_endpoints
    from connections.services import connection_create, connection_update
    from organizations import services as org_services
    from organizations.models import Identity, Organization

    for old in Organization.objects.filter(name=ORG_NAME):
        org_services.organization_delete(organization=old)
    organization = org_services.organization_create(
        name=ORG_NAME, locality="Lyon", country_name="FR", allowed_email_domains=[EMAIL_DOMAIN]
    )
    public, _none = application_create(
        organization=organization,
        name="Bench SPA",
        application_type="spa",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
    )
    confidential, secret = application_create(
        organization=organization,
        name="Bench web app",
        application_type="regular_web",
        allowed_redirect_uris_after_login=[REDIRECT_URI],
    )
    assert public.client_type == "public" and confidential.client_type == "confidential" and secret
    if args.legacy_secret_hash:
        # As applications created before GeneratedClientSecretField stored their secret (and still do).
        from django.contrib.auth.hashers import make_password

        confidential.client_secret = make_password(secret)
        confidential.save(update_fields=["client_secret"])
    connection = connection_create(
        organization=organization, application=public, provider_type="okta", sso_admin_email=f"it@{EMAIL_DOMAIN}"
    )
    _key, idp_cert = idp_key_pair()
    connection = connection_update(
        connection=connection,
        data={
            "saml_config": {"idp_metadata_xml": idp_metadata(idp_cert)},
            "bypass_it_admin_test": True,
            "active": True,
        },
    )
    users = []
    for i in range(args.users):
        email = f"user{i:04d}@{EMAIL_DOMAIN}"
        profile = {"given_name": "Bench", "family_name": f"User {i}", "name": f"Bench User {i}"}
        user = org_services.user_create(organization=organization, email=email, email_verified=True, profile=profile)
        # As the first sign-in through the connection left it (connections.sign_in): a returning user.
        Identity.objects.create(
            user=user, idp_id=connection.id, provider=f"saml.{connection.provider_type}", subject=email
        )
        users.append({"email": email, "given_name": profile["given_name"], "family_name": profile["family_name"]})
    endpoints = saml_sp_endpoints(connection)
    db.close()
    return {
        "domain": organization.domain,
        "idp_id": connection.id,
        "sp_entity_id": endpoints.entity_id,
        "acs_url": endpoints.acs_url,
        "users": users,
        "apps": {
            "public": {"client_id": public.client_id, "public": True},
            "confidential": {"client_id": confidential.client_id, "client_secret": secret, "public": False},
        },
    }


# --- --breakdown: SQL queries, Redis commands and CPU per request, in-process ---------------------------


def breakdown(tenant: dict, rounds: int = 4, show_sql: bool = False, cprofile: str = "", callers_of: str = "") -> None:
    """One login + exchange at a time through Django's test client (no gunicorn): the SQL queries, the
    Redis commands and the CPU time of each request (the first round warms the caches and is not shown).
    With `show_sql`, the statements and Redis commands of each request of the last round follow; with
    `cprofile`, a cProfile of the requests whose label starts with it (all rounds but the first)."""
    import cProfile
    import hashlib
    import pstats
    from collections import Counter

    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    idp_key, idp_cert = idp_key_pair()
    spec = {**tenant, "idp_key": idp_key, "idp_cert": idp_cert, "sign": "both"}
    host = urlsplit(os.environ["BASE_URL"]).netloc
    idp = Idp(spec, Client(HTTP_HOST=host).get(f"/sso/sp/metadata/{tenant['idp_id']}").content.decode())
    redis_commands = Counter()
    last_round: dict[str, tuple[list[str], list[str]]] = {}
    redis_client = cache._cache.get_client(write=True)
    original = type(redis_client).execute_command

    def counting(self, *args, **kwargs):
        redis_commands[args[0]] += 1
        return original(self, *args, **kwargs)

    type(redis_client).execute_command = counting
    totals: dict[str, list] = {}
    profiler = cProfile.Profile(time.process_time)  # CPU time: what a loaded machine distorts least
    state = {"warm": False}

    def run(label, call, expect):
        redis_commands.clear()
        profiled = bool(cprofile) and label.startswith(cprofile) and state["warm"]
        with CaptureQueriesContext(connection) as queries:
            t0 = time.process_time()
            if profiled:
                profiler.enable()
            response = call()
            if profiled:
                profiler.disable()
            cpu_ms = (time.process_time() - t0) * 1000
        assert response.status_code == expect, (label, response.status_code, response.content[:300])
        totals.setdefault(label, []).append((len(queries.captured_queries), sum(redis_commands.values()), cpu_ms))
        last_round[label] = (
            [q["sql"] for q in queries.captured_queries],
            [f"{command} x{count}" for command, count in redis_commands.items()],
        )
        return response

    try:
        for i in range(rounds):
            for app in (tenant["apps"]["public"], tenant["apps"]["confidential"]):
                kind = "public + PKCE" if app["public"] else "confidential"
                verifier = secrets.token_urlsafe(48)
                query = {
                    "response_type": "code",
                    "client_id": app["client_id"],
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid email profile",
                    "state": "s",
                    "nonce": "n",
                    "idp_id": tenant["idp_id"],
                }
                if app["public"]:
                    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                    query |= {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
                browser = Client(HTTP_HOST=host)
                response = run(
                    "authorize (signed out) -> /sso/start",
                    lambda q=query, b=browser: b.get(f"/t/{tenant['domain']}/oauth2/authorize?{urlencode(q)}"),
                    302,
                )
                response = run(
                    "/sso/start -> IdP (signed AuthnRequest)", lambda r=response, b=browser: b.get(r["Location"]), 302
                )
                params = _query(response["Location"])
                request_xml = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15).decode()
                request_id = re.search(r'<(?:\w+:)?AuthnRequest\b[^>]*?\sID="([^"]+)"', request_xml).group(1)
                user = tenant["users"][i % len(tenant["users"])]
                saml = idp.response(
                    in_response_to=request_id, email=user["email"], given=user["given_name"], family=user["family_name"]
                )
                form = {"SAMLResponse": saml, "RelayState": params.get("RelayState", "")}
                response = run(
                    "ACS POST -> authorize",
                    lambda f=form, b=browser: b.post(f"/sso/sp/consume/{tenant['idp_id']}", f),
                    302,
                )
                response = run("authorize (signed in) -> code", lambda r=response, b=browser: b.get(r["Location"]), 302)
                data = {
                    "grant_type": "authorization_code",
                    "code": _query(response["Location"])["code"],
                    "redirect_uri": REDIRECT_URI,
                    "client_id": app["client_id"],
                }
                extra = {}
                if app["public"]:
                    data["code_verifier"] = verifier
                else:
                    credentials = f"{app['client_id']}:{app['client_secret']}".encode()
                    extra["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(credentials).decode()
                run(
                    f"token ({kind})",
                    lambda d=data, e=extra: Client(HTTP_HOST=host).post(f"/t/{tenant['domain']}/oauth2/token", d, **e),
                    200,
                )
            if i == 0:
                totals.clear()  # warm-up round
                state["warm"] = True
    finally:
        type(redis_client).execute_command = original
        idp.close()
    print(f"\nPer request, in-process (Django test client, no HTTP server), median of {rounds - 1} rounds:")
    print(f"| {'request':<40} | {'SQL':>4} | {'Redis':>5} | {'CPU ms':>7} |")
    print(f"|{'-' * 42}|{'-' * 6}|{'-' * 7}|{'-' * 9}|")
    for label, samples in totals.items():

        def median(values):
            return sorted(values)[len(values) // 2]

        print(
            f"| {label:<40} | {median([q for q, _r, _c in samples]):>4} | {median([r for _q, r, _c in samples]):>5} "
            f"| {median([c for _q, _r, c in samples]):>7.1f} |"
        )
    if show_sql:
        for label, (statements, commands) in last_round.items():
            print(f"\n{label}: {len(statements)} SQL, Redis {', '.join(commands) or '-'}")
            for statement in statements:
                print(f"  {statement[:220]}{' ...' if len(statement) > 220 else ''}")
    if cprofile:
        for order in ("cumulative", "tottime"):
            print(f"\ncProfile of '{cprofile}...' requests, by {order} (CPU time; cProfile adds its own overhead):")
            pstats.Stats(profiler).strip_dirs().sort_stats(order).print_stats(45)
        if callers_of:
            print(f"\nWho calls '{callers_of}' in those requests:")
            pstats.Stats(profiler).strip_dirs().sort_stats("cumulative").print_callers(callers_of)


# --- gunicorn ----------------------------------------------------------------------------------------


def start_gunicorn(args, log_path: Path) -> subprocess.Popen:
    if port_in_use(args.port):
        sys.exit(f"Port {args.port} on 127.0.0.1 is already in use; stop what listens there first.")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "cryptr_sso.wsgi:application",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        "1",
        "--worker-class",
        "sync",
        "--timeout",
        "60",
        "--error-logfile",
        str(log_path),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **server_env(args)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 40
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with code {process.returncode}; see {log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop_gunicorn(process)
    sys.exit(f"gunicorn did not answer /healthz within 40 s; see {log_path}")


def worker_pid(master_pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master_pid:
                    return int(entry.name)
            except (OSError, IndexError, ValueError):
                continue
    return None


def py_spy() -> str | None:
    import shutil

    return (
        os.environ.get("PY_SPY")
        or shutil.which("py-spy")
        or (str(Path(sys.executable).parent / "py-spy") if (Path(sys.executable).parent / "py-spy").exists() else None)
    )


def measure(args, tenant: dict) -> dict:
    idp_key, idp_cert = idp_key_pair()
    apps = [dict(tenant["apps"]["public"], logins=args.logins)]
    if args.confidential_logins:
        apps.append(dict(tenant["apps"]["confidential"], logins=args.confidential_logins))
    spec = {
        **{k: tenant[k] for k in ("domain", "idp_id", "sp_entity_id", "acs_url", "users")},
        "apps": apps,
        "port": args.port,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "time_cap": args.time_cap,
        "round_size": args.round_size,
        "sign": args.sign,
        "idp_key": idp_key,
        "idp_cert": idp_cert,
        "db_name": args.database_url.rsplit("/", 1)[1].split("?")[0],
    }
    log_path = ROOT / "var" / "bench-saml-gunicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    spec_file = process = profiler = None
    try:
        log(f"starting gunicorn: 1 sync worker on 127.0.0.1:{args.port} (log: {log_path})")
        process = start_gunicorn(args, log_path)
        spec["server_pid"] = process.pid
        if args.profile:
            binary, worker = py_spy(), worker_pid(process.pid)
            if not binary or not worker:
                sys.exit("--profile needs py-spy (pip install py-spy; or PY_SPY=/path/to/py-spy)")
            log(f"py-spy record on the worker (pid {worker}) -> {args.profile}.txt / .svg")
            # --gil: only samples taken while the worker holds the GIL, i.e. its Python CPU time (the waits on
            # PostgreSQL and Redis release it; they are in the db CPU column and the latencies).
            profiler = [
                subprocess.Popen(
                    [
                        binary,
                        "record",
                        "--pid",
                        str(worker),
                        "--rate",
                        "200",
                        "--gil",
                        "--format",
                        fmt,
                        "--output",
                        f"{args.profile}.{ext}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for fmt, ext in (("raw", "txt"), ("flamegraph", "svg"))
            ]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec_file:
            json.dump(spec, spec_file)
        log(f"client process: {args.logins} + {args.confidential_logins} logins, {args.concurrency} thread(s)")
        client = subprocess.run(
            [sys.executable, __file__, "--client", spec_file.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=8 * args.time_cap + 300,
        )
        if client.returncode != 0:
            sys.exit(f"the client failed:\n{client.stderr[-4000:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        for spy in profiler or []:
            spy.send_signal(signal.SIGINT)
        for spy in profiler or []:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        stop_gunicorn(process)
        log("gunicorn stopped")
        if spec_file is not None:
            os.unlink(spec_file.name)


def machine_line() -> str:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"nproc={os.cpu_count()} ({cpu}); Python {platform.python_version()}"


def print_table(rows: list[dict]) -> None:
    header = (
        f"| {'scenario':<50} | {'ok':>4} | {'per s':>6} | {'p50 ms':>7} | {'p95 ms':>7} | "
        f"{'app CPU ms':>10} | {'db CPU ms':>9} | errors |"
    )
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    for row in rows:
        errors = ", ".join(f"{k} x{v}" for k, v in row["errors"].items()) or "-"
        if row["capped"]:
            errors += " (time cap)"
        p50 = f"{row['p50_ms']:7.1f}" if row["p50_ms"] == row["p50_ms"] else f"{'-':>7}"
        p95 = f"{row['p95_ms']:7.1f}" if row["p95_ms"] == row["p95_ms"] else f"{'-':>7}"
        print(
            f"| {row['name']:<50} | {row['ok']:>4} | {row['rps']:>6.1f} | {p50} | {p95} | "
            f"{row['app_cpu_ms']:>10.2f} | {row['db_cpu_ms']:>9.2f} | {errors} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=500, help="timed logins with the public client (default 500)")
    parser.add_argument(
        "--confidential-logins",
        type=int,
        default=100,
        help="timed logins with the confidential client, each code then exchanged (default 100)",
    )
    parser.add_argument("--users", type=int, default=50, help="directory users the logins cycle through")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed logins (and exchanges) per client type")
    parser.add_argument(
        "--time-cap",
        type=float,
        default=120.0,
        help="seconds at most for the rounds of each client type (no new round after it)",
    )
    parser.add_argument(
        "--round-size",
        type=int,
        default=100,
        help="logins per round; each round's codes are exchanged right after it (codes live 60 s)",
    )
    parser.add_argument(
        "--sign",
        choices=("both", "assertion", "response"),
        default="both",
        help="what the IdP signs (default: the Response and the Assertion)",
    )
    parser.add_argument(
        "--legacy-secret-hash",
        action="store_true",
        help="store the confidential client's secret with the password hasher (PBKDF2, 1,000,000 "
        "iterations), as applications created before the fast secret hash have it",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="instead: SQL queries, Redis commands and CPU per request, in-process (no gunicorn)",
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="with --breakdown: each request's SQL and Redis commands"
    )
    parser.add_argument(
        "--cprofile",
        default="",
        metavar="LABEL",
        help="with --breakdown: cProfile the requests whose label starts with LABEL (e.g. ACS)",
    )
    parser.add_argument(
        "--callers-of",
        default="",
        metavar="FUNCTION",
        help="with --cprofile: also who calls FUNCTION (a pstats pattern, e.g. deepcopy)",
    )
    parser.add_argument("--rounds", type=int, default=4, help="with --breakdown: rounds, the first one not counted")
    parser.add_argument("--profile", help="py-spy the worker during the client run, into PATH.txt and PATH.svg")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--json-out", help="also write the figures to this JSON file")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client)
        return
    if "127.0.0.1" not in args.database_url or "127.0.0.1" not in args.redis_url:
        sys.exit("The benchmark only uses services on 127.0.0.1.")

    load_at_start = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    ensure_database(args.database_url)
    setup_django(args)
    from django.core.management import call_command

    log("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    tenant = setup_tenant(args)
    log(
        f"organization {tenant['domain']}: public + confidential applications, SAML connection {tenant['idp_id']} "
        f"(active), {args.users} returning users, through the services"
    )
    if args.breakdown:
        breakdown(
            tenant, rounds=args.rounds, show_sql=args.show_sql, cprofile=args.cprofile, callers_of=args.callers_of
        )
        return
    result = measure(args, tenant)
    load_at_end = ", ".join(f"{value:.2f}" for value in os.getloadavg())

    print("\n" + "=" * 110)
    print(f"SAML logins benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine_line()}")
    print(f"Load average at the start {load_at_start}; at the end {load_at_end}")
    print(
        f"Server: gunicorn, 1 sync worker, CRYPTR_ENV=production (DEBUG off); PostgreSQL {args.database_url}; "
        f"Redis {args.redis_url}"
    )
    print(
        f"Client: separate process, {args.concurrency} threads (http.client, cookies per browser); IdP signs: "
        f"{args.sign} (rsa-sha256); warm-up {args.warmup} per client type; time cap {args.time_cap:.0f} s"
    )
    print(
        "Latency of a login = ACS POST + the authorize GET it redirects to. CPU ms = per login or per exchange "
        "(gunicorn worker; PostgreSQL backends).\n"
    )
    print_table(result["rows"])
    for row in result["rows"]:
        if "acs_p50_ms" in row:
            print(
                f"  {row['name'].split(':')[0]}: ACS POST p50 {row['acs_p50_ms']:.1f} ms, "
                f"authorize GET p50 {row['authorize_p50_ms']:.1f} ms"
            )
    print("\nBefore the timed logins (per browser: authorize -> 302, /sso/start -> 302 with a signed AuthnRequest):")
    for phase in result["phases"]:
        errors = ", ".join(f"{k} x{v}" for k, v in phase["errors"].items()) or "no errors"
        print(
            f"  {phase['name']}: {phase['ok']} browsers, {phase['rps']:.1f}/s, app CPU {phase['app_cpu_ms']:.2f} ms,"
            f" db CPU {phase['db_cpu_ms']:.2f} ms per browser; {errors}"
        )
    if args.json_out:
        summary = {"machine": machine_line(), "load_at_start": load_at_start, "load_at_end": load_at_end, **result}
        Path(args.json_out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
