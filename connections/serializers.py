"""Shapes of SSO connections in the v2 API (output) and what it accepts (input)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cryptr_sso.api.inputs import StrictSerializer
from onboarding.serializers import OnboardingOutput, onboarding_output

from . import selectors
from .models import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, LIFECYCLE_STATES, SSOConnection, UsersProvisioning
from .oidc.config import redirect_uri_for
from .providers import OIDC, PROTOCOLS, PROVIDER_TYPE_CHOICES
from .saml.keys import sp_certificate_pem
from .saml.metadata import MAX_METADATA_BYTES

# Our user claims an IdP attribute may fill (OIDC standard claim names, plus groups).
MAPPABLE_CLAIMS = ("email", "given_name", "family_name", "name", "nickname", "locale", "phone_number", "groups")
BINDINGS = {
    "redirect": BINDING_HTTP_REDIRECT,
    "post": BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT: BINDING_HTTP_REDIRECT,
    BINDING_HTTP_POST: BINDING_HTTP_POST,
}


class AttributeMappingField(serializers.DictField):
    """`{"email": "<IdP attribute name>", ...}`; a null value goes back to the provider's default."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=512, allow_null=True), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = sorted(set(value) - set(MAPPABLE_CLAIMS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown claim(s) {', '.join(unknown)}; map any of: {', '.join(MAPPABLE_CLAIMS)}."
            )
        return value


class SamlConfigInput(StrictSerializer):
    idp_metadata_xml = serializers.CharField(max_length=MAX_METADATA_BYTES, trim_whitespace=False)
    idp_metadata_url = serializers.URLField(max_length=2000)
    idp_entity_id = serializers.CharField(max_length=1024)
    idp_sso_url = serializers.URLField(max_length=2000)
    idp_sso_binding = serializers.ChoiceField(choices=sorted(BINDINGS))
    idp_slo_url = serializers.URLField(max_length=2000, allow_blank=True)
    idp_certificates = serializers.ListField(child=serializers.CharField(max_length=20_000), min_length=1, max_length=5)
    attribute_mapping = AttributeMappingField()
    allow_idp_initiated = serializers.BooleanField()
    want_response_signed = serializers.BooleanField()

    MANUAL = ("idp_entity_id", "idp_sso_url", "idp_sso_binding", "idp_slo_url", "idp_certificates")

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields

    def validate(self, attrs):
        sources = [
            name
            for name, present in (
                ("idp_metadata_xml", "idp_metadata_xml" in attrs),
                ("idp_metadata_url", "idp_metadata_url" in attrs),
                ("the IdP fields", any(name in attrs for name in self.MANUAL)),
            )
            if present
        ]
        if len(sources) > 1:
            raise serializers.ValidationError(
                f"Give the identity provider one way only: {' or '.join(sources)}, not several."
            )
        if "idp_sso_binding" in attrs:
            attrs["idp_sso_binding"] = BINDINGS[attrs["idp_sso_binding"]]
        return attrs


class OidcConfigInput(StrictSerializer):
    issuer = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        help_text="The IdP's issuer URL (https); its discovery document is read when saved.",
    )
    client_id = serializers.CharField(max_length=512, allow_blank=True)
    client_secret = serializers.CharField(
        max_length=4096,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        help_text="Stored encrypted; never returned (see client_secret_set).",
    )
    scopes = serializers.CharField(max_length=512, help_text='Space-separated; "openid" is always sent.')
    tenant_id = serializers.RegexField(
        r"^[A-Za-z0-9.-]{0,64}$", max_length=64, allow_blank=True, help_text="Entra ID: the directory (tenant) id."
    )
    hosted_domains = serializers.ListField(
        child=serializers.CharField(max_length=253),
        max_length=50,
        help_text="Google Workspace: the domains accepted in the hd claim "
        "(the organization's allowed_email_domains when empty).",
    )
    attribute_mapping = AttributeMappingField()
    logout_at_idp = serializers.BooleanField(
        help_text="When the app signs the user out, also sign them out at the IdP (RP-initiated logout, where its "
        "discovery document has an end_session_endpoint). Default true."
    )

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class ConnectionCreateInput(StrictSerializer):
    organization_id = serializers.CharField(max_length=100, help_text="The organization's id or domain.")
    application_id = serializers.CharField(max_length=255, help_text="The application's id (client_id).")
    sso_admin_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    provider_type = serializers.ChoiceField(choices=PROVIDER_TYPE_CHOICES, required=False)
    protocol = serializers.ChoiceField(choices=PROTOCOLS, required=False)


class ConnectionUpdateInput(StrictSerializer):
    active = serializers.BooleanField(required=False)
    protocol = serializers.ChoiceField(choices=PROTOCOLS, required=False)
    provider_type = serializers.ChoiceField(choices=PROVIDER_TYPE_CHOICES, required=False)
    users_provisioning = serializers.ChoiceField(choices=UsersProvisioning.choices, required=False)
    application_id = serializers.CharField(max_length=255, required=False)
    sso_admin_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    bypass_it_admin_test = serializers.BooleanField(required=False)
    saml_config = SamlConfigInput(required=False)
    oidc_config = OidcConfigInput(required=False)


def default_redirection_output(connection: SSOConnection) -> dict | None:
    application = connection.application
    uri = application.default_redirect_uri_after_login
    if not uri or uri not in application.redirect_uris.split():
        return None
    return {
        "__type__": "Redirection",
        "id": selectors.redirection_id(client_id=application.client_id, uri=uri),
        "app_id": application.client_id,
        "uri": uri,
    }


def _metadata_source(connection: SSOConnection) -> str | None:
    if connection.idp_metadata_url:
        return "url"
    if connection.idp_metadata_xml:
        return "xml"
    if connection.idp_entity_id or connection.idp_sso_url or connection.idp_certificates:
        return "manual"
    return None


def saml_config_output(connection: SSOConnection, *, sp_certificate: str | None = None) -> dict:
    endpoints = selectors.saml_sp_endpoints(connection)
    return {
        "entity_id": endpoints.entity_id,
        "acs_url": endpoints.acs_url,
        "sp_metadata_url": endpoints.metadata_url,
        "slo_url": endpoints.slo_url,
        "sp_certificate": sp_certificate if sp_certificate is not None else sp_certificate_pem(connection),
        "idp_metadata_source": _metadata_source(connection),
        "idp_metadata_url": connection.idp_metadata_url or None,
        "idp_metadata_fetched_at": connection.idp_metadata_fetched_at,
        "idp_metadata_valid_until": connection.idp_metadata_valid_until,
        "idp_entity_id": connection.idp_entity_id or None,
        "idp_sso_url": connection.idp_sso_url or None,
        "idp_sso_binding": connection.idp_sso_binding if connection.idp_sso_url else None,
        "idp_slo_url": connection.idp_slo_url or None,
        "idp_certificates": list(connection.idp_certificates),
        "attribute_mapping": dict(connection.attribute_mapping),
        "allow_idp_initiated": connection.allow_idp_initiated,
        "want_response_signed": connection.want_response_signed,
    }


def oidc_config_output(connection: SSOConnection) -> dict:
    return {
        "redirect_uri": redirect_uri_for(connection),
        "issuer": connection.oidc_issuer or None,
        "client_id": connection.oidc_client_id or None,
        "client_secret_set": bool(connection.oidc_client_secret_encrypted),
        "scopes": connection.oidc_scopes,
        "tenant_id": connection.oidc_tenant_id or None,
        "hosted_domains": list(connection.oidc_hosted_domains),
        "authorization_endpoint": connection.oidc_authorization_endpoint or None,
        "token_endpoint": connection.oidc_token_endpoint or None,
        "userinfo_endpoint": connection.oidc_userinfo_endpoint or None,
        "jwks_uri": connection.oidc_jwks_uri or None,
        "end_session_endpoint": connection.oidc_end_session_endpoint or None,
        "logout_at_idp": connection.oidc_logout_at_idp,
        "token_endpoint_auth_method": connection.oidc_token_endpoint_auth_method,
        "discovery_fetched_at": connection.oidc_discovery_fetched_at,
        "attribute_mapping": dict(connection.attribute_mapping),
    }


class OidcConfigOutput(serializers.Serializer):
    redirect_uri = serializers.CharField(help_text="To register in the IdP as the application's redirect URI.")
    issuer = serializers.CharField(allow_null=True)
    client_id = serializers.CharField(allow_null=True)
    client_secret_set = serializers.BooleanField()
    scopes = serializers.CharField()
    tenant_id = serializers.CharField(allow_null=True)
    hosted_domains = serializers.ListField(child=serializers.CharField())
    authorization_endpoint = serializers.CharField(allow_null=True)
    token_endpoint = serializers.CharField(allow_null=True)
    userinfo_endpoint = serializers.CharField(allow_null=True)
    jwks_uri = serializers.CharField(allow_null=True)
    token_endpoint_auth_method = serializers.CharField()
    discovery_fetched_at = serializers.DateTimeField(allow_null=True)
    attribute_mapping = serializers.DictField(child=serializers.CharField())


class SamlConfigOutput(serializers.Serializer):
    entity_id = serializers.CharField()
    acs_url = serializers.CharField()
    sp_metadata_url = serializers.CharField()
    slo_url = serializers.CharField()
    sp_certificate = serializers.CharField()
    idp_metadata_source = serializers.ChoiceField(choices=["xml", "url", "manual"], allow_null=True)
    idp_metadata_url = serializers.CharField(allow_null=True)
    idp_metadata_fetched_at = serializers.DateTimeField(allow_null=True)
    idp_metadata_valid_until = serializers.DateTimeField(allow_null=True)
    idp_entity_id = serializers.CharField(allow_null=True)
    idp_sso_url = serializers.CharField(allow_null=True)
    idp_sso_binding = serializers.CharField(allow_null=True)
    idp_slo_url = serializers.CharField(allow_null=True)
    idp_certificates = serializers.ListField(child=serializers.CharField())
    attribute_mapping = serializers.DictField(child=serializers.CharField())
    allow_idp_initiated = serializers.BooleanField()
    want_response_signed = serializers.BooleanField()


class RedirectionOutput(serializers.Serializer):
    __type__ = serializers.CharField()
    id = serializers.CharField()
    app_id = serializers.CharField()
    uri = serializers.CharField()


class ConnectionOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.CharField(source="organization.domain")
    id = serializers.CharField()
    active = serializers.BooleanField()
    lifecycle = serializers.ChoiceField(
        choices=LIFECYCLE_STATES,
        read_only=True,
        help_text="draft (being set up) -> tested (the IT admin's test login succeeded) -> active (serving "
        "sign-ins) -> inactive (switched off after serving; deactivated_at and deactivated_by say when "
        "and who). Set `active` to move it; activation needs a usable IdP configuration and a test.",
    )
    deactivated_at = serializers.DateTimeField(allow_null=True, read_only=True)
    protocol = serializers.CharField()
    provider_type = serializers.CharField()
    organization_id = serializers.UUIDField()
    application_id = serializers.CharField(source="application.client_id")
    sso_admin_email = serializers.SerializerMethodField()
    users_provisioning = serializers.CharField()
    bypass_it_admin_test = serializers.BooleanField()
    default_redirection = serializers.SerializerMethodField()
    onboarding = serializers.SerializerMethodField()
    saml_config = serializers.SerializerMethodField()
    oidc_config = serializers.SerializerMethodField()
    last_successful_test_at = serializers.DateTimeField(allow_null=True)
    inserted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "SSOConnection"

    def get_sso_admin_email(self, obj) -> str | None:
        return obj.sso_admin_email or None

    @extend_schema_field(RedirectionOutput(allow_null=True))
    def get_default_redirection(self, obj):
        return default_redirection_output(obj)

    @extend_schema_field(OnboardingOutput)
    def get_onboarding(self, obj):
        return onboarding_output(obj)

    @extend_schema_field(SamlConfigOutput(allow_null=True))
    def get_saml_config(self, obj):
        if obj.protocol == OIDC:
            return None
        # The SP key is the deployment's (or the rotation table's active one), the same for every
        # connection: read it once per response, not once per connection of a list.
        if "sp_certificate" not in self.context:
            self.context["sp_certificate"] = sp_certificate_pem(obj)
        return saml_config_output(obj, sp_certificate=self.context["sp_certificate"])

    @extend_schema_field(OidcConfigOutput(allow_null=True))
    def get_oidc_config(self, obj):
        return oidc_config_output(obj) if obj.protocol == OIDC else None
