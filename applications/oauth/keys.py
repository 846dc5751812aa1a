"""The RSA keys that sign ID tokens and access tokens.

Loaded once, when the settings are read (`OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]` and
`OIDC_RSA_PRIVATE_KEYS_INACTIVE`), so this module must not import Django models or
django-oauth-toolkit at import time. Rotation with overlap: publish the next key as inactive,
then make it the active one (the previous one inactive), then retire the old one once every token
it signed has expired. The `kid` of every key is its RFC 7638 thumbprint.

Operators rotate from the admin instead (cryptr_sso.signing_keys): an active key of that table wins
over the settings' keys, which then leave the JWKS once the retention after that first switch has
passed (every token they signed has expired; see cryptr_sso.signing_keys for why that is safe and
what the operator does with the variables). `signing_jwk()` and the JWKS view read the table
through the process's view of it, kept at most KEY_CACHE_SECONDS (a few seconds; why that is safe is
in cryptr_sso.signing_keys), so signing a token reads no key row.
"""

import contextlib
import os
import re
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

KEY_FILE_NAME = "oidc-rsa.pem"
RSA_KEY_BITS = 2048
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)


def _normalize_pem(value: str) -> str:
    # Environment variables often carry PEM with literal "\n" (one-line .env files, CI secrets).
    return value.replace("\\n", "\n").strip() + "\n"


def _check_rsa_private_key(pem: str, source: str) -> str:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ImproperlyConfigured(f"{source} must be an RSA private key of at least 2048 bits (RS256).")
    return pem


def generate_rsa_private_key_pem(bits: int = RSA_KEY_BITS) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _generated_key(var_dir: Path) -> str:
    """The embedded default's key: generated once into var/, readable by its owner only. Several
    processes may start at once: the key is written to a temporary file and linked into place,
    so nobody ever reads a half-written key and the first writer wins."""
    path = var_dir / KEY_FILE_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=var_dir, prefix=".oidc-rsa-", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "w") as tmp:
                tmp.write(generate_rsa_private_key_pem())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(tmp_name, path)
        finally:
            os.unlink(tmp_name)
    return _check_rsa_private_key(path.read_text(), str(path))


def load_active_private_key(var_dir: Path, *, production: bool) -> str:
    """The key that signs: `OIDC_RSA_PRIVATE_KEY` (PEM), else, outside production, var/oidc-rsa.pem."""
    pem = os.environ.get("OIDC_RSA_PRIVATE_KEY", "").strip()
    if pem:
        return _check_rsa_private_key(_normalize_pem(pem), "OIDC_RSA_PRIVATE_KEY")
    if production:
        raise ImproperlyConfigured("OIDC_RSA_PRIVATE_KEY must be set when CRYPTR_ENV=production.")
    return _generated_key(var_dir)


def load_inactive_private_keys() -> list[str]:
    """Keys that no longer sign but are still published in the JWKS, so tokens they signed keep
    verifying: `OIDC_RSA_PRIVATE_KEYS_INACTIVE`, one or more concatenated PEM blocks."""
    value = _normalize_pem(os.environ.get("OIDC_RSA_PRIVATE_KEYS_INACTIVE", ""))
    blocks = [match.group(0) + "\n" for match in _PEM_BLOCK.finditer(value)]
    if value.strip() and not blocks:
        raise ImproperlyConfigured("OIDC_RSA_PRIVATE_KEYS_INACTIVE holds no PEM private key.")
    return [_check_rsa_private_key(pem, "OIDC_RSA_PRIVATE_KEYS_INACTIVE") for pem in blocks]


def signing_jwk():
    """The key that signs ID tokens and access tokens: the active key of the rotation table
    (cryptr_sso.signing_keys) when there is one, else the configured `OIDC_RSA_PRIVATE_KEY`."""
    from oauth2_provider.settings import oauth2_settings
    from oauth2_provider.utils import jwk_from_pem

    from cryptr_sso.models import SigningKey
    from cryptr_sso.signing_keys import active_signing_key

    rotated = active_signing_key(purpose=SigningKey.Purpose.TOKEN)
    return jwk_from_pem(rotated.private_key_pem if rotated else oauth2_settings.OIDC_RSA_PRIVATE_KEY)


def published_jwks() -> list:
    """Every key of the JWKS as jwcrypto JWKs, the signing one first: the rotation table's active,
    published and recently retired keys, then the configured ones while they may still have tokens
    to verify (until the retention after the first switch: environment_token_keys_superseded)."""
    from oauth2_provider.settings import oauth2_settings
    from oauth2_provider.utils import jwk_from_pem

    from cryptr_sso.models import SigningKey
    from cryptr_sso.signing_keys import environment_token_keys_superseded, published_token_keys

    rotated = published_token_keys()  # active first
    configured = [oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]
    if rotated and rotated[0].state == SigningKey.State.ACTIVE:
        if environment_token_keys_superseded():
            configured = []
        pems = [key.private_key_pem for key in rotated] + configured
    else:
        pems = configured[:1] + [key.private_key_pem for key in rotated] + configured[1:]
    keys = {}
    for pem in pems:
        if pem:
            key = jwk_from_pem(pem)
            keys.setdefault(key.thumbprint(), key)
    return list(keys.values())


def verification_jwks() -> dict:
    """Every published key by kid: what the gateway itself accepts on the way back in
    (`id_token_hint` at logout)."""
    return {key.thumbprint(): key for key in published_jwks()}
