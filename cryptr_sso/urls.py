from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from applications.oauth.views import enterprise_login
from cryptr_sso.views import api_not_found, health

api_v2 = [
    path("", include("organizations.urls")),
    path("", include("applications.urls")),
    path("", include("connections.urls")),
    path("", include("onboarding.api_urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # The operators' sign-in, password reset, MFA and sessions (django-allauth; cryptr_sso/accounts/).
    path("accounts/", include("cryptr_sso.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/v2/", include(api_v2)),
    # Any other /api/ URL answers the API's JSON error, with DEBUG on too (handler404 only serves DEBUG off).
    re_path(r"^api/", api_not_found),
    path("healthz", health, name="health"),
    # /t/<domain>/... (the organizations' OAuth 2.0 / OIDC issuers) is routed by
    # applications.oauth.tenancy.TenantMiddleware; this is the seed-era entry into it.
    path("enterprise/<str:idp_id>/login", enterprise_login, name="enterprise-login"),
    path("sso/", include("connections.sso_urls")),
    # The IT admin's onboarding wizard (the link of the invitation email).
    path("onboarding/", include("onboarding.urls")),
]

handler404 = "cryptr_sso.views.not_found"
handler500 = "cryptr_sso.views.server_error"
