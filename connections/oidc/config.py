"""One connection's relying-party configuration, read from the connection at request time."""

from dataclasses import dataclass

from django.conf import settings

from connections.crypto import DecryptionError
from connections.exceptions import OidcConfigurationError
from connections.models import SSOConnection
from connections.providers import OIDC, provider_get

DEFAULT_CLOCK_SKEW = 60


def redirect_uri_for(connection: SSOConnection) -> str:
    """The redirect URI the IT admin registers in the IdP for this connection."""
    return f"{settings.BASE_URL}/sso/oidc/callback/{connection.id}"


def post_logout_redirect_uri_for(connection: SSOConnection) -> str:
    """The post-logout redirect URI the IT admin registers in the IdP for this connection (RP-Initiated
    Logout 1.0): the IdP sends the browser back there after ending its session."""
    return f"{settings.BASE_URL}/sso/oidc/logout/callback/{connection.id}"


@dataclass(frozen=True)
class OidcSettings:
    idp_id: str
    provider_type: str
    profile: str
    issuer: str
    discovered_issuer: str
    client_id: str
    client_secret: str
    scopes: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    token_endpoint_auth_method: str
    redirect_uri: str
    tenant_id: str
    hosted_domains: tuple[str, ...]
    clock_skew: int

    def __repr__(self) -> str:  # never print the client secret
        return f"OidcSettings(idp_id={self.idp_id!r}, issuer={self.issuer!r}, client_id={self.client_id!r})"


def oidc_settings_for(connection: SSOConnection) -> OidcSettings:
    if connection.protocol != OIDC or connection.missing_oidc_configuration():
        raise OidcConfigurationError(detail=", ".join(connection.missing_oidc_configuration()))
    try:
        secret = connection.oidc_client_secret
    except DecryptionError:
        raise OidcConfigurationError(
            "The connection's client secret cannot be read with the gateway's current encryption key "
            "(FIELD_ENCRYPTION_KEY changed). Enter the client secret again.",
            detail="decryption",
        ) from None
    scopes = connection.oidc_scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    hosted = connection.oidc_hosted_domains or connection.organization.allowed_email_domains or []
    return OidcSettings(
        idp_id=connection.id,
        provider_type=connection.provider_type,
        profile=provider_get(connection.provider_type).oidc_profile,
        issuer=connection.oidc_issuer,
        discovered_issuer=connection.oidc_discovered_issuer or connection.oidc_issuer,
        client_id=connection.oidc_client_id,
        client_secret=secret,
        scopes=" ".join(scopes),
        authorization_endpoint=connection.oidc_authorization_endpoint,
        token_endpoint=connection.oidc_token_endpoint,
        userinfo_endpoint=connection.oidc_userinfo_endpoint,
        jwks_uri=connection.oidc_jwks_uri,
        token_endpoint_auth_method=connection.oidc_token_endpoint_auth_method or "client_secret_basic",
        redirect_uri=redirect_uri_for(connection),
        tenant_id=connection.oidc_tenant_id,
        hosted_domains=tuple(domain.lower() for domain in hosted),
        clock_skew=int(getattr(settings, "OIDC_CLOCK_SKEW", DEFAULT_CLOCK_SKEW)),
    )
