"""Rotation of the signing keys, from the operator's admin: publish, then switch, then retire.

- publish: a new key is generated and published (in every JWKS, or in the SP metadata as a second
  signing and encryption certificate) but signs nothing yet, so relying parties and IdPs can fetch it;
- activate (the switch): the published key signs from now on; the previously active one is retired
  in the same transaction, so a purpose never has two active keys (a partial unique index guards it);
- retire: a token key stays in the JWKS for max(access token, ID token lifetime) after retirement,
  so every token it signed verifies until it expires; a retired SP key leaves the metadata at once.

When a purpose has no active key in the table, the environment / var/ key signs (deployments that
never rotate keep working untouched). The environment's token keys (OIDC_RSA_PRIVATE_KEY and
OIDC_RSA_PRIVATE_KEYS_INACTIVE) are retired like a table key once the table takes over: they stay in
the JWKS until token_key_retention() after the first switch (the earliest `activated_at` of a token
key; `environment_token_keys_superseded`), so every token they signed verifies until it expires, then
they leave it. The table cannot mark them retired (they are not rows), and nothing needs to: once a
table key is active one always is (a switch retires the previous key in the same transaction, and
the active key cannot be retired), so the environment key never signs again. Operators should still
remove the variables at their next deployment (a key that signs nothing should not sit in the
environment); if they are left, nothing is published or signed with them. Should the table lose
its active key (rows deleted by hand), the environment key signs and is published again at once.

Each process keeps what it read of the table (`_KeyCache`) for at most KEY_CACHE_SECONDS, so a token
exchange or a SAML login reads no key row (it read the table up to three times per request). Why a
few seconds of staleness are safe, step by step, for a process that has not seen a change yet:

- publish: the new key enters this process's JWKS and SP metadata up to KEY_CACHE_SECONDS late. It
  signs nothing yet, and relying parties cache a JWKS for OIDC_JWKS_MAX_AGE_SECONDS anyway, so the
  operator already waits far longer than that between publishing and switching.
- switch: this process goes on signing with the previous key for up to KEY_CACHE_SECONDS. That key
  is still published everywhere (retired keys stay in the JWKS), so the tokens verify. A token it
  signs at retired_at + KEY_CACHE_SECONDS lives until then + its lifetime, which is why
  `token_key_retention()` adds KEY_CACHE_SECONDS to the longest token lifetime: the key stays in
  every JWKS until the last token it can have signed has expired. An SP key switch is the same: the
  previous SP key signs AuthnRequests a few seconds more, and the new one, still "published" in
  the old view, is among the decryption keys, so assertions encrypted to it decrypt.
- retire: only a key that is not active is retired directly (a published one never signed); the
  active one is retired by the switch above. Once a process has loaded a view in which a key is
  retired, it never signs with it again: signing reads only the view's active key, and a view is
  replaced, never merged. The process that rotates drops its view at once (and again on commit),
  so the operator's own process signs with the new key immediately.

Without Redis, or with several hosts, nothing else is needed: every process re-reads the table
within KEY_CACHE_SECONDS on its own, there is no message to lose. The private keys are decrypted once
per view, not per signature.
"""

import hashlib
import threading
import time
from dataclasses import dataclass
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


# How long a process may keep its view of the table (see the module docstring).
KEY_CACHE_SECONDS = 5.0


def token_key_retention() -> timedelta:
    """How long a retired token key stays in the JWKS: the longest a token it signed can live, plus
    the seconds a process may still sign with it before it sees the switch (KEY_CACHE_SECONDS)."""
    from oauth2_provider.settings import oauth2_settings

    longest = max(oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS, oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)
    return timedelta(seconds=longest + KEY_CACHE_SECONDS)


@dataclass(frozen=True)
class _KeyView:
    keys: tuple[SigningKey, ...]  # every key that is not retired, and token keys retired within the retention
    loaded_at: float  # _KeyCache.clock(): time.monotonic()


class _KeyCache:
    """This process's view of the table, re-read when older than KEY_CACHE_SECONDS or dropped by a
    rotation made in this process."""

    def __init__(self):
        self._view: _KeyView | None = None
        self._lock = threading.Lock()
        self.clock = time.monotonic

    def current(self) -> tuple[SigningKey, ...]:
        view = self._view
        if not self._fresh(view):
            with self._lock:  # one reader per process reloads, the others wait for its view
                view = self._view
                if not self._fresh(view):
                    view = self._view = _KeyView(keys=self._load(), loaded_at=self.clock())
        return view.keys

    def _fresh(self, view: _KeyView | None) -> bool:
        # A clock that went backwards (a test's frozen time) makes the view stale, not eternal.
        return view is not None and 0 <= self.clock() - view.loaded_at < KEY_CACHE_SECONDS

    @staticmethod
    def _load() -> tuple[SigningKey, ...]:
        retired_long_ago = timezone.now() - token_key_retention()
        rows = SigningKey.objects.exclude(state=SigningKey.State.RETIRED, purpose=SigningKey.Purpose.SAML_SP).exclude(
            state=SigningKey.State.RETIRED, retired_at__lt=retired_long_ago
        )
        return tuple(rows)

    def clear(self) -> None:
        self._view = None


key_cache = _KeyCache()


def _forget_keys_now_and_on_commit() -> None:
    key_cache.clear()  # this process's next read, even inside the rotating transaction
    transaction.on_commit(key_cache.clear)  # and once more, for a read made before the commit


def active_signing_key(*, purpose: str) -> SigningKey | None:
    return next(
        (key for key in key_cache.current() if key.purpose == purpose and key.state == SigningKey.State.ACTIVE), None
    )


def published_token_keys(*, now: datetime | None = None) -> list[SigningKey]:
    """The token keys in the JWKS: active first, then published, then retired within the retention."""
    oldest_retirement = (now or timezone.now()) - token_key_retention()
    keys = [
        key
        for key in key_cache.current()
        if key.purpose == SigningKey.Purpose.TOKEN
        and not (key.state == SigningKey.State.RETIRED and key.retired_at < oldest_retirement)
    ]
    order = {SigningKey.State.ACTIVE: 0, SigningKey.State.PUBLISHED: 1, SigningKey.State.RETIRED: 2}
    return sorted(keys, key=lambda key: order[key.state])


def environment_token_keys_superseded(*, now: datetime | None = None) -> bool:
    """Whether the environment's token keys have left the JWKS: a table key is active, and the first
    switch (the earliest activation still known) is older than the retention."""
    keys = [key for key in key_cache.current() if key.purpose == SigningKey.Purpose.TOKEN]
    if not any(key.state == SigningKey.State.ACTIVE for key in keys):
        return False
    # Keys retired beyond the retention have left the view; the earliest activation left in it is
    # then the switch that retired them, itself older than the retention: the answer is the same.
    first_switch = min(key.activated_at for key in keys if key.activated_at is not None)
    return first_switch <= (now or timezone.now()) - token_key_retention()


def published_sp_keys() -> list[SigningKey]:
    """SP keys published beside the active one (metadata and decryption), not signing yet."""
    return [
        key
        for key in key_cache.current()
        if key.purpose == SigningKey.Purpose.SAML_SP and key.state == SigningKey.State.PUBLISHED
    ]


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
            purpose=purpose,
            state=SigningKey.State.PUBLISHED,
            kid=kid,
            private_key_encrypted=encrypt_text(private_key_pem),
            certificate_pem=certificate_pem,
            created_by=by.name[:200],
        )
        _record(key, "published", by)
        _forget_keys_now_and_on_commit()
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
        _forget_keys_now_and_on_commit()
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
        _forget_keys_now_and_on_commit()
    return key
