from django.urls import path

from . import apis

urlpatterns = [
    path(
        "sso-connections/<str:idp_id>/invite-admin", apis.InviteAdminApi.as_view(), name="sso-connection-invite-admin"
    ),
    path(
        "sso-connections/<str:idp_id>/admin-onboarding",
        apis.AdminOnboardingApi.as_view(),
        name="sso-connection-admin-onboarding",
    ),
]
