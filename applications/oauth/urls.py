"""The tenant urlconf: what `/t/<domain>/` serves (TenantMiddleware strips the prefix and selects
this module). The names are django-oauth-toolkit's, in its namespace, so its views reverse them."""

from django.urls import include, path, re_path
from oauth2_provider import views as dot_views

from applications.oauth import views

oauth2_provider_patterns = [
    re_path(
        r"^\.well-known/openid-configuration/?$",
        views.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks", views.JwksInfoView.as_view(), name="jwks-info"),
    re_path(r"^\.well-known/?$", views.JwksInfoView.as_view(), name="jwks-info-short"),
    path("oauth2/authorize", views.AuthorizationView.as_view(), name="authorize"),
    path("oauth2/token", dot_views.TokenView.as_view(), name="token"),
    path("oauth2/userinfo", views.UserInfoView.as_view(), name="user-info"),
    path("oauth2/revoke", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth2/logout", views.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
]

urlpatterns = [path("", include((oauth2_provider_patterns, "oauth2_provider")))]
