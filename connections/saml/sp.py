"""A connection's SAML SP configuration and its SP metadata."""

from saml2.config import SPConfig
from saml2.metadata import entity_descriptor

from connections.models import SSOConnection
from connections.selectors import saml_settings_for

from . import config as saml_config


def sp_config_for(connection: SSOConnection) -> SPConfig:
    return saml_config.build_sp_config(saml_settings_for(connection))


def sp_metadata_xml(connection: SSOConnection) -> str:
    """Our SP metadata for this connection. It exists before the IdP is known (the IT admin pastes it
    into the IdP first), so it is built from an SP-only configuration."""
    sp_settings = saml_settings_for(connection)
    keys = saml_config._KeyFiles(
        sp_settings.sp_private_key_pem, sp_settings.sp_certificate_pem, sp_settings.sp_next_key_pairs
    )
    config_dict = saml_config._sp_config_dict(sp_settings, keys, metadata_xml="")
    config_dict.pop("metadata")
    config_dict["service"]["sp"]["want_assertions_signed"] = True
    config = SPConfig().load(config_dict)
    return str(entity_descriptor(config))
