"""GET /api/v2/org/{domain}/events: the organization's audit trail, newest first, filtered by type and date."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from cryptr_sso.api.inputs import StrictSerializer
from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, list_schema
from cryptr_sso.api.views import ApiView
from cryptr_sso.models import AuditEvent

from . import selectors
from .apis import NEWEST_FIRST
from .models import Organization

PAGE_KEYS = ("page", "current_page", "per_page")


def event_list(
    *,
    organization: Organization,
    type: str | None = None,
    since=None,
    until=None,
    connection_id: str | None = None,
    user_id: str | None = None,
) -> QuerySet[AuditEvent]:
    """The events of one organization only (another tenant's never appear). `type` is exact, or a prefix
    when it ends with "." or ".*" (`sso.login.` is every login, succeeded or failed)."""
    events = AuditEvent.objects.filter(organization=organization)
    if type:
        prefix = type.removesuffix("*")
        events = events.filter(type__startswith=prefix) if prefix.endswith(".") else events.filter(type=type)
    if since is not None:
        events = events.filter(inserted_at__gte=since)
    if until is not None:
        events = events.filter(inserted_at__lt=until)
    if connection_id:
        events = events.filter(connection_id=connection_id)
    if user_id:
        events = events.filter(user_id=user_id)
    return events


class EventListQuery(StrictSerializer):
    type = serializers.CharField(
        max_length=64,
        required=False,
        help_text=('An event type ("sso.login.failed"), or a prefix ending with "." ("sso.login.") for a family.'),
    )
    since = serializers.DateTimeField(required=False, help_text="ISO-8601; events at or after this instant.")
    until = serializers.DateTimeField(required=False, help_text="ISO-8601; events strictly before this instant.")
    connection_id = serializers.CharField(
        max_length=100, required=False, help_text="Only the events of this SSO connection (its idp_id)."
    )
    user_id = serializers.CharField(max_length=64, required=False, help_text="Only the events of this user.")

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be later than 'since'."]})
        return attrs


class EventOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.CharField(source="organization_domain")
    id = serializers.UUIDField()
    type = serializers.CharField()
    actor = serializers.CharField(
        help_text=(
            'Who acted: "operator:<username>" (admin), "api_key:<client_id>" (this API), "it_admin:<email>" (the '
            'onboarding wizard), "end_user:<id>" (sign-in, sign-out, tokens; also the IdP\'s SAML single logout, '
            'then data.reason is "saml_slo"), "end_user:anonymous" (a refused sign-in), "application:<client_id>" '
            '(token revocation endpoint), or "system" (scheduled tasks, emails). ip and user_agent are those of '
            "the actor's request, empty for the system."
        )
    )
    connection_id = serializers.CharField()
    user_id = serializers.CharField()
    ip = serializers.CharField()
    user_agent = serializers.CharField()
    data = serializers.DictField(help_text="What happened; secrets are masked, changes are {field: {old, new}}.")
    inserted_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "Event"


class EventListApi(ApiView):
    required_scope_resource = "events"

    @extend_schema(
        parameters=[*PAGE_PARAMS, EventListQuery],
        responses={200: list_schema(EventOutput, "EventList"), **ERRORS},
        summary="List the audit events of an organization, newest first",
    )
    def get(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        number, per_page = read_page_params(request.query_params)
        query = EventListQuery(data={key: value for key, value in request.query_params.items() if key not in PAGE_KEYS})
        query.is_valid(raise_exception=True)
        page = paginate(
            event_list(organization=organization, **query.validated_data),
            ordering=NEWEST_FIRST,
            number=number,
            per_page=per_page,
        )
        return Response(list_envelope(page, EventOutput(page.items, many=True).data, domain=organization.domain))
