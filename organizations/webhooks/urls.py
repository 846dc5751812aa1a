from django.urls import path

from . import apis

urlpatterns = [
    path("org/<str:domain>/webhooks", apis.WebhookEndpointListCreateApi.as_view(), name="webhook-list"),
    path("org/<str:domain>/webhooks/<str:endpoint_id>", apis.WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
]
