from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property

from cryptr_sso.models import BaseModel


class Organization(BaseModel):
    """The users directory of one customer."""

    name = models.CharField(max_length=255)
    domain = models.SlugField(max_length=63, unique=True, help_text="Unique slug of the name; immutable.")
    locality = models.CharField(max_length=255)
    country_name = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=255, blank=True, default="")
    allowed_email_domains = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("-inserted_at", "-id")
        indexes = [models.Index(fields=["-inserted_at", "-id"], name="org_newest_first")]

    def __str__(self) -> str:
        return f"{self.name} ({self.domain})"


class User(BaseModel):
    """An end user inside one organization's directory."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField(max_length=254)
    email_verified = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    profile = models.JSONField(default=dict, blank=True)
    meta_data = models.JSONField(default=dict, blank=True)
    # Every gateway sign-in of the user made before this moment is ended, whatever the protocol: the
    # authorize endpoint compares it with the sign-in's time in the session (connections/login_session.py).
    sessions_revoked_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Gateway sign-ins made before this moment are ended (revoke all sessions, deactivation).",
    )

    class Meta:
        ordering = ("-inserted_at", "-id")
        constraints = [
            models.UniqueConstraint(Lower("email"), "organization", name="user_email_unique_per_org"),
        ]
        indexes = [models.Index(fields=["organization", "-inserted_at", "-id"], name="user_org_newest_first")]

    # Directory users stand in for request.user in the OAuth authorize flow.
    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return self.email

    @cached_property
    def identity_list(self) -> list["Identity"]:
        """The user's identities, oldest first. selectors.user_queryset() fills it for a whole page in one
        query (Prefetch to_attr): a plain list, which serializes much faster than `identities.all()`."""
        return list(self.identities.order_by("inserted_at"))


class Identity(BaseModel):
    """How one user is known to one SSO connection: the (idp_id, subject) pair is the key, never the email."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    idp_id = models.CharField(max_length=100)
    provider = models.CharField(max_length=64, help_text='For example "saml.okta" or "oidc.google".')
    subject = models.CharField(max_length=512)
    authenticated_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint("idp_id", "subject", name="identity_unique_subject_per_connection")]

    def __str__(self) -> str:
        return f"{self.idp_id}:{self.subject}"


class ApiKey(BaseModel):
    """A credential of the management API. The secret is shown once and only its SHA-256 is kept."""

    name = models.CharField(max_length=255)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    all_organizations = models.BooleanField(
        default=False,
        help_text="The key sees every organization, present and future.",
    )
    organizations = models.ManyToManyField(
        Organization,
        blank=True,
        related_name="api_keys",
        help_text="The only organizations this key sees, unless it sees all of them.",
    )
    scopes = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ("-inserted_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @cached_property
    def allowed_organization_ids(self) -> set | None:
        """None when the key sees every organization. A restricted key whose organizations were all
        deleted sees nothing (an empty set), never everything."""
        if self.all_organizations:
            return None
        return set(self.organizations.values_list("id", flat=True))


class ApiAccessToken(models.Model):
    """A short-lived Bearer token issued to an API key; only its SHA-256 is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="access_tokens")
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(db_index=True)
    inserted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        # Never the token or its hash: this string ends up in logs and the admin.
        return f"access token {self.pk} of {self.api_key_id}"


# Webhook endpoints and deliveries (organizations/webhooks/) are models of this app.
from .webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
