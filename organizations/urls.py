from django.urls import include, path

from . import apis, events_api

urlpatterns = [
    path("oauth/token", apis.TokenApi.as_view(), name="api-token"),
    path("organizations", apis.OrganizationListCreateApi.as_view(), name="organization-list"),
    path("organizations/<str:domain>", apis.OrganizationDetailApi.as_view(), name="organization-detail"),
    path("org/<str:domain>/users", apis.UserListCreateApi.as_view(), name="user-list"),
    path("org/<str:domain>/events", events_api.EventListApi.as_view(), name="event-list"),
    path("org/<str:domain>/users/<str:user_id>", apis.UserDetailApi.as_view(), name="user-detail"),
    path(
        "org/<str:domain>/users/<str:user_id>/revoke-sessions",
        apis.UserRevokeSessionsApi.as_view(),
        name="user-revoke-sessions",
    ),
    path("", include("organizations.webhooks.urls")),
]
