"""The v2 API of webhook endpoints (scopes read:webhooks / write:webhooks):

GET, POST            /api/v2/org/{domain}/webhooks
GET, PATCH, DELETE   /api/v2/org/{domain}/webhooks/{endpoint_id}
POST                 /api/v2/org/{domain}/webhooks/{endpoint_id}/rotate-secret
POST                 /api/v2/org/{domain}/webhooks/{endpoint_id}/test
GET                  /api/v2/org/{domain}/webhooks/{endpoint_id}/deliveries
GET                  /api/v2/org/{domain}/webhooks/{endpoint_id}/deliveries/{delivery_id}
POST                 /api/v2/org/{domain}/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver
"""

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from cryptr_sso.api.errors import ApiError
from cryptr_sso.api.inputs import StrictSerializer
from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, ErrorOutput, deleted_schema, list_schema
from cryptr_sso.api.views import ApiView
from organizations import selectors as organization_selectors

from . import selectors, services
from .events import WEBHOOK_EVENT_TYPES
from .models import DeliveryStatus, WebhookEndpoint

NEWEST_FIRST = ("-inserted_at", "-id")
# 409: an attempt already in flight; 422: the endpoint is inactive.
ACTION_ERRORS = {**ERRORS, 409: ErrorOutput, 422: ErrorOutput}


def _endpoint(view: ApiView, domain: str, endpoint_id: str) -> tuple[str, WebhookEndpoint]:
    organization = organization_selectors.organization_get(api_key=view.api_key, domain=domain)
    return organization.domain, selectors.webhook_endpoint_get(organization=organization, endpoint_id=endpoint_id)


class WebhookEndpointOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), source="event_types")
    active = serializers.BooleanField()
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="Until when the secret replaced by the last rotation still signs deliveries (a second v1= in "
        "X-Cryptr-Signature); null when no previous secret signs any more."
    )
    inserted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "WebhookEndpoint"

    def get___domain__(self, obj) -> str:
        return self.context["domain"]

    def get_previous_secret_expires_at(self, obj) -> str | None:
        expires = obj.previous_secret_expires_at
        if not obj.previous_secret_encrypted or expires is None or expires <= timezone.now():
            return None
        return serializers.DateTimeField().to_representation(expires)


class WebhookEndpointCreatedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The signing secret, shown in this response only.")


class WebhookEndpointRotatedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The new signing secret, shown in this response only.")


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


class WebhookEndpointUpdateInput(StrictSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES), required=False, allow_empty=False
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class WebhookSecretRotateInput(StrictSerializer):
    expire_previous_in = serializers.IntegerField(
        required=False,
        default=services.DEFAULT_PREVIOUS_SECRET_SECONDS,
        min_value=0,
        max_value=services.MAX_PREVIOUS_SECRET_SECONDS,
        help_text="Seconds during which the previous secret still signs (beside the new one). Default 86400 "
        "(24 h), at most 604800 (7 days); 0 stops it at once.",
    )


class WebhookDeliveryOutput(serializers.Serializer):
    __type__ = serializers.SerializerMethodField()
    __domain__ = serializers.SerializerMethodField()
    id = serializers.UUIDField(help_text="Sent as X-Cryptr-Delivery, the same on every attempt.")
    endpoint_id = serializers.UUIDField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    last_response_code = serializers.IntegerField(allow_null=True, help_text="The receiver's last HTTP status.")
    last_error = serializers.CharField(help_text="Why the last attempt failed (empty once delivered).")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_retry_at = serializers.DateTimeField(allow_null=True, help_text="When the next attempt is due.")
    delivered_at = serializers.DateTimeField(allow_null=True)
    inserted_at = serializers.DateTimeField()

    def get___type__(self, obj) -> str:
        return "WebhookDelivery"

    def get___domain__(self, obj) -> str:
        return self.context["domain"]


class WebhookDeliveryDetailOutput(WebhookDeliveryOutput):
    payload = serializers.JSONField(help_text="The JSON body as sent (signed over its compact encoding).")


DELIVERY_EVENT_TYPES = (*WEBHOOK_EVENT_TYPES, services.TEST_EVENT_TYPE)


class DeliveryFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.values, required=False)
    event_type = serializers.ChoiceField(choices=DELIVERY_EVENT_TYPES, required=False)


def _delivery_response(delivery, domain: str, code: int = 200, headers: dict | None = None) -> Response:
    return Response(WebhookDeliveryOutput(delivery, context={"domain": domain}).data, status=code, headers=headers)


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
            by=self.actor,
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
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        return Response(WebhookEndpointOutput(endpoint, context={"domain": domain}).data)

    @extend_schema(
        request=WebhookEndpointUpdateInput,
        responses={200: WebhookEndpointOutput, **ERRORS},
        summary="Change a webhook endpoint's URL, description, event types or active flag (the fields sent)",
    )
    def patch(self, request, domain, endpoint_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        data = WebhookEndpointUpdateInput(data=self.body())
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "events" in values:
            values["event_types"] = values.pop("events")
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, data=values, by=self.actor)
        return Response(WebhookEndpointOutput(endpoint, context={"domain": domain}).data)

    @extend_schema(
        responses={200: deleted_schema(WebhookEndpointOutput, "WebhookEndpointDeleted"), **ERRORS},
        summary="Delete a webhook endpoint and its delivery log",
    )
    def delete(self, request, domain, endpoint_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        resource = WebhookEndpointOutput(endpoint, context={"domain": domain}).data
        services.webhook_endpoint_delete(endpoint=endpoint, by=self.actor)
        return Response({"deleted": True, "resource": resource})


class WebhookSecretRotateApi(ApiView):
    """The new secret signs every delivery from now on. The previous one keeps signing beside it (a second
    `v1=` in X-Cryptr-Signature) until `previous_secret_expires_at`, so a receiver verifying with either
    secret accepts the events while it switches to the new one."""

    required_scope_resource = "webhooks"

    @extend_schema(
        request=WebhookSecretRotateInput,
        responses={200: WebhookEndpointRotatedOutput, **ERRORS},
        summary="Rotate a webhook endpoint's signing secret (the response holds the new one, shown once)",
    )
    def post(self, request, domain, endpoint_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        data = WebhookSecretRotateInput(data=self.body())
        data.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            endpoint=endpoint, expire_previous_in=data.validated_data["expire_previous_in"], by=self.actor
        )
        endpoint.secret = secret
        return Response(
            WebhookEndpointRotatedOutput(endpoint, context={"domain": domain}).data,
            headers={"Cache-Control": "no-store"},
        )


class WebhookTestApi(ApiView):
    """A `webhook.test` event, signed and logged like any other, to this endpoint whatever event types it
    subscribes to. The answer is the queued delivery: GET it to see how the receiver answered."""

    required_scope_resource = "webhooks"

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput, **ACTION_ERRORS},
        summary="Send a test event to a webhook endpoint",
    )
    def post(self, request, domain, endpoint_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        delivery = services.webhook_endpoint_send_test(endpoint=endpoint, by=self.actor)
        location = reverse("webhook-delivery-detail", args=[domain, endpoint.id, delivery.id])
        return _delivery_response(delivery, domain, status.HTTP_202_ACCEPTED, {"Location": location})


class WebhookDeliveryListApi(ApiView):
    required_scope_resource = "webhooks"

    @extend_schema(
        parameters=[
            *PAGE_PARAMS,
            OpenApiParameter(
                "status", str, enum=DeliveryStatus.values, description="Only the deliveries in this status."
            ),
            OpenApiParameter(
                "event_type", str, enum=DELIVERY_EVENT_TYPES, description="Only the deliveries of this event type."
            ),
        ],
        responses={200: list_schema(WebhookDeliveryOutput, "WebhookDeliveryList"), **ERRORS},
        summary="List the deliveries of a webhook endpoint, newest first",
    )
    def get(self, request, domain, endpoint_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        number, per_page = read_page_params(request.query_params)
        # An empty value (?status=) filters nothing, as the page parameters do.
        wanted = {key: request.query_params.get(key) for key in ("status", "event_type")}
        query = DeliveryFilter(data={key: value for key, value in wanted.items() if value})
        if not query.is_valid():
            raise ApiError(
                f"'status' must be one of: {', '.join(DeliveryStatus.values)}; 'event_type' one of: "
                f"{', '.join(DELIVERY_EVENT_TYPES)}.",
                fields={key: [str(error) for error in errors] for key, errors in query.errors.items()},
            )
        page = paginate(
            selectors.webhook_delivery_list(endpoint=endpoint, **query.validated_data),
            ordering=NEWEST_FIRST,
            number=number,
            per_page=per_page,
        )
        data = WebhookDeliveryOutput(page.items, many=True, context={"domain": domain}).data
        return Response(list_envelope(page, data, domain=domain))


class WebhookDeliveryDetailApi(ApiView):
    required_scope_resource = "webhooks"

    @extend_schema(
        responses={200: WebhookDeliveryDetailOutput, **ERRORS},
        summary="Get a delivery: the payload as sent and how its attempts went",
    )
    def get(self, request, domain, endpoint_id, delivery_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        delivery = selectors.webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        return Response(WebhookDeliveryDetailOutput(delivery, context={"domain": domain}).data)


class WebhookDeliveryRedeliverApi(ApiView):
    """Queues a fresh attempt of the same event (same delivery id and payload, a new signature), also for a
    delivery that succeeded. A delivery waiting for a retry continues its retry schedule from this attempt;
    one that had used up all its attempts gets this one only. 409 `delivery_in_flight` while an attempt is
    queued or being sent; 422 `endpoint_inactive` when the endpoint is inactive."""

    required_scope_resource = "webhooks"

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput, **ACTION_ERRORS},
        summary="Send a delivery again",
    )
    def post(self, request, domain, endpoint_id, delivery_id):
        domain, endpoint = _endpoint(self, domain, endpoint_id)
        delivery = selectors.webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        delivery = services.webhook_delivery_redeliver(delivery=delivery, by=self.actor)
        return _delivery_response(delivery, domain, status.HTTP_202_ACCEPTED)
