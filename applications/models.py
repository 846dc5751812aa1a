"""The SaaS app as an OAuth client of one organization, and the tokens the gateway issues to it.

django-oauth-toolkit's models are swapped for these (see OAUTH2_PROVIDER_*_MODEL in settings): the
application belongs to an organization, and every grant and token belongs to a user of that
organization's directory (organizations.User), never to an operator account.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, identify_hasher, make_password
from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
    ClientSecretField,
)

from organizations.models import Organization, User


class GeneratedSecretHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 with one iteration (a salted HMAC-SHA256), for client secrets the gateway generates.

    The work factor of a password hash (1,000,000 iterations, about 250 ms of CPU) protects guessable
    passwords. A generated client secret is 128 random characters from 62 (762 bits): nothing to guess,
    so the salted HMAC is as strong, as for the API keys' SHA-256 (cryptr_sso.hashing). The stored value
    keeps Django's `pbkdf2_sha256$<iterations>$<salt>$<hash>` format, so django-oauth-toolkit checks it
    with the stock hasher (which reads the iteration count from the value) and operators' passwords are
    not affected: PASSWORD_HASHERS is unchanged."""

    iterations = 1

    @classmethod
    def verifiable(cls) -> bool:
        """Whether check_password can read such a value: PBKDF2PasswordHasher is in PASSWORD_HASHERS
        (Django's default; a deployment, or a test, may leave it out)."""
        try:
            get_hasher(cls.algorithm)
        except ValueError:
            return False
        return True


# Shorter secrets (none are made by the gateway: application_create and the admin generate them) keep
# the default password hasher, and so does a deployment whose PASSWORD_HASHERS leave PBKDF2 out.
GENERATED_SECRET_MIN_LENGTH = 64


class GeneratedClientSecretField(ClientSecretField):
    """django-oauth-toolkit's client secret field, hashing long generated secrets with
    GeneratedSecretHasher instead of the password hasher: a confidential client's token exchange
    otherwise spends ~250 ms of CPU checking its secret."""

    def pre_save(self, model_instance, add):
        secret = getattr(model_instance, self.attname)
        if (
            getattr(model_instance, "hash_client_secret", True)
            and len(secret or "") >= GENERATED_SECRET_MIN_LENGTH
            and GeneratedSecretHasher.verifiable()
        ):
            try:
                identify_hasher(secret)
            except ValueError:  # not hashed yet
                hashed = make_password(secret, hasher=GeneratedSecretHasher())
                setattr(model_instance, self.attname, hashed)
                return hashed
        return super().pre_save(model_instance, add)


class Application(AbstractApplication):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="applications")
    # DOT's field, but generated secrets hashed fast (see GeneratedClientSecretField).
    client_secret = GeneratedClientSecretField(
        max_length=255,
        blank=True,
        default=generate_client_secret,
        db_index=True,
        help_text=_("Client secret for authentication"),
        verbose_name=_("client secret"),
    )
    description = models.TextField(blank=True, default="")
    application_type = models.CharField(max_length=32, default="regular_web")
    default_redirect_uri_after_login = models.URLField(max_length=2000, blank=True, default="")
    default_redirect_uri_after_logout = models.URLField(max_length=2000, blank=True, default="")

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        ordering = ("-created", "-id")


class SsoLoginFields(models.Model):
    """Which SSO connection signed the user in: carried from the authorize request to every token
    (claims `sci`, `ips`, `auth_time`), through refreshes too."""

    idp_id = models.CharField(max_length=100, blank=True, default="")
    provider_type = models.CharField(max_length=32, blank=True, default="")
    auth_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


# The SSO sign-in of the grant being created (see grant_sign_in): django-oauth-toolkit creates the
# Grant itself, with its own fields only.
_grant_sign_in: ContextVar[dict | None] = ContextVar("grant_sign_in", default=None)


@contextmanager
def grant_sign_in(fields: dict):
    """Grants created inside this block get these SsoLoginFields in their INSERT (the gateway's
    validator wraps DOT's `_create_authorization_code` with it): no second UPDATE per code."""
    token = _grant_sign_in.set(fields)
    try:
        yield
    finally:
        _grant_sign_in.reset(token)


class Grant(SsoLoginFields, AbstractGrant):  # noqa: DJ008 (django-oauth-toolkit's abstract model defines __str__)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"

    def save(self, *args, **kwargs):
        fields = _grant_sign_in.get()
        if fields and self._state.adding:
            for name, value in fields.items():
                setattr(self, name, value)
        super().save(*args, **kwargs)


class IDToken(AbstractIDToken):
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class AccessToken(SsoLoginFields, AbstractAccessToken):  # noqa: DJ008 (django-oauth-toolkit's abstract model defines __str__)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


# The refresh token families revoked for reuse while noting_revoked_families() is open.
_revoked_families: ContextVar[list | None] = ContextVar("revoked_refresh_families", default=None)


@contextmanager
def noting_revoked_families():
    """Collect, as dicts (family, user_id, idp_id, client_id, organization_id, organization_domain,
    live), the families RefreshToken.revoke_family revokes inside the block: django-oauth-toolkit
    revokes a family when a spent refresh token is replayed, and says nothing to its caller."""
    families: list[dict] = []
    token = _revoked_families.set(families)
    try:
        yield families
    finally:
        _revoked_families.reset(token)


class RefreshToken(SsoLoginFields, AbstractRefreshToken):  # noqa: DJ008 (django-oauth-toolkit's abstract model defines __str__)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"

    @classmethod
    def revoke_family(cls, token_family) -> None:
        noted = _revoked_families.get()
        if noted is not None and token_family:
            family = cls.objects.filter(token_family=token_family)
            row = family.values(
                "user_id",
                "idp_id",
                client_id=models.F("application__client_id"),
                organization_id=models.F("application__organization_id"),
                organization_domain=models.F("application__organization__domain"),
            ).first()
            if row is not None:
                noted.append({**row, "family": token_family, "live": family.filter(revoked__isnull=True).count()})
        super().revoke_family(token_family)
