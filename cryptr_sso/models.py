import uuid

from django.db import models
from django.utils.functional import cached_property


class BaseModel(models.Model):
    """A UUID primary key and the `inserted_at` / `updated_at` stamps every resource of the API carries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """One line of the audit trail: who did what, to which organization and connection, from where.

    Written only through cryptr_sso.audit.record_event, which masks secrets in `data`. The organization may
    be deleted later; `organization_domain` keeps the trail readable (and its events still filterable).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    type = models.CharField(max_length=64, db_index=True, help_text='Dotted, e.g. "sso.login.failed".')
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    organization_domain = models.CharField(max_length=63, blank=True, default="")
    actor = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text='"api_key:<client_id>", "operator:<username>", "end_user:<id>" or "system".',
    )
    connection_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    user_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    ip = models.CharField(max_length=45, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-inserted_at", "-id")
        indexes = [
            models.Index(fields=["organization", "-inserted_at", "-id"], name="event_org_newest_first"),
            # The connection admin's "last successful / failed sign-in" columns (one lookup per row).
            models.Index(fields=["connection_id", "type", "-inserted_at"], name="event_connection_last"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.organization_domain or '-'} {self.inserted_at:%Y-%m-%d %H:%M:%S}"


class SigningKey(models.Model):
    """A key the gateway signs with, rotated from the admin: published -> active -> retired.

    `token` keys sign ID tokens and access tokens (RS256, published in every organization's JWKS);
    `saml_sp` keys sign AuthnRequests and logout messages and decrypt assertions (listed in the SP
    metadata). When a purpose has an active key here it wins over the environment / var/ key, which
    stays the default of deployments that never rotate. Written only through cryptr_sso.signing_keys.
    """

    class Purpose(models.TextChoices):
        TOKEN = "token", "Token signing (OIDC / OAuth)"
        SAML_SP = "saml_sp", "SAML SP signing and encryption"

    class State(models.TextChoices):
        PUBLISHED = "published", "Published (not signing yet)"
        ACTIVE = "active", "Active (signs)"
        RETIRED = "retired", "Retired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PUBLISHED)
    kid = models.CharField(
        max_length=100,
        unique=True,
        help_text="Token keys: the RFC 7638 thumbprint (the JWT kid). SP keys: the certificate's SHA-256.",
    )
    # Fernet-encrypted (connections.crypto): a database dump alone gives no signing key.
    private_key_encrypted = models.TextField()
    certificate_pem = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.CharField(max_length=200, blank=True, default="")
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ("purpose", "-created_at")
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"], condition=models.Q(state="active"), name="signing_key_one_active_per_purpose"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.kid[:16]} ({self.state})"

    @cached_property
    def private_key_pem(self) -> str:
        # Decrypted once per instance: signing_keys keeps its instances for a few seconds per process.
        from connections.crypto import decrypt_text

        return decrypt_text(self.private_key_encrypted)
