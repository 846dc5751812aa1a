"""Ending the person's session at their company's IdP after the gateway's own logout: SAML single
logout or OpenID Connect RP-initiated logout, by the protocol of the connection the sign-in came from."""

from django.http import HttpResponse

from .oidc.logout import ID_TOKEN_SESSION_KEY, start_oidc_logout
from .saml.views import start_saml_logout


def start_idp_logout(request, *, end_user, next_url: str, schemes: list[str]) -> HttpResponse | None:
    """The response that takes the browser to the IdP's logout (and back to `next_url`, which the caller
    validated against the application's post-logout URIs and `schemes`), or None when the IdP is not
    to be visited: the sign-in was not SSO, the IdP offers no logout, or the connection opted out."""
    protocol = (end_user.sso_session if end_user else {}).get("protocol")
    if protocol == "oidc":
        return start_oidc_logout(request, end_user=end_user, next_url=next_url, schemes=schemes)
    # No OIDC sign-in to end: an IdP ID token kept from an earlier one in this browser goes too.
    request.session.pop(ID_TOKEN_SESSION_KEY, None)
    if protocol == "saml":
        return start_saml_logout(request, end_user=end_user, next_url=next_url, schemes=schemes)
    return None
