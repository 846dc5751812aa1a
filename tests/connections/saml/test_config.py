"""The per-connection SPConfig: only that connection's IdP, strict options, cached per settings fingerprint."""

import dataclasses
import os
import stat

import pytest
from saml2 import BINDING_HTTP_POST
from saml2 import xmldsig as ds

from connections import exceptions as errors
from connections.saml.config import SamlSettings, build_sp_config, minimal_idp_metadata
from tests.connections.saml.idp import ACS_URL, SP_ENTITY_ID, sp_settings


def test_the_config_trusts_only_the_connections_idp_with_strict_options(idp_a):
    config = build_sp_config(sp_settings(clock_skew=90, slo_url="https://sso.example.test/saml/acme/slo"))

    assert list(config.metadata.identity_providers()) == [idp_a.entity_id]
    assert config.cryptr_idp_entity_id == idp_a.entity_id
    assert config.entityid == SP_ENTITY_ID
    assert config.endpoint("assertion_consumer_service") == [ACS_URL]
    assert config.endpoint("assertion_consumer_service", BINDING_HTTP_POST) == [ACS_URL]
    assert config.endpoint("single_logout_service") == ["https://sso.example.test/saml/acme/slo"] * 2
    assert config.accepted_time_diff == 90
    assert config.only_use_keys_in_metadata is True
    assert config.xmlsec_binary.endswith("xmlsec1")
    sp = {
        name: config.getattr(name, "sp")
        for name in (
            "allow_unsolicited",
            "authn_requests_signed",
            "want_response_signed",
            "want_assertions_signed",
            "want_assertions_or_response_signed",
            "signing_algorithm",
            "digest_algorithm",
            "name_id_format_allow_create",
        )
    }
    assert sp == {
        "allow_unsolicited": False,
        "authn_requests_signed": True,
        "want_response_signed": False,
        "want_assertions_signed": False,
        "want_assertions_or_response_signed": True,
        "signing_algorithm": ds.SIG_RSA_SHA256,
        "digest_algorithm": ds.DIGEST_SHA256,
        "name_id_format_allow_create": True,
    }
    assert config.encryption_keypairs == [{"key_file": config.key_file, "cert_file": config.cert_file}]


def test_idp_initiated_and_response_signature_follow_the_connection():
    config = build_sp_config(sp_settings(allow_idp_initiated=True, want_response_signed=True))

    assert config.getattr("allow_unsolicited", "sp") is True
    assert config.getattr("want_response_signed", "sp") is True


def test_configs_are_cached_per_fingerprint_and_rebuilt_when_the_connection_changes():
    settings = sp_settings()
    same = dataclasses.replace(settings)
    changed = dataclasses.replace(settings, acs_url="https://sso.example.test/saml/acme/acs2")

    assert settings.fingerprint() == same.fingerprint() != changed.fingerprint()
    assert build_sp_config(settings) is build_sp_config(same)
    assert build_sp_config(changed) is not build_sp_config(settings)


def test_the_sp_key_file_is_private_to_the_gateway_user():
    config = build_sp_config(sp_settings(idp_id="key-file-mode"))

    assert stat.S_IMODE(os.stat(config.key_file).st_mode) == 0o600


def test_metadata_given_as_xml_is_loaded_and_must_match_the_entity_id(idp_a, idp_b):
    by_metadata = sp_settings(idp_entity_id="", idp_sso_url="", idp_certificates=(), idp_metadata_xml=idp_a.metadata())
    assert build_sp_config(by_metadata).cryptr_idp_entity_id == idp_a.entity_id

    mismatch = dataclasses.replace(by_metadata, idp_entity_id=idp_b.entity_id)
    with pytest.raises(errors.SamlConfigurationError, match="does not match"):
        build_sp_config(mismatch)


def test_metadata_with_two_identity_providers_is_refused(idp_a, idp_b):
    both = (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        + idp_a.metadata().split("?>", 1)[-1]
        + idp_b.metadata().split("?>", 1)[-1]
        + "</md:EntitiesDescriptor>"
    )
    settings = sp_settings(idp_entity_id="", idp_sso_url="", idp_certificates=(), idp_metadata_xml=both)

    with pytest.raises(errors.SamlConfigurationError, match="exactly one identity provider"):
        build_sp_config(settings)


@pytest.mark.parametrize("missing", ["idp_entity_id", "idp_sso_url", "idp_certificates"])
def test_a_hand_configured_idp_needs_entity_id_sso_url_and_certificate(missing):
    settings = sp_settings(**{missing: () if missing == "idp_certificates" else ""})

    with pytest.raises(errors.SamlConfigurationError):
        build_sp_config(settings)


def test_minimal_metadata_carries_each_certificate_for_signing(idp_a, idp_b):
    xml = minimal_idp_metadata(
        entity_id=idp_a.entity_id, sso_url=idp_a.sso_url, certificates=(idp_a.cert_pem, idp_b.cert_pem)
    )
    settings = sp_settings(idp_entity_id="", idp_sso_url="", idp_certificates=(), idp_metadata_xml=xml)

    config = build_sp_config(settings)

    assert len(config.metadata.certs(idp_a.entity_id, "idpsso", "signing")) == 2


def test_settings_are_hashable_and_certificates_a_tuple(idp_a):
    settings = SamlSettings(
        idp_id="x",
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        sp_private_key_pem="k",
        sp_certificate_pem="c",
        idp_certificates=[idp_a.cert_pem],
    )

    assert settings.idp_certificates == (idp_a.cert_pem,)
    assert hash(settings) == hash(dataclasses.replace(settings))
