"""The SP signing key pair: from the environment in production, generated once into ./var otherwise."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured

from connections.saml import keys

# sp_key_pair() looks for an active SP key of the rotation table (cryptr_sso.signing_keys) first.
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_pair():
    keys.deployment_key_pair.cache_clear()
    yield
    keys.deployment_key_pair.cache_clear()


@pytest.fixture
def no_env(monkeypatch, settings):
    monkeypatch.delenv("SAML_SP_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("SAML_SP_CERTIFICATE", raising=False)
    settings.SAML_SP_PRIVATE_KEY = None
    settings.SAML_SP_CERTIFICATE = None
    settings.PRODUCTION = False


def test_embedded_default_generates_an_rsa_3072_pair_once(no_env, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    pair = keys.sp_key_pair()
    certificate = x509.load_pem_x509_certificate(pair.certificate_pem.encode())
    private_key = serialization.load_pem_private_key(pair.private_key_pem.encode(), password=None)
    assert private_key.key_size == 3072
    assert certificate.public_key().public_numbers() == private_key.public_key().public_numbers()
    path = tmp_path / keys.KEY_FILE_NAME
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # Another process (a fresh cache) reads the same pair instead of generating a new one.
    keys.deployment_key_pair.cache_clear()
    assert keys.sp_key_pair() == pair
    assert [p.name for p in tmp_path.iterdir()] == [keys.KEY_FILE_NAME]  # no temporary file left behind


def test_pair_from_the_environment_is_used(no_env, monkeypatch, settings, tmp_path):
    generated = keys.generate_self_signed_pair(common_name="env")
    # One-line PEMs with literal \n, as environment variables often carry them.
    monkeypatch.setenv("SAML_SP_PRIVATE_KEY", generated.private_key_pem.replace("\n", "\\n"))
    monkeypatch.setenv("SAML_SP_CERTIFICATE", generated.certificate_pem.replace("\n", "\\n"))
    settings.VAR_DIR = tmp_path
    settings.PRODUCTION = True
    assert keys.sp_key_pair().certificate_pem.strip() == generated.certificate_pem.strip()
    assert not list(tmp_path.iterdir())
    assert keys.sp_key_pair().certificate_base64 in generated.certificate_pem.replace("\n", "")


def test_mismatched_pair_is_refused(no_env, monkeypatch):
    one, two = keys.generate_self_signed_pair(common_name="one"), keys.generate_self_signed_pair(common_name="two")
    monkeypatch.setenv("SAML_SP_PRIVATE_KEY", one.private_key_pem)
    monkeypatch.setenv("SAML_SP_CERTIFICATE", two.certificate_pem)
    with pytest.raises(ImproperlyConfigured, match="not the certificate of SAML_SP_PRIVATE_KEY"):
        keys.sp_key_pair()


def test_half_a_pair_is_refused(no_env, monkeypatch):
    monkeypatch.setenv("SAML_SP_CERTIFICATE", keys.generate_self_signed_pair(common_name="x").certificate_pem)
    with pytest.raises(ImproperlyConfigured, match="both"):
        keys.sp_key_pair()


def test_production_requires_the_pair_from_the_environment(no_env, settings, tmp_path):
    settings.PRODUCTION = True
    settings.VAR_DIR = tmp_path
    with pytest.raises(ImproperlyConfigured, match="must be set when CRYPTR_ENV=production"):
        keys.sp_key_pair()
    assert not list(tmp_path.iterdir())


def test_saml_settings_of_a_connection_come_from_the_parsed_idp(org, no_env, settings, tmp_path):
    from applications.services import application_create
    from connections import selectors, services
    from connections.saml.config import build_sp_config
    from tests.connections.saml.test_metadata import sample

    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    application, _secret = application_create(
        organization=org,
        name="App",
        application_type="spa",
        allowed_redirect_uris_after_login=["https://app.example/cb"],
    )
    connection = services.connection_create(organization=org, application=application, provider_type="google")
    # Google's metadata expired (validUntil 2021): pysaml2 would drop the IdP if given the document.
    document = sample("google/google_metadata_crewjam_2016.xml").decode()
    connection = services.connection_update(connection=connection, data={"saml_config": {"idp_metadata_xml": document}})
    saml_settings = selectors.saml_settings_for(connection)
    assert saml_settings.idp_metadata_xml == ""
    assert saml_settings.idp_entity_id == "https://accounts.google.com/o/saml2?idpid=C02dfl1r1"
    assert saml_settings.acs_url.endswith(f"/sso/sp/consume/{connection.id}")
    assert saml_settings.sp_certificate_pem == keys.sp_key_pair().certificate_pem
    config = build_sp_config(saml_settings)
    assert list(config.metadata.identity_providers()) == ["https://accounts.google.com/o/saml2?idpid=C02dfl1r1"]
