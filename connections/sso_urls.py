"""The browser-facing SSO endpoints (SAML SP; OIDC RP later), mounted at /sso/."""

from django.urls import path

from .saml import views as saml_views

urlpatterns = [
    path("start/<str:idp_id>", saml_views.SamlLoginView.as_view(), name="sso-start"),
    path("sp/metadata/<str:idp_id>", saml_views.SpMetadataView.as_view(), name="saml-metadata"),
    path("sp/consume/<str:idp_id>", saml_views.AssertionConsumerView.as_view(), name="saml-acs"),
]
