"""Encryption of secrets stored in the database (the OIDC client secrets of connections).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with keys derived by HKDF-SHA256 from
`settings.FIELD_ENCRYPTION_KEY` (the `FIELD_ENCRYPTION_KEY` environment variable), or from SECRET_KEY
when none is set. FIELD_ENCRYPTION_KEY may list several keys separated by commas: the first encrypts,
all decrypt, so a key is rotated by putting the new one first and re-saving the secrets.

A database dump alone then gives no client secret; the key lives in the environment.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "enc:v1:"
_INFO = b"cryptr-sso field encryption v1"


class DecryptionError(Exception):
    """A stored secret that none of the configured keys opens (the key was changed without rotation)."""


def _derive(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


@lru_cache(maxsize=4)
def _fernet(materials: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derive(material) for material in materials])


def _key_materials() -> tuple[str, ...]:
    configured = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or ""
    materials = tuple(part.strip() for part in configured.split(",") if part.strip())
    return materials or (settings.SECRET_KEY,)


def encrypt_text(plaintext: str) -> str:
    """The stored form of a secret ("" stays "": no secret)."""
    if not plaintext:
        return ""
    return PREFIX + _fernet(_key_materials()).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_text(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise DecryptionError("the stored value is not an encrypted secret")
    try:
        return _fernet(_key_materials()).decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise DecryptionError("no configured FIELD_ENCRYPTION_KEY opens the stored secret") from None
