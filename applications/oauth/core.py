"""django-oauth-toolkit's bridge to oauthlib, with the tenant's issuer in authorization responses."""

from oauth2_provider.oauth2_backends import OAuthLibCore, _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings

from applications.oauth.tenancy import META_LOADED_CLIENTS, LoadedClients, request_issuer


class TenantOAuthLibCore(OAuthLibCore):
    def extract_headers(self, request):
        headers = super().extract_headers(request)
        # Every oauthlib request made for this HTTP request shares one LoadedClients.
        headers[META_LOADED_CLIENTS] = request.META.setdefault(META_LOADED_CLIENTS, LoadedClients())
        return headers

    def create_authorization_response(self, request, scopes, credentials, allow):
        uri, headers, body, status = super().create_authorization_response(request, scopes, credentials, allow)
        # RFC 9207: `iss` must equal the issuer of the discovery document, i.e. the tenant's
        # `{BASE_URL}/t/{domain}`; DOT would derive a host-wide one from the request.
        if uri is not None and oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            uri = _add_iss_to_redirect(uri, request_issuer(request))
            headers["Location"] = uri
        return uri, headers, body, status
