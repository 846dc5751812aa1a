"""The SSO connection: the link between one organization's identity provider and one application."""

import secrets
import string

from django.conf import settings
from django.db import models

from organizations.models import Organization

from .providers import OIDC, PROTOCOLS, PROVIDER_TYPE_CHOICES, SAML, UNSET

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
IDP_ID_RANDOM_LENGTH = 22  # 22 base62 characters: about 131 bits

BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SSO_BINDINGS = ((BINDING_HTTP_REDIRECT, "HTTP-Redirect"), (BINDING_HTTP_POST, "HTTP-POST"))


def new_idp_id(domain: str) -> str:
    """`<domain with - replaced by _>_<22 random base62 characters>`, e.g. misapret_Vq5XKzsUs83o5F78fqbJJU."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(IDP_ID_RANDOM_LENGTH))
    return f"{domain.replace('-', '_')}_{random_part}"


class UsersProvisioning(models.TextChoices):
    PROVISION_NEW_USERS = "provision_new_users", "Create users at their first sign-in"
    EXISTING_USERS_ONLY = "existing_users_only", "Only users already in the directory may sign in"


LIFECYCLE_DRAFT, LIFECYCLE_TESTED, LIFECYCLE_ACTIVE, LIFECYCLE_INACTIVE = "draft", "tested", "active", "inactive"
LIFECYCLE_STATES = (LIFECYCLE_DRAFT, LIFECYCLE_TESTED, LIFECYCLE_ACTIVE, LIFECYCLE_INACTIVE)


class SSOConnection(models.Model):
    # The idp_id. Immutable: IdPs are configured with URLs that contain it (entity id, ACS URL).
    id = models.CharField(primary_key=True, max_length=100, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sso_connections")
    # RESTRICT: an application cannot be deleted while a connection uses it, but deleting the
    # organization removes both.
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.RESTRICT, related_name="sso_connections"
    )
    active = models.BooleanField(default=False)
    protocol = models.CharField(max_length=8, choices=PROTOCOLS, default=SAML)
    provider_type = models.CharField(max_length=32, choices=PROVIDER_TYPE_CHOICES, default=UNSET)
    sso_admin_email = models.EmailField(max_length=254, blank=True, default="")
    users_provisioning = models.CharField(
        max_length=32, choices=UsersProvisioning.choices, default=UsersProvisioning.PROVISION_NEW_USERS
    )
    bypass_it_admin_test = models.BooleanField(
        default=False,
        help_text="Allow activation without a successful test login by the IT admin.",
    )

    # SAML: the identity provider, as its metadata (pasted or fetched) or typed by hand describes it.
    idp_metadata_xml = models.TextField(blank=True, default="")
    idp_metadata_url = models.URLField(max_length=2000, blank=True, default="")
    idp_metadata_fetched_at = models.DateTimeField(null=True, blank=True)
    idp_metadata_valid_until = models.DateTimeField(null=True, blank=True)
    idp_entity_id = models.CharField(max_length=1024, blank=True, default="")
    idp_sso_url = models.URLField(max_length=2000, blank=True, default="")
    idp_sso_binding = models.CharField(max_length=64, choices=SSO_BINDINGS, default=BINDING_HTTP_REDIRECT)
    idp_slo_url = models.URLField(max_length=2000, blank=True, default="")
    idp_slo_binding = models.CharField(max_length=64, choices=SSO_BINDINGS, blank=True, default="")
    idp_certificates = models.JSONField(default=list, blank=True, help_text="Signing certificates, PEM.")
    attribute_mapping = models.JSONField(
        default=dict, blank=True, help_text="Our claim (email, given_name, family_name) -> IdP attribute."
    )
    allow_idp_initiated = models.BooleanField(default=False)
    # Entra ID and AD FS sign only the assertion: a signed assertion (or a signed response) is always
    # required; this asks for a signed Response on top.
    want_response_signed = models.BooleanField(default=False)

    # OIDC: the relying party's registration at the IdP (connections/oidc/). The client secret is
    # stored encrypted (connections.crypto) and never shown back; the endpoints come from the issuer's
    # discovery document, read when the issuer is saved.
    oidc_issuer = models.CharField(max_length=2000, blank=True, default="")
    oidc_client_id = models.CharField(max_length=512, blank=True, default="")
    oidc_client_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    oidc_scopes = models.CharField(max_length=512, blank=True, default="openid email profile")
    oidc_authorization_endpoint = models.URLField(max_length=2000, blank=True, default="")
    oidc_token_endpoint = models.URLField(max_length=2000, blank=True, default="")
    oidc_userinfo_endpoint = models.URLField(max_length=2000, blank=True, default="")
    oidc_jwks_uri = models.URLField(max_length=2000, blank=True, default="")
    oidc_token_endpoint_auth_method = models.CharField(max_length=32, blank=True, default="client_secret_basic")
    oidc_discovered_issuer = models.CharField(
        max_length=2000,
        blank=True,
        default="",
        help_text="The discovery document's issuer (Entra ID's multi-tenant documents say {tenantid}).",
    )
    oidc_discovery_fetched_at = models.DateTimeField(null=True, blank=True)
    # OpenID Connect RP-Initiated Logout 1.0: where the browser goes to end the person's IdP session when
    # an application signs them out through the gateway (empty when the IdP advertises none).
    oidc_end_session_endpoint = models.URLField(max_length=2000, blank=True, default="")
    oidc_logout_at_idp = models.BooleanField(
        default=True,
        help_text="When an application signs a user out, also end their session at the IdP (when its discovery "
        "document has an end_session_endpoint). Switch off for an IdP whose logout misbehaves.",
    )
    # Entra ID: the customer's directory (tenant) id; Google Workspace: its hosted domains (`hd`).
    oidc_tenant_id = models.CharField(max_length=64, blank=True, default="")
    oidc_hosted_domains = models.JSONField(default=list, blank=True)

    last_successful_test_at = models.DateTimeField(null=True, blank=True)
    # Set when an active connection is switched off (cleared when it is switched on again): the lifecycle
    # then says "inactive" rather than "tested". Who switched it on or off is in the audit trail as well.
    deactivated_at = models.DateTimeField(null=True, blank=True, editable=False)
    deactivated_by = models.CharField(max_length=200, blank=True, default="", editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSO connection"
        ordering = ("-inserted_at", "-id")
        indexes = [
            models.Index(fields=["-inserted_at", "-id"], name="conn_newest_first"),
            models.Index(fields=["organization", "-inserted_at", "-id"], name="conn_org_newest_first"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(protocol__in=[SAML, OIDC]), name="conn_protocol_known"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def idp_id(self) -> str:
        return self.id

    @property
    def lifecycle(self) -> str:
        """draft -> tested -> active -> inactive, derived from the stored facts (see LIFECYCLE_STATES):
        active while it serves sign-ins; inactive once switched off after serving; tested after the IT
        admin's successful test login; draft before that."""
        if self.active:
            return LIFECYCLE_ACTIVE
        if self.deactivated_at is not None:
            return LIFECYCLE_INACTIVE
        if self.last_successful_test_at is not None:
            return LIFECYCLE_TESTED
        return LIFECYCLE_DRAFT

    @property
    def has_usable_idp_configuration(self) -> bool:
        return not self.missing_idp_configuration()

    @property
    def oidc_client_secret(self) -> str:
        from .crypto import decrypt_text

        return decrypt_text(self.oidc_client_secret_encrypted)

    @oidc_client_secret.setter
    def oidc_client_secret(self, value: str) -> None:
        from .crypto import encrypt_text

        self.oidc_client_secret_encrypted = encrypt_text(value)

    def missing_idp_configuration(self) -> list[str]:
        """What the IdP side still lacks before a sign-in can work (empty when nothing)."""
        if self.protocol == OIDC:
            return self.missing_oidc_configuration()
        missing = []
        if not self.idp_entity_id:
            missing.append("idp_entity_id")
        if not self.idp_sso_url:
            missing.append("idp_sso_url")
        if not self.idp_certificates:
            missing.append("idp_certificates")
        return missing

    def missing_oidc_configuration(self) -> list[str]:
        from .providers import OIDC_PROFILE_ENTRA, provider_get

        missing = []
        if not self.oidc_issuer:
            missing.append("issuer")
        elif not (self.oidc_authorization_endpoint and self.oidc_token_endpoint and self.oidc_jwks_uri):
            missing.append("discovery")
        if not self.oidc_client_id:
            missing.append("client_id")
        if not self.oidc_client_secret_encrypted:
            missing.append("client_secret")
        if provider_get(self.provider_type).oidc_profile == OIDC_PROFILE_ENTRA and not self.oidc_tenant_id:
            missing.append("tenant_id")
        return missing


class CertificateExpiryNotice(models.Model):
    """A warning that a certificate expires soon, at one threshold (60, 30 or 7 days before): made once per
    certificate, threshold and audience (connections/tasks.py), then emailed by a Celery task.

    `scope` is the connection id for a warning about that connection (its IdP certificate, or the SP
    certificate its IdP was given), or "operators" for the deployment's SP certificate (one email to the
    operators, not one per connection)."""

    IDP, SP = "idp", "sp"
    KINDS = ((IDP, "IdP signing certificate"), (SP, "SP certificate"))
    OPERATORS = "operators"

    kind = models.CharField(max_length=3, choices=KINDS)
    fingerprint = models.CharField(max_length=95, help_text="SHA-256 of the certificate, AA:BB:... hex.")
    threshold_days = models.PositiveSmallIntegerField()
    scope = models.CharField(max_length=100)
    connection = models.ForeignKey(
        SSOConnection, null=True, blank=True, on_delete=models.CASCADE, related_name="certificate_notices"
    )
    subject = models.CharField(max_length=500, blank=True, default="")
    not_valid_after = models.DateTimeField()
    recipients = models.JSONField(default=list, help_text='[{"email": ..., "role": "operator" | "it_admin"}]')
    sent_to = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    inserted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-inserted_at",)
        constraints = [
            models.UniqueConstraint(
                "kind", "fingerprint", "threshold_days", "scope", name="certificate_notice_once_per_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.fingerprint[:11]}… {self.threshold_days} days ({self.scope})"
