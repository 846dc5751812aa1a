"""ID token validation of the relying party (OpenID Connect Core 3.1.3.7), one small check per rule.

mozilla-django-oidc's own check trusts the header's algorithm (HS256 by default), does not verify `iss`
(nor `aud` in every path) and caches no keys, so the gateway validates ID tokens here:
- the algorithm is on an allow-list of asymmetric ones (never `none`, never HMAC: an HS256 token
  "signed" with the IdP's public key must not verify);
- the key comes from the connection's JWKS only (cached in Django's cache, fetched again once when a
  token names an unknown `kid`, so a key rotation at the IdP needs no action);
- `iss` is exactly the connection's issuer (Entra ID's multi-tenant form: the `tid` claim must be the
  configured tenant and `iss` that tenant's issuer), `aud` contains our client id (`azp` is ours when
  there are several audiences), `exp` and `iat` are checked with a small skew, `nonce` is the one of
  this browser's request;
- profiles add their rule: Google Workspace's `hd` must be one of the organization's domains.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Callable

import jwt
from django.core.cache import cache
from django.utils.translation import gettext_lazy

from connections.exceptions import (
    HostedDomainRefused,
    IdTokenAlgorithmRefused,
    IdTokenExpired,
    IdTokenMalformed,
    IdTokenNonceMismatch,
    IdTokenNotYetValid,
    IdTokenSignatureInvalid,
    IdTokenSigningKeyUnknown,
    IdTokenWrongAudience,
    IdTokenWrongIssuer,
    OidcFetchError,
    TenantRefused,
)
from connections.providers import OIDC_PROFILE_ENTRA, OIDC_PROFILE_GOOGLE

from .config import OidcSettings
from .discovery import ENTRA_TENANT_PLACEHOLDER, is_entra_multi_tenant
from .http import get_json

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
_KEY_TYPE = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC", "ES384": "EC"}
_CURVE = {"ES256": "P-256", "ES384": "P-384"}
MAX_TOKEN_BYTES = 16 * 1024


# --- the IdP's keys ------------------------------------------------------------------------------


def _cache_key(jwks_uri: str) -> str:
    return "oidc-jwks:" + hashlib.sha256(jwks_uri.encode("utf-8")).hexdigest()


def fetch_jwks(jwks_uri: str) -> list[dict]:
    document = get_json(jwks_uri, what="IdP's key set (JWKS)")
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise OidcFetchError(gettext_lazy("The IdP's key set (JWKS) has no 'keys' list."), detail="jwks")
    return [key for key in keys if isinstance(key, dict)]


def jwks_keys(jwks_uri: str, *, refresh: bool = False) -> list[dict]:
    """The IdP's public keys, from Django's cache (shared by every process) or fetched."""
    from django.conf import settings

    key = _cache_key(jwks_uri)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return json.loads(cached)
    keys = fetch_jwks(jwks_uri)
    cache.set(key, json.dumps(keys), timeout=int(getattr(settings, "OIDC_JWKS_CACHE_SECONDS", 3600)))
    return keys


def _matching_keys(keys: list[dict], *, alg: str, kid: str | None) -> list[dict]:
    matches = []
    for jwk in keys:
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") != _KEY_TYPE[alg]:
            continue
        if jwk.get("alg") and jwk["alg"] != alg:
            continue
        if alg in _CURVE and jwk.get("crv") != _CURVE[alg]:
            continue
        matches.append(jwk)
    return matches


def signing_keys(settings: OidcSettings, *, alg: str, kid: str | None) -> list[dict]:
    """The JWKS entries that may have signed this token; the key set is fetched again, once, when the
    cached one has none (the IdP rotated its keys)."""
    matches = _matching_keys(jwks_keys(settings.jwks_uri), alg=alg, kid=kid)
    if not matches:
        matches = _matching_keys(jwks_keys(settings.jwks_uri, refresh=True), alg=alg, kid=kid)
    if not matches:
        raise IdTokenSigningKeyUnknown(detail=f"kid {kid!r} alg {alg}")
    return matches


# --- the checks ----------------------------------------------------------------------------------


class IdTokenValidator:
    def __init__(self, settings: OidcSettings, *, keys: Callable[..., list[dict]] = signing_keys):
        self.settings = settings
        self._keys = keys

    def validate(self, id_token: str, *, nonce: str) -> dict:
        header = self._header(id_token)
        alg = self._check_algorithm(header)
        claims = self._verify_signature(id_token, alg=alg, kid=header.get("kid"))
        self._check_issuer(claims)
        self._check_audience(claims)
        self._check_nonce(claims, nonce)
        self._check_profile(claims)
        return claims

    @staticmethod
    def _header(id_token: str) -> dict:
        if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN_BYTES:
            raise IdTokenMalformed(detail="missing or oversized")
        if id_token.count(".") != 2:
            raise IdTokenMalformed(detail="not a JWS compact serialization (encrypted ID tokens are not supported)")
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise IdTokenMalformed(detail="unreadable header") from None
        return header

    @staticmethod
    def _check_algorithm(header: dict) -> str:
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise IdTokenAlgorithmRefused(detail=f"alg {str(alg)[:20]!r}")
        return alg

    def _verify_signature(self, id_token: str, *, alg: str, kid) -> dict:
        if kid is not None and not isinstance(kid, str):
            raise IdTokenMalformed(detail="kid is not a string")
        last_error: Exception | None = None
        for jwk in self._keys(self.settings, alg=alg, kid=kid):
            try:
                key = jwt.PyJWK(jwk, algorithm=alg).key
            except jwt.PyJWTError:
                continue
            try:
                return jwt.decode(
                    id_token,
                    key,
                    algorithms=[alg],
                    audience=self.settings.client_id,
                    leeway=self.settings.clock_skew,
                    options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_iss": False},
                )
            except jwt.InvalidSignatureError as error:
                last_error = error  # a key with the same kid at another IdP, or a forged token: try the next
            except jwt.ExpiredSignatureError:
                raise IdTokenExpired() from None
            except jwt.ImmatureSignatureError:
                raise IdTokenNotYetValid() from None
            except jwt.InvalidAudienceError:
                raise IdTokenWrongAudience() from None
            except jwt.MissingRequiredClaimError as error:
                raise IdTokenMalformed(detail=f"missing claim {error.claim}") from None
            except jwt.PyJWTError as error:
                raise IdTokenMalformed(detail=error.__class__.__name__) from None
        raise IdTokenSignatureInvalid(detail=last_error.__class__.__name__ if last_error else "no usable key")

    def _check_issuer(self, claims: dict) -> None:
        settings, iss = self.settings, claims.get("iss")
        if settings.profile == OIDC_PROFILE_ENTRA and is_entra_multi_tenant(settings.discovered_issuer):
            tid = claims.get("tid")
            if not isinstance(tid, str) or not hmac.compare_digest(tid, settings.tenant_id):
                raise TenantRefused(detail="tid is not the configured tenant")
            expected = settings.discovered_issuer.replace(ENTRA_TENANT_PLACEHOLDER, settings.tenant_id)
        else:
            expected = settings.issuer
        if iss != expected:
            raise IdTokenWrongIssuer(detail=f"iss {str(iss)[:200]!r}")
        if (
            settings.profile == OIDC_PROFILE_ENTRA
            and settings.tenant_id
            and claims.get("tid") not in (None, settings.tenant_id)
        ):
            raise TenantRefused(detail="tid is not the configured tenant")

    def _check_audience(self, claims: dict) -> None:
        # PyJWT checked that aud contains our client id. OpenID Connect Core 3.1.3.7 (4, 5): with several
        # audiences azp must be present, and whenever present it must be us.
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if len(audiences) > 1 and azp is None:
            raise IdTokenWrongAudience(detail="several audiences and no azp")
        if azp is not None and azp != self.settings.client_id:
            raise IdTokenWrongAudience(detail="azp is another client")

    @staticmethod
    def _check_nonce(claims: dict, nonce: str) -> None:
        received = claims.get("nonce")
        if not nonce or not isinstance(received, str) or not hmac.compare_digest(received, nonce):
            raise IdTokenNonceMismatch()

    def _check_profile(self, claims: dict) -> None:
        if self.settings.profile == OIDC_PROFILE_GOOGLE:
            hd = claims.get("hd")
            if not isinstance(hd, str) or hd.lower() not in self.settings.hosted_domains:
                raise HostedDomainRefused(detail="hd missing" if hd is None else "hd not allowed")
