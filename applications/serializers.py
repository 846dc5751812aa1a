"""Shapes of applications in the v2 API. `id` is the OAuth client_id."""

from rest_framework import serializers

from cryptr_sso.api.inputs import StrictSerializer

from . import validators
from .kinds import APPLICATION_TYPES


class _UriField(serializers.CharField):
    check = staticmethod(validators.validate_redirect_uri)

    def __init__(self, **kwargs):
        super().__init__(max_length=validators.MAX_URI_LENGTH, **kwargs)

    def to_internal_value(self, data):
        try:
            return self.check(super().to_internal_value(data))
        except validators.UriError as error:
            raise serializers.ValidationError(str(error)) from None


class RedirectUriField(_UriField):
    pass


class OriginField(_UriField):
    check = staticmethod(validators.validate_origin)


class UriListField(serializers.ListField):
    """A list of URIs; a single string (as a form body sends one value) counts as a list of one."""

    def __init__(self, child, **kwargs):
        super().__init__(child=child, max_length=validators.MAX_URIS, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data] if data.strip() else []
        return validators.unique(super().to_internal_value(data))


class ApplicationCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    application_type = serializers.ChoiceField(choices=sorted(APPLICATION_TYPES))
    allowed_origins_cors = UriListField(child=OriginField(), required=False)
    allowed_redirect_uris_after_login = UriListField(child=RedirectUriField(), min_length=1)
    allowed_redirect_uris_after_logout = UriListField(child=RedirectUriField(), required=False)
    default_redirect_uri_after_login = RedirectUriField(required=False)
    default_redirect_uri_after_logout = RedirectUriField(required=False, allow_blank=True)


class ApplicationUpdateInput(ApplicationCreateInput):
    name = serializers.CharField(max_length=255, required=False)
    application_type = serializers.ChoiceField(choices=sorted(APPLICATION_TYPES), required=False)
    allowed_redirect_uris_after_login = UriListField(child=RedirectUriField(), min_length=1, required=False)


def _split(value: str) -> list[str]:
    return value.split() if value else []


class ApplicationOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    id = serializers.CharField(source="client_id")
    client_id = serializers.CharField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    application_type = serializers.CharField()
    client_type = serializers.CharField()
    allowed_origins_cors = serializers.SerializerMethodField()
    allowed_redirect_uris_after_login = serializers.SerializerMethodField()
    allowed_redirect_uris_after_logout = serializers.SerializerMethodField()
    default_redirect_uri_after_login = serializers.CharField()
    default_redirect_uri_after_logout = serializers.CharField()
    inserted_at = serializers.DateTimeField(source="created")
    updated_at = serializers.DateTimeField(source="updated")

    def get___type__(self, obj) -> str:
        return "Application"

    def get___domain__(self, obj) -> str:
        return self.context["domain"]

    def get_allowed_origins_cors(self, obj) -> list[str]:
        return _split(obj.allowed_origins)

    def get_allowed_redirect_uris_after_login(self, obj) -> list[str]:
        return _split(obj.redirect_uris)

    def get_allowed_redirect_uris_after_logout(self, obj) -> list[str]:
        return _split(obj.post_logout_redirect_uris)


class ApplicationCreatedOutput(ApplicationOutput):
    """The only response that carries the client secret: the one of the creation of a confidential client."""

    client_secret = serializers.CharField(
        allow_null=True, help_text="Shown once, for confidential clients; stored hashed."
    )
