from django.urls import path

from . import apis

ENDPOINT = "org/<str:domain>/webhooks/<str:endpoint_id>"
DELIVERY = f"{ENDPOINT}/deliveries/<str:delivery_id>"

urlpatterns = [
    path("org/<str:domain>/webhooks", apis.WebhookEndpointListCreateApi.as_view(), name="webhook-list"),
    path(ENDPOINT, apis.WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
    path(f"{ENDPOINT}/rotate-secret", apis.WebhookSecretRotateApi.as_view(), name="webhook-rotate-secret"),
    path(f"{ENDPOINT}/test", apis.WebhookTestApi.as_view(), name="webhook-test"),
    path(f"{ENDPOINT}/deliveries", apis.WebhookDeliveryListApi.as_view(), name="webhook-delivery-list"),
    path(DELIVERY, apis.WebhookDeliveryDetailApi.as_view(), name="webhook-delivery-detail"),
    path(f"{DELIVERY}/redeliver", apis.WebhookDeliveryRedeliverApi.as_view(), name="webhook-delivery-redeliver"),
]
