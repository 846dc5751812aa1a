"""The browser-facing SSO endpoints (SAML SP, OIDC RP), mounted at /sso/."""

from django.urls import path

from .oidc import views as oidc_views
from .oidc.logout import OidcLogoutCallbackView
from .saml import views as saml_views
from .start import SsoStartView

urlpatterns = [
    path("start/<str:idp_id>", SsoStartView.as_view(), name="sso-start"),  # SAML or OIDC, by the connection
    path("sp/metadata/<str:idp_id>", saml_views.SpMetadataView.as_view(), name="saml-metadata"),
    path("sp/consume/<str:idp_id>", saml_views.AssertionConsumerView.as_view(), name="saml-acs"),
    path("sp/logout/<str:idp_id>", saml_views.SingleLogoutView.as_view(), name="saml-slo"),
    path("oidc/callback/<str:idp_id>", oidc_views.OidcCallbackView.as_view(), name="oidc-callback"),
    path("oidc/logout/callback/<str:idp_id>", OidcLogoutCallbackView.as_view(), name="oidc-logout-callback"),
]
