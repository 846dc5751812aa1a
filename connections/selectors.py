"""Reads of SSO connections. Every fetch goes through the API key's organizations: another tenant's
connection looks exactly like a missing one."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from cryptr_sso.api.errors import NotFound
from cryptr_sso.queries import one_by_key
from organizations.models import ApiKey, Organization

from .models import SSOConnection


def connection_queryset() -> QuerySet[SSOConnection]:
    return SSOConnection.objects.select_related("organization", "application")


def connection_list(*, api_key: ApiKey | None, organization: Organization | None = None) -> QuerySet[SSOConnection]:
    connections = connection_queryset()
    if organization is not None:
        return connections.filter(organization=organization)
    if api_key is not None and api_key.allowed_organization_ids is not None:
        connections = connections.filter(organization_id__in=api_key.allowed_organization_ids)
    return connections


def connection_get(*, api_key: ApiKey | None, idp_id: str) -> SSOConnection:
    connection = connection_list(api_key=api_key).filter(id=idp_id).first()
    if connection is None:
        raise NotFound(f"There is no SSO connection '{idp_id}', or your API key cannot see it.")
    return connection


# The connection /sso/start read to pick the protocol, for the login view it dispatches to.
_HANDED_OVER = "_cryptr_sso_connection_handed_over"


def connection_get_for_login(*, idp_id: str, request=None, hand_over: bool = False) -> SSOConnection | None:
    """The connection of a public SSO URL (metadata, ACS, login); None when unknown.

    `hand_over=True` keeps the connection read on `request` for the next read of the same idp_id with
    that request, which takes it (once) instead of running the same SELECT again: /sso/start reads the
    connection to pick the protocol, then the protocol's login view reads it."""
    if request is not None:
        connection = request.__dict__.pop(_HANDED_OVER, None)
        if connection is not None and connection.id == idp_id:
            return connection
    connection = one_by_key(connection_queryset().filter(id=idp_id))
    if hand_over and request is not None and connection is not None:
        request.__dict__[_HANDED_OVER] = connection
    return connection


@dataclass(frozen=True)
class SpEndpoints:
    entity_id: str
    acs_url: str
    metadata_url: str
    slo_url: str


def saml_sp_endpoints(connection: SSOConnection) -> SpEndpoints:
    """Our side of the SAML trust, per connection: what the IT admin types into the IdP."""
    base = settings.BASE_URL
    metadata_url = f"{base}/sso/sp/metadata/{connection.id}"
    return SpEndpoints(
        # The entity id is the metadata URL: IdPs that fetch metadata by entity id find it there.
        entity_id=metadata_url,
        acs_url=f"{base}/sso/sp/consume/{connection.id}",
        metadata_url=metadata_url,
        slo_url=f"{base}/sso/sp/logout/{connection.id}",
    )


def redirection_id(*, client_id: str, uri: str) -> str:
    """A stable id for an application's redirect URI (the design's `Redirection` object)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{client_id} {uri}"))


def saml_settings_for(connection: SSOConnection):
    """The connection as the SAML SP sees it (connections.saml.config.SamlSettings).

    The IdP is given by the values parsed from its metadata (entity id, SSO/SLO URLs, signing
    certificates), never by the stored metadata document: that document may carry other entities or an
    expired validUntil (pysaml2 then drops the IdP silently), and the parsed values are what the admin saw."""
    from .saml.config import DEFAULT_CLOCK_SKEW, SamlSettings
    from .saml.keys import sp_key_pair, sp_next_key_pairs

    endpoints = saml_sp_endpoints(connection)
    key_pair = sp_key_pair(connection)
    return SamlSettings(
        idp_id=connection.id,
        sp_entity_id=endpoints.entity_id,
        acs_url=endpoints.acs_url,
        slo_url=endpoints.slo_url,
        sp_private_key_pem=key_pair.private_key_pem,
        sp_certificate_pem=key_pair.certificate_pem,
        sp_next_key_pairs=tuple((pair.private_key_pem, pair.certificate_pem) for pair in sp_next_key_pairs(connection)),
        idp_entity_id=connection.idp_entity_id,
        idp_sso_url=connection.idp_sso_url,
        idp_slo_url=connection.idp_slo_url,
        idp_sso_binding=connection.idp_sso_binding,
        idp_slo_binding=connection.idp_slo_binding,
        idp_certificates=tuple(connection.idp_certificates),
        allow_idp_initiated=connection.allow_idp_initiated,
        want_response_signed=connection.want_response_signed,
        clock_skew=int(getattr(settings, "SAML_CLOCK_SKEW", DEFAULT_CLOCK_SKEW)),
    )
