from django.urls import path

from . import apis

urlpatterns = [
    path("sso-connections", apis.ConnectionListCreateApi.as_view(), name="sso-connection-list"),
    path("sso-connections/<str:idp_id>", apis.ConnectionDetailApi.as_view(), name="sso-connection-detail"),
]
