"""The v2 API of webhook endpoints: `GET, POST /api/v2/org/{domain}/webhooks`,
`GET, DELETE /api/v2/org/{domain}/webhooks/{id}` (scopes read:webhooks / write:webhooks)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from cryptr_sso.api.inputs import StrictSerializer
from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, deleted_schema, list_schema
from cryptr_sso.api.views import ApiView
from organizations import selectors as organization_selectors

from . import selectors, services
from .events import WEBHOOK_EVENT_TYPES

NEWEST_FIRST = ("-inserted_at", "-id")


class WebhookEndpointOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), source="event_types")
    active = serializers.BooleanField()
    inserted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "WebhookEndpoint"

    def get___domain__(self, obj) -> str:
        return self.context["domain"]


class WebhookEndpointCreatedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The signing secret, shown in this response only.")


class WebhookEndpointCreateInput(StrictSerializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES),
        required=False,
        allow_empty=False,
        help_text="Default: every event type.",
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointListCreateApi(ApiView):
    required_scope_resource = "webhooks"

    @extend_schema(
        parameters=PAGE_PARAMS,
        responses={200: list_schema(WebhookEndpointOutput, "WebhookEndpointList"), **ERRORS},
        summary="List the webhook endpoints of an organization, newest first",
    )
    def get(self, request, domain):
        organization = organization_selectors.organization_get(api_key=self.api_key, domain=domain)
        number, per_page = read_page_params(request.query_params)
        page = paginate(
            selectors.webhook_endpoint_list(organization=organization),
            ordering=NEWEST_FIRST,
            number=number,
            per_page=per_page,
        )
        data = WebhookEndpointOutput(page.items, many=True, context={"domain": organization.domain}).data
        return Response(list_envelope(page, data, domain=organization.domain))

    @extend_schema(
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointCreatedOutput, **ERRORS},
        summary="Add a webhook endpoint (the response holds its signing secret, shown once)",
    )
    def post(self, request, domain):
        organization = organization_selectors.organization_get(api_key=self.api_key, domain=domain)
        data = WebhookEndpointCreateInput(data=self.body())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        endpoint, secret = services.webhook_endpoint_create(
            organization=organization,
            url=values["url"],
            event_types=values.get("events"),
            description=values.get("description", ""),
            active=values["active"],
        )
        endpoint.secret = secret
        return Response(
            WebhookEndpointCreatedOutput(endpoint, context={"domain": organization.domain}).data,
            status=status.HTTP_201_CREATED,
            headers={
                "Location": reverse("webhook-detail", args=[organization.domain, endpoint.id]),
                "Cache-Control": "no-store",
            },
        )


class WebhookEndpointDetailApi(ApiView):
    required_scope_resource = "webhooks"

    @extend_schema(responses={200: WebhookEndpointOutput, **ERRORS}, summary="Get a webhook endpoint")
    def get(self, request, domain, endpoint_id):
        organization = organization_selectors.organization_get(api_key=self.api_key, domain=domain)
        endpoint = selectors.webhook_endpoint_get(organization=organization, endpoint_id=endpoint_id)
        return Response(WebhookEndpointOutput(endpoint, context={"domain": organization.domain}).data)

    @extend_schema(
        responses={200: deleted_schema(WebhookEndpointOutput, "WebhookEndpointDeleted"), **ERRORS},
        summary="Delete a webhook endpoint and its delivery log",
    )
    def delete(self, request, domain, endpoint_id):
        organization = organization_selectors.organization_get(api_key=self.api_key, domain=domain)
        endpoint = selectors.webhook_endpoint_get(organization=organization, endpoint_id=endpoint_id)
        resource = WebhookEndpointOutput(endpoint, context={"domain": organization.domain}).data
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response({"deleted": True, "resource": resource})
