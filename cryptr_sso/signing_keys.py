"""Rotation of the signing keys, from the operator's admin: publish, then switch, then retire.

- publish: a new key is generated and published (in every JWKS, or in the SP metadata as a second
  signing and encryption certificate) but signs nothing yet, so relying parties and IdPs can fetch it;
- activate (the switch): the published key signs from now on; the previously active one is retired
  in the same transaction, so a purpose never has two active keys (a partial unique index guards it);
- retire: a token key stays in the JWKS for max(access token, ID token lifetime) after retirement,
  so every token it signed verifies until it expires; a retired SP key leaves the metadata at once.

When a purpose has no active key in the table, the environment / var/ key signs (deployments that
never rotate keep working untouched); that key stays published until the operator removes it from
the environment, so tokens it signed before the first switch keep verifying.
"""

import hashlib
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from cryptr_sso.audit import Actor, record
from cryptr_sso.models import SigningKey


class SigningKeyTransitionError(Exception):
    """A rotation step that is not allowed from the key's state: `message` says what to do instead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- selectors ---------------------------------------------------------------------------------


def token_key_retention() -> timedelta:
    """How long a retired token key stays in the JWKS: the longest a token it signed can live."""
    from oauth2_provider.settings import oauth2_settings

    return timedelta(seconds=max(oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS, oauth2_settings.ID_TOKEN_EXPIRE_SECONDS))


def active_signing_key(*, purpose: str) -> SigningKey | None:
    return SigningKey.objects.filter(purpose=purpose, state=SigningKey.State.ACTIVE).first()


def published_token_keys(*, now: datetime | None = None) -> list[SigningKey]:
    """The token keys in the JWKS: active first, then published, then retired within the retention."""
    now = now or timezone.now()
    keys = SigningKey.objects.filter(purpose=SigningKey.Purpose.TOKEN).exclude(
        state=SigningKey.State.RETIRED, retired_at__lt=now - token_key_retention()
    )
    order = {SigningKey.State.ACTIVE: 0, SigningKey.State.PUBLISHED: 1, SigningKey.State.RETIRED: 2}
    return sorted(keys, key=lambda key: order[key.state])


def published_sp_keys() -> list[SigningKey]:
    """SP keys published beside the active one (metadata and decryption), not signing yet."""
    return list(SigningKey.objects.filter(purpose=SigningKey.Purpose.SAML_SP, state=SigningKey.State.PUBLISHED))


# --- services ----------------------------------------------------------------------------------


def _new_key_material(purpose: str) -> tuple[str, str, str]:
    """(private key PEM, certificate PEM, kid) for a new key of this purpose."""
    if purpose == SigningKey.Purpose.TOKEN:
        from oauth2_provider.utils import jwk_from_pem

        from applications.oauth.keys import generate_rsa_private_key_pem

        pem = generate_rsa_private_key_pem()
        return pem, "", jwk_from_pem(pem).thumbprint()
    if purpose == SigningKey.Purpose.SAML_SP:
        from django.conf import settings

        from connections.saml.keys import generate_self_signed_pair

        host = settings.BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
        pair = generate_self_signed_pair(common_name=f"SSO gateway SP {host}")
        der = x509.load_pem_x509_certificate(pair.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
        return pair.private_key_pem, pair.certificate_pem, hashlib.sha256(der).hexdigest()
    raise ValueError(f"unknown signing key purpose {purpose!r}")


def _record(key: SigningKey, action: str, by: Actor, **extra) -> None:
    record(f"signing_key.{action}", by=by, data={"purpose": key.purpose, "kid": key.kid, **extra})


def signing_key_publish(*, purpose: str, by: Actor) -> SigningKey:
    """Generate a key and publish it (it signs nothing until it is activated)."""
    from connections.crypto import encrypt_text

    private_key_pem, certificate_pem, kid = _new_key_material(purpose)
    with transaction.atomic():
        key = SigningKey.objects.create(
            purpose=purpose, state=SigningKey.State.PUBLISHED, kid=kid,
            private_key_encrypted=encrypt_text(private_key_pem), certificate_pem=certificate_pem,
            created_by=by.name[:200],
        )
        _record(key, "published", by)
    return key


def signing_key_activate(*, key: SigningKey, by: Actor) -> SigningKey:
    """The switch: `key` signs from now on, the key that signed until now is retired."""
    with transaction.atomic():
        # Lock every key of the purpose: two operators switching at once cannot both win.
        locked = {row.pk: row for row in SigningKey.objects.select_for_update().filter(purpose=key.purpose)}
        key = locked[key.pk]
        if key.state != SigningKey.State.PUBLISHED:
            raise SigningKeyTransitionError(
                f"Only a published key can be made active; this key is {key.state}. Generate a new key first."
            )
        now = timezone.now()
        previous = next((row for row in locked.values() if row.state == SigningKey.State.ACTIVE), None)
        if previous is not None:
            previous.state, previous.retired_at, previous.retired_by = SigningKey.State.RETIRED, now, by.name[:200]
            previous.save(update_fields=["state", "retired_at", "retired_by"])
            _record(previous, "retired", by, replaced_by=key.kid)
        key.state, key.activated_at, key.activated_by = SigningKey.State.ACTIVE, now, by.name[:200]
        key.save(update_fields=["state", "activated_at", "activated_by"])
        _record(key, "activated", by, replaces=previous.kid if previous else "environment")
    return key


def signing_key_retire(*, key: SigningKey, by: Actor) -> SigningKey:
    """Retire a published key (abandon it). The active key is retired only by switching to another."""
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().get(pk=key.pk)
        if key.state == SigningKey.State.ACTIVE:
            raise SigningKeyTransitionError(
                "The active key signs every new token or request: generate a new key, make it active "
                "(which retires this one), then it stays published until its tokens expire."
            )
        if key.state == SigningKey.State.RETIRED:
            raise SigningKeyTransitionError("This key is already retired.")
        key.state, key.retired_at, key.retired_by = SigningKey.State.RETIRED, timezone.now(), by.name[:200]
        key.save(update_fields=["state", "retired_at", "retired_by"])
        _record(key, "retired", by)
    return key
