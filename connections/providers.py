"""The identity providers the gateway knows, and what differs between them.

One table, read by the model's choices, the API, the admin and the onboarding wizard. The attribute
names are the ones each IdP sends out of the box (or that its setup guide tells the IT admin to type),
so a connection works with the defaults in the common case.
"""

from dataclasses import dataclass, field
from types import MappingProxyType

SAML = "saml"
OIDC = "oidc"
PROTOCOLS = ((SAML, "SAML 2.0"), (OIDC, "OpenID Connect"))

# The claims of the gateway's users that an IdP attribute can fill.
MAPPED_CLAIMS = ("email", "given_name", "family_name")

_XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
# Entra ID and AD FS send WS-Federation claim URIs as SAML attribute names.
_MICROSOFT = {
    "email": f"{_XMLSOAP}emailaddress",
    "given_name": f"{_XMLSOAP}givenname",
    "family_name": f"{_XMLSOAP}surname",
}
# Okta's and Google Workspace's attribute statements are named by the admin; their guides and
# most SaaS integration templates use these names.
_CAMEL = {"email": "email", "given_name": "firstName", "family_name": "lastName"}


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    protocol: str
    attribute_mapping: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # OIDC: the issuer to pre-fill ("{tenant_id}" filled from the connection), and the profile's extra checks.
    oidc_issuer_template: str = ""
    oidc_profile: str = ""


# OIDC standard claims (OpenID Connect Core 5.1): every OIDC provider of the table sends these names.
_OIDC_STANDARD = {"email": "email", "given_name": "given_name", "family_name": "family_name"}

# The profiles that add checks to the standard ID token validation (connections/oidc/tokens.py).
OIDC_PROFILE_GOOGLE = "google"  # the `hd` claim must be one of the organization's hosted domains
OIDC_PROFILE_ENTRA = "entra"  # the tenant-specific issuer, or the multi-tenant one checked against `tid`
ENTRA_ISSUER_TEMPLATE = "https://login.microsoftonline.com/{tenant_id}/v2.0"
GOOGLE_ISSUER = "https://accounts.google.com"


def _oidc(key: str, label: str, *, issuer: str = "", profile: str = "") -> Provider:
    return Provider(
        key=key,
        label=label,
        protocol=OIDC,
        attribute_mapping=MappingProxyType(dict(_OIDC_STANDARD)),
        oidc_issuer_template=issuer,
        oidc_profile=profile,
    )


def _saml(key: str, label: str, mapping: dict[str, str]) -> Provider:
    return Provider(key=key, label=label, protocol=SAML, attribute_mapping=MappingProxyType(dict(mapping)))


UNSET = "unset"

PROVIDERS: dict[str, Provider] = {
    provider.key: provider
    for provider in (
        _saml(UNSET, "Not chosen yet", _CAMEL),
        _saml("azure_ad", "Microsoft Entra ID (Azure AD)", _MICROSOFT),
        _saml("adfs", "Microsoft AD FS", _MICROSOFT),
        _saml("google", "Google Workspace", _CAMEL),
        _saml("okta", "Okta", _CAMEL),
        # PingFederate's attribute contracts usually carry these lower-case names (as in its samples).
        _saml(
            "ping_federate", "PingFederate", {"email": "email", "given_name": "firstname", "family_name": "lastname"}
        ),
        # PingOne's SAML application attribute mapping suggests the OIDC-style names.
        _saml("ping_one", "PingOne", {"email": "email", "given_name": "given_name", "family_name": "family_name"}),
        _saml("generic_saml", "Another SAML 2.0 identity provider", _CAMEL),
        _oidc("google_oidc", "Google Workspace (OpenID Connect)", issuer=GOOGLE_ISSUER, profile=OIDC_PROFILE_GOOGLE),
        _oidc(
            "entra_id_oidc",
            "Microsoft Entra ID (OpenID Connect)",
            issuer=ENTRA_ISSUER_TEMPLATE,
            profile=OIDC_PROFILE_ENTRA,
        ),
        _oidc("okta_oidc", "Okta (OpenID Connect)"),
        _oidc("ping_one_oidc", "PingOne (OpenID Connect)"),
        _oidc("generic_oidc", "Another OpenID Connect identity provider"),
    )
}

PROVIDER_TYPE_CHOICES = tuple((provider.key, provider.label) for provider in PROVIDERS.values())


def provider_get(key: str) -> Provider:
    return PROVIDERS.get(key) or PROVIDERS[UNSET]


def default_attribute_mapping(provider_type: str) -> dict[str, str]:
    return dict(provider_get(provider_type).attribute_mapping)


# The provider a connection gets when only its protocol is chosen.
GENERIC_FOR_PROTOCOL = {SAML: UNSET, OIDC: "generic_oidc"}


def provider_types_for(protocol: str) -> list[str]:
    return [provider.key for provider in PROVIDERS.values() if provider.protocol == protocol]
