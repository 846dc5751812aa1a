"""Shapes of the tenant directory in the v2 API (output) and what it accepts (input)."""

import re

from rest_framework import serializers

from cryptr_sso.api.inputs import StrictSerializer

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class EmailDomainField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Each email domain must be a string such as 'example.com'.")
        value = super().to_internal_value(data).strip().lower()
        if not HOSTNAME_RE.match(value):
            raise serializers.ValidationError(f"'{value}' is not an email domain such as 'example.com'.")
        return value


class OrganizationOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.CharField(source="domain")
    id = serializers.UUIDField()
    name = serializers.CharField()
    domain = serializers.CharField()
    locality = serializers.CharField()
    country_name = serializers.CharField()
    state = serializers.CharField()
    allowed_email_domains = serializers.ListField(child=serializers.CharField())
    inserted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "Organization"


# Shared with the admin form, so operators and API clients meet the same rules.
ALLOWED_EMAIL_DOMAINS = serializers.ListField(child=EmailDomainField(max_length=253), max_length=100)


class OrganizationCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=255)
    locality = serializers.CharField(max_length=255)
    country_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    state = serializers.CharField(max_length=255, required=False, allow_blank=True)
    allowed_email_domains = serializers.ListField(
        child=EmailDomainField(max_length=253), required=False, max_length=100
    )


class OrganizationUpdateInput(OrganizationCreateInput):
    name = serializers.CharField(max_length=255, required=False)
    locality = serializers.CharField(max_length=255, required=False)


PROFILE_FIELDS = (
    "given_name",
    "family_name",
    "middle_name",
    "name",
    "nickname",
    "preferred_username",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
)


class ProfileInput(StrictSerializer):
    def get_fields(self):
        return {
            name: serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
            for name in PROFILE_FIELDS
        }


def _unstorable_text(value) -> bool:
    """True when a string anywhere in a JSON value cannot be stored: PostgreSQL's jsonb refuses
    U+0000, and a lone surrogate is not Unicode at all."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_unstorable_text(k) or _unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable_text(item) for item in value)
    return False


class MetaDataField(serializers.DictField):
    """Free-form JSON. Its size limits apply to the stored (merged) value, so services check them."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if _unstorable_text(value):
            raise serializers.ValidationError("meta_data must not contain NUL characters or lone surrogates.")
        return value


class UserCreateInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    email_verified = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False)
    profile = ProfileInput(required=False)
    meta_data = MetaDataField(required=False)


class UserUpdateInput(UserCreateInput):
    email = serializers.EmailField(max_length=254, required=False)


class UserListQuery(StrictSerializer):
    email = serializers.EmailField(
        max_length=254, required=False, help_text="Only the user with this email (compared case-insensitively)."
    )


class IdentityOutput(serializers.Serializer):
    idp_id = serializers.CharField()
    provider = serializers.CharField()
    subject = serializers.CharField()
    authenticated_at = serializers.DateTimeField()
    data = serializers.DictField()


class UserOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    id = serializers.UUIDField()
    email = serializers.EmailField()
    email_verified = serializers.BooleanField()
    active = serializers.BooleanField()
    profile = serializers.DictField()
    identities = IdentityOutput(many=True, source="identity_list")
    meta_data = serializers.DictField()
    inserted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "User"

    def get___domain__(self, obj) -> str:
        # Users are always read inside one organization: no query per user for its domain.
        return self.context["domain"]


class SessionsRevokedOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    user_id = serializers.UUIDField(source="user.id")
    sessions_revoked_at = serializers.DateTimeField(
        source="user.sessions_revoked_at",
        help_text="Every gateway sign-in of the user made before this moment is ended, SAML or OIDC connection: "
        "the next authorization request sends the person to their IdP again.",
    )
    tokens_revoked = serializers.IntegerField(
        source="tokens", help_text="Access and refresh tokens revoked (ID tokens go with their access token)."
    )
    sign_ins_ended = serializers.IntegerField(
        source="sign_ins",
        help_text="Of those sign-ins, the ones found by the SAML logout index and deleted at once "
        "(the others end when they are next used).",
    )

    def get___type__(self, obj) -> str:
        return "SessionsRevocation"

    def get___domain__(self, obj) -> str:
        return self.context["domain"]


class TokenInput(StrictSerializer):
    grant_type = serializers.CharField()
    # Blank credentials are a failed client authentication (401 invalid_client), not a malformed request.
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    client_secret = serializers.CharField(required=False, allow_blank=True, max_length=200)
    scope = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class TokenOutput(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()
