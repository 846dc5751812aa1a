"""Provider profiles of the ID token validation (Google Workspace `hd`, Entra ID tenant issuers), the
discovery issuer rules, and the encryption of client secrets at rest. No network: the validator is
given the IdP's key directly."""

import json
import time
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connections import crypto
from connections.exceptions import HostedDomainRefused, IdTokenWrongIssuer, OidcDiscoveryError, TenantRefused
from connections.oidc import discovery
from connections.oidc.config import OidcSettings
from connections.oidc.tokens import IdTokenValidator

KEY = rsa.generate_private_key(65537, 2048)
JWK = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "use": "sig"}
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA_MULTI = "https://login.microsoftonline.com/{tenantid}/v2.0"


def settings_for(**changes) -> OidcSettings:
    base = OidcSettings(
        idp_id="org_x",
        provider_type="generic_oidc",
        profile="",
        issuer="https://idp.example",
        discovered_issuer="https://idp.example",
        client_id="cid",
        client_secret="secret",
        scopes="openid",
        authorization_endpoint="https://idp.example/a",
        token_endpoint="https://idp.example/t",
        userinfo_endpoint="",
        jwks_uri="https://idp.example/jwks",
        token_endpoint_auth_method="client_secret_basic",
        redirect_uri="https://gw.example/sso/oidc/callback/org_x",
        tenant_id="",
        hosted_domains=(),
        clock_skew=60,
    )
    return replace(base, **changes)


def token(**claims) -> str:
    now = int(time.time())
    body = {
        "iss": "https://idp.example",
        "sub": "s",
        "aud": "cid",
        "iat": now,
        "exp": now + 300,
        "nonce": "n",
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, KEY, algorithm="RS256", headers={"kid": "k1"})


def validate(settings: OidcSettings, id_token: str) -> dict:
    return IdTokenValidator(settings, keys=lambda _settings, alg, kid: [JWK]).validate(id_token, nonce="n")


GOOGLE = {
    "provider_type": "google_oidc",
    "profile": "google",
    "issuer": "https://accounts.google.com",
    "discovered_issuer": "https://accounts.google.com",
    "hosted_domains": ("misapret.fr",),
}


def test_google_token_of_the_hosted_domain_is_accepted():
    claims = validate(settings_for(**GOOGLE), token(iss="https://accounts.google.com", hd="misapret.fr"))
    assert claims["hd"] == "misapret.fr"


@pytest.mark.parametrize("hd", [None, "gmail.com", "evil-misapret.fr"])
def test_google_token_without_the_hosted_domain_is_refused(hd):
    with pytest.raises(HostedDomainRefused):
        validate(settings_for(**GOOGLE), token(iss="https://accounts.google.com", hd=hd))


def test_google_without_any_configured_domain_refuses_everyone():
    with pytest.raises(HostedDomainRefused):
        validate(
            settings_for(**{**GOOGLE, "hosted_domains": ()}), token(iss="https://accounts.google.com", hd="misapret.fr")
        )


ENTRA_SPECIFIC = {
    "provider_type": "entra_id_oidc",
    "profile": "entra",
    "tenant_id": TENANT,
    "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
    "discovered_issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
}
ENTRA_MULTI_TENANT = {
    **ENTRA_SPECIFIC,
    "issuer": "https://login.microsoftonline.com/organizations/v2.0",
    "discovered_issuer": ENTRA_MULTI,
}


def test_entra_tenant_specific_issuer():
    validate(settings_for(**ENTRA_SPECIFIC), token(iss=ENTRA_SPECIFIC["issuer"], tid=TENANT))
    with pytest.raises(IdTokenWrongIssuer):
        validate(settings_for(**ENTRA_SPECIFIC), token(iss="https://login.microsoftonline.com/other/v2.0", tid="other"))


def test_entra_multi_tenant_issuer_is_checked_against_tid_and_the_configured_tenant():
    settings = settings_for(**ENTRA_MULTI_TENANT)
    validate(settings, token(iss=f"https://login.microsoftonline.com/{TENANT}/v2.0", tid=TENANT))
    other = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(TenantRefused):  # a token of any other Entra tenant, consistent in itself
        validate(settings, token(iss=f"https://login.microsoftonline.com/{other}/v2.0", tid=other))
    with pytest.raises(TenantRefused):
        validate(settings, token(iss=f"https://login.microsoftonline.com/{TENANT}/v2.0"))
    with pytest.raises(IdTokenWrongIssuer):  # tid says ours, iss says another
        validate(settings, token(iss=f"https://login.microsoftonline.com/{other}/v2.0", tid=TENANT))
    with pytest.raises(IdTokenWrongIssuer):  # the template itself is never an issuer
        validate(settings, token(iss=ENTRA_MULTI, tid=TENANT))


def _discovery_document(issuer):
    return {
        "issuer": issuer,
        "authorization_endpoint": "https://login.microsoftonline.com/o/authorize",
        "token_endpoint": "https://login.microsoftonline.com/o/token",
        "jwks_uri": "https://login.microsoftonline.com/o/keys",
    }


def test_entra_multi_tenant_discovery_is_accepted_only_for_entra(monkeypatch):
    monkeypatch.setattr(discovery, "get_json", lambda url, what: _discovery_document(ENTRA_MULTI))
    found = discovery.discover("https://login.microsoftonline.com/organizations/v2.0", provider_type="entra_id_oidc")
    assert found.issuer == ENTRA_MULTI
    with pytest.raises(OidcDiscoveryError):
        discovery.discover("https://login.microsoftonline.com/organizations/v2.0", provider_type="generic_oidc")


def test_discovery_issuer_must_match_exactly(monkeypatch):
    monkeypatch.setattr(discovery, "get_json", lambda url, what: _discovery_document("https://idp.example/"))
    with pytest.raises(OidcDiscoveryError, match="says its issuer is"):
        discovery.discover("https://idp.example", provider_type="generic_oidc")


def test_client_secrets_are_encrypted_and_keys_rotate(settings):
    settings.FIELD_ENCRYPTION_KEY = "old-key"
    stored = crypto.encrypt_text("the-secret")
    assert stored.startswith("enc:v1:") and "the-secret" not in stored
    assert crypto.encrypt_text("the-secret") != stored  # random IV
    settings.FIELD_ENCRYPTION_KEY = "new-key,old-key"
    assert crypto.decrypt_text(stored) == "the-secret"
    settings.FIELD_ENCRYPTION_KEY = "new-key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_text(stored)


def test_settings_repr_hides_the_client_secret():
    assert "secret-value" not in repr(settings_for(client_secret="secret-value"))
