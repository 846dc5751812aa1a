"""An OpenID Connect relying party written by other people (npm openid-client) against a live issuer.

The RP (tests/peers/oidc-rp/rp.mjs) discovers `{BASE_URL}/t/{domain}`, runs authorization code + PKCE,
verifies the ID token and the access token against the JWKS, calls userinfo, refreshes, replays the
spent refresh token, and revokes. The browser is played here: a `requests` session whose cookie
carries an end-user session made through the login_session contract (no test-only URL in the app).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.oauth.conftest import REDIRECT_URI, Tenant, query_of

RP_DIR = Path(__file__).resolve().parents[1] / "peers" / "oidc-rp"

pytestmark = pytest.mark.peer


@pytest.fixture
def rp_installed():
    if not shutil.which("node"):
        pytest.fail("node is required for the openid-client peer (see README.md)")
    if not (RP_DIR / "node_modules" / "openid-client").is_dir():
        pytest.fail(
            "The openid-client peer is not installed: run `make install` (npm ci --prefix tests/peers/oidc-rp)."
        )


def run_relying_party(tenant: Tenant, browser: requests.Session, extra: dict | None = None) -> dict:
    rp = subprocess.Popen(
        [
            "node",
            str(RP_DIR / "rp.mjs"),
            tenant.issuer,
            tenant.public_app.client_id,
            REDIRECT_URI,
            json.dumps(extra or {}),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(rp.stdout.readline() or '{"ok": false}')
        assert "authorization_url" in first, (first, rp.stderr.read() if rp.poll() is not None else "")
        response = browser.get(first["authorization_url"], allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        callback = response.headers["Location"]
        assert callback.startswith(REDIRECT_URI) and "code" in query_of(callback), callback
        stdout, stderr = rp.communicate(callback + "\n", timeout=60)
    finally:
        if rp.poll() is None:
            rp.kill()
            rp.wait()
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["ok"], (result, stderr)
    return result


def test_openid_client_completes_the_code_flow_against_a_live_issuer(
    live_server, transactional_db, settings, rp_installed
):
    settings.BASE_URL = live_server.url
    tenant = Tenant("Misapret")
    browser = requests.Session()
    name, value = tenant.session_cookie()
    browser.cookies.set(name, value)

    result = run_relying_party(tenant, browser, {"idp_id": tenant.idp_id})

    assert result["issuer"] == f"{live_server.url}/t/{tenant.org.domain}"
    assert result["discovered"]["token_endpoint"] == f"{result['issuer']}/oauth2/token"
    id_token = result["id_token"]
    assert id_token["header"]["alg"] == "RS256" and id_token["header"]["kid"]
    claims = id_token["claims"]
    assert claims["sub"] == str(tenant.user.pk)
    assert claims["aud"] == tenant.public_app.client_id
    assert (claims["tnt"], claims["sci"], claims["ips"]) == (tenant.org.domain, tenant.idp_id, "okta")
    assert claims["email"] == tenant.user.email and claims["name"] == "Jane Doe"

    access = result["access_token"]
    assert access["header"]["typ"] == "at+jwt"
    assert access["claims"]["cid"] == tenant.public_app.client_id
    assert access["claims"]["jtt"] == "access"

    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["email"] == tenant.user.email
    assert result["refreshed"]["rotated"] is True
    assert result["refreshed"]["id_token_claims"]["sub"] == claims["sub"]
    assert result["userinfo_after_revoke"]["refused"] is True
    assert result["userinfo_after_revoke"]["status"] == 401
    assert result["refresh_after_revoke"]["error"] == "invalid_grant"
    assert result["replayed_refresh_token"]["error"] == "invalid_grant"
