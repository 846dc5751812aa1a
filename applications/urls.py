from django.urls import path

from . import apis

urlpatterns = [
    path("org/<str:domain>/applications", apis.ApplicationListCreateApi.as_view(), name="application-list"),
    path(
        "org/<str:domain>/applications/<str:client_id>", apis.ApplicationDetailApi.as_view(), name="application-detail"
    ),
]
