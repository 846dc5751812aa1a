"""Reading an OpenID provider's discovery document when the connection's issuer is saved
(OpenID Connect Discovery 1.0, section 4).

The document is fetched once, at save time, and the endpoints it names are stored on the connection:
a sign-in never waits on discovery, and an IdP that changes its endpoints is re-read by saving the
issuer again. Every refusal is an OidcDiscoveryError (or OidcFetchError) whose hint is a plain sentence
for the person who typed the issuer.
"""

import logging
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from connections.exceptions import OidcDiscoveryError, OidcFetchError, _filled
from connections.providers import ENTRA_ISSUER_TEMPLATE, OIDC_PROFILE_ENTRA, provider_get

from .http import check_https_url, get_json

logger = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
# Entra ID's multi-tenant discovery documents (common, organizations) name this placeholder as issuer.
ENTRA_TENANT_PLACEHOLDER = "{tenantid}"
ENTRA_MULTI_TENANT = ("common", "organizations")
MAX_URL_LENGTH = 2000  # the connection's URL fields
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Discovery:
    issuer: str  # as the document says it (Entra multi-tenant: with {tenantid})
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    token_endpoint_auth_method: str
    end_session_endpoint: str = ""  # RP-Initiated Logout 1.0, section 2.1; empty when not advertised


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


def issuer_for(provider_type: str, *, issuer: str, tenant_id: str) -> str:
    """The issuer to use: the one given, or the provider's (Entra ID's from the tenant id)."""
    if issuer:
        return issuer
    template = provider_get(provider_type).oidc_issuer_template
    if template == ENTRA_ISSUER_TEMPLATE:
        return template.format(tenant_id=tenant_id) if tenant_id else ""
    return template


def is_entra_multi_tenant(discovered_issuer: str) -> bool:
    return ENTRA_TENANT_PLACEHOLDER in discovered_issuer


def _issuer_matches(configured: str, discovered: str, *, provider_type: str) -> bool:
    if discovered == configured:
        return True  # OpenID Connect Discovery 4.3: exactly the same string
    if provider_get(provider_type).oidc_profile == OIDC_PROFILE_ENTRA and is_entra_multi_tenant(discovered):
        # The multi-tenant documents (…/common/v2.0, …/organizations/v2.0) say {tenantid}: the real
        # issuer is checked at sign-in against the `tid` claim and the configured tenant id.
        return any(discovered.replace(ENTRA_TENANT_PLACEHOLDER, name) == configured for name in ENTRA_MULTI_TENANT)
    return False


def _endpoint(document: dict, name: str, *, required: bool) -> str:
    value = document.get(name)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise OidcDiscoveryError(
            _filled(_("The discovery document has no %(name)s; this is not a usable OpenID provider."), name=name),
            detail=name,
        )
    try:
        check_https_url(value, _filled(_("%(name)s of the discovery document"), name=name))
    except OidcFetchError as error:
        raise OidcDiscoveryError(error.hint, detail=name) from None
    return value


def _end_session_endpoint(document: dict) -> str:
    """The end_session_endpoint, or "" when absent or unusable: logout at the IdP is optional, so an
    odd value there must not stop sign-ins (the connection then signs out of the gateway only)."""
    value = document.get("end_session_endpoint")
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        return ""
    try:
        check_https_url(value, "end_session_endpoint of the discovery document")
    except OidcFetchError:
        logger.warning("The discovery document's end_session_endpoint is not an https URL: logout at the IdP off")
        return ""
    return value


def discover(issuer: str, *, provider_type: str) -> Discovery:
    check_https_url(issuer, "issuer URL")
    document = get_json(discovery_url(issuer), what="discovery document")
    discovered = document.get("issuer")
    if not isinstance(discovered, str) or not discovered:
        raise OidcDiscoveryError(_("The discovery document has no issuer."), detail="issuer")
    if not _issuer_matches(issuer, discovered, provider_type=provider_type):
        raise OidcDiscoveryError(
            _filled(
                _(
                    "The discovery document at %(url)s says its issuer is '%(discovered)s', not '%(issuer)s'. "
                    "Give exactly the issuer the IdP shows (the ID tokens will carry it)."
                ),
                url=discovery_url(issuer),
                discovered=discovered[:200],
                issuer=issuer,
            ),
            detail="issuer mismatch",
        )
    response_types = document.get("response_types_supported")
    if isinstance(response_types, list) and "code" not in response_types:
        raise OidcDiscoveryError(
            _(
                "The identity provider does not offer the authorization code flow "
                "(response_types_supported has no 'code')."
            ),
            detail="response_types",
        )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = next((candidate for candidate in AUTH_METHODS if candidate in methods), "")
    if not method:
        raise OidcDiscoveryError(
            _(
                "The identity provider accepts neither client_secret_basic nor "
                "client_secret_post at its token endpoint, which the gateway needs."
            ),
            detail="auth methods",
        )
    return Discovery(
        issuer=discovered,
        authorization_endpoint=_endpoint(document, "authorization_endpoint", required=True),
        token_endpoint=_endpoint(document, "token_endpoint", required=True),
        userinfo_endpoint=_endpoint(document, "userinfo_endpoint", required=False),
        jwks_uri=_endpoint(document, "jwks_uri", required=True),
        token_endpoint_auth_method=method,
        end_session_endpoint=_end_session_endpoint(document),
    )
