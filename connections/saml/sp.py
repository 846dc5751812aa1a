"""A connection row as the SAML SP settings of connections.saml.config."""

from django.conf import settings
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor

from connections.models import SSOConnection
from connections.selectors import saml_sp_endpoints

from . import config as saml_config
from .keys import sp_key_pair


def saml_settings_for(connection: SSOConnection) -> saml_config.SamlSettings:
    endpoints = saml_sp_endpoints(connection)
    keys = sp_key_pair(connection)
    return saml_config.SamlSettings(
        idp_id=connection.id,
        sp_entity_id=endpoints.entity_id,
        acs_url=endpoints.acs_url,
        slo_url=endpoints.slo_url,
        sp_private_key_pem=keys.private_key_pem,
        sp_certificate_pem=keys.certificate_pem,
        idp_metadata_xml=connection.idp_metadata_xml,
        idp_entity_id=connection.idp_entity_id,
        idp_sso_url=connection.idp_sso_url,
        idp_slo_url=connection.idp_slo_url,
        idp_certificates=tuple(connection.idp_certificates or ()),
        allow_idp_initiated=connection.allow_idp_initiated,
        want_response_signed=connection.want_response_signed,
        clock_skew=getattr(settings, "SAML_CLOCK_SKEW", saml_config.DEFAULT_CLOCK_SKEW),
    )


def sp_config_for(connection: SSOConnection) -> SPConfig:
    return saml_config.build_sp_config(saml_settings_for(connection))


def sp_metadata_xml(connection: SSOConnection) -> str:
    """Our SP metadata for this connection. It exists before the IdP is known (the IT admin pastes it
    into the IdP first), so it is built from an SP-only configuration."""
    sp_settings = saml_settings_for(connection)
    keys = saml_config._KeyFiles(sp_settings.sp_private_key_pem, sp_settings.sp_certificate_pem)
    config_dict = saml_config._sp_config_dict(sp_settings, keys, metadata_xml="")
    config_dict.pop("metadata")
    config_dict["service"]["sp"]["want_assertions_signed"] = True
    config = SPConfig().load(config_dict)
    return str(entity_descriptor(config))
