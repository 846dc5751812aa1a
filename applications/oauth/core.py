"""django-oauth-toolkit's bridge to oauthlib, with the tenant's issuer in authorization responses and
one database transaction per token request."""

from django.db import router, transaction
from oauth2_provider.models import get_access_token_model
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

    def create_token_response(self, request):
        """One transaction for everything a token request writes: the IDToken, the access and refresh
        tokens and the audit event (the validator's hooks join it, see GatewayOAuth2Validator), and
        the Grant delete. A code exchange that ends in an error keeps none of it: a concurrent
        exchange of the same code that loses the Grant delete leaves no tokens behind. A refused
        refresh keeps what it wrote: the revocation of a replayed token's family must stay."""
        with transaction.atomic(using=router.db_for_write(get_access_token_model())):
            uri, headers, body, status = super().create_token_response(request)
            if status != 200 and request.POST.get("grant_type") == "authorization_code":
                transaction.set_rollback(True)
        return uri, headers, body, status
