"""Rotation of the SAML SP key: a published key is in the SP metadata beside the active one (signing and
encryption) before the switch; after it, AuthnRequests are signed with the new key."""

import base64
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import fromstring

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from connections.models import SSOConnection
from connections.saml.keys import generate_self_signed_pair, sp_key_pair
from cryptr_sso.models import SigningKey
from cryptr_sso.signing_keys import signing_key_activate, signing_key_publish, signing_key_retire
from tests.keys.conftest import OPERATOR

SAML_SP = SigningKey.Purpose.SAML_SP
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
IDP_SSO_URL = "https://idp.example/sso"


@pytest.fixture
def connection(tenant):
    idp = generate_self_signed_pair(common_name="idp.example")
    SSOConnection.objects.filter(pk=tenant.connection.pk).update(
        idp_entity_id="https://idp.example/metadata",
        idp_sso_url=IDP_SSO_URL,
        idp_certificates=[idp.certificate_pem],
        active=True,
    )
    tenant.connection.refresh_from_db()
    return tenant.connection


def metadata_certificates(client, connection) -> dict[str, list[str]]:
    response = client.get(f"/sso/sp/metadata/{connection.id}")
    assert response.status_code == 200
    root = fromstring(response.content)
    by_use: dict[str, list[str]] = {}
    for descriptor in root.iterfind(".//md:SPSSODescriptor/md:KeyDescriptor", NS):
        text = descriptor.find(".//ds:X509Certificate", NS).text
        by_use.setdefault(descriptor.get("use"), []).append("".join(text.split()))
    return by_use


def body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def authn_request_signature_verifies(client, connection, certificate_pem: str) -> bool:
    response = client.get(f"/sso/start/{connection.id}")
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    assert location.startswith(IDP_SSO_URL)
    query = urlsplit(location).query
    # SAML Bindings 3.4.4.1: the signature covers the URL-encoded SAMLRequest, RelayState and SigAlg as sent.
    parts = dict(part.split("=", 1) for part in query.split("&"))
    signed = "&".join(f"{name}={parts[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg") if name in parts)
    signature = base64.b64decode(parse_qs(query)["Signature"][0])
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    try:
        public_key.verify(signature, signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def test_a_published_sp_key_is_listed_in_the_metadata_beside_the_active_one(client, connection):
    current = sp_key_pair(connection)
    assert metadata_certificates(client, connection) == {
        "signing": [body(current.certificate_pem)],
        "encryption": [body(current.certificate_pem)],
    }
    key = signing_key_publish(purpose=SAML_SP, by=OPERATOR)
    listed = metadata_certificates(client, connection)
    assert listed["signing"] == [body(current.certificate_pem), body(key.certificate_pem)]
    assert listed["encryption"] == [body(current.certificate_pem), body(key.certificate_pem)]
    # Published is not active: requests are still signed with the current key.
    assert authn_request_signature_verifies(client, connection, current.certificate_pem)
    assert not authn_request_signature_verifies(client, connection, key.certificate_pem)


def test_after_the_switch_authn_requests_are_signed_with_the_new_key(client, connection):
    old = sp_key_pair(connection)
    key = signing_key_activate(key=signing_key_publish(purpose=SAML_SP, by=OPERATOR), by=OPERATOR)
    assert sp_key_pair(connection).certificate_pem == key.certificate_pem
    assert authn_request_signature_verifies(client, connection, key.certificate_pem)
    assert not authn_request_signature_verifies(client, connection, old.certificate_pem)
    assert metadata_certificates(client, connection)["signing"] == [body(key.certificate_pem)]


def test_a_retired_sp_key_leaves_the_metadata(client, connection):
    first = signing_key_activate(key=signing_key_publish(purpose=SAML_SP, by=OPERATOR), by=OPERATOR)
    second = signing_key_publish(purpose=SAML_SP, by=OPERATOR)
    assert len(metadata_certificates(client, connection)["signing"]) == 2
    signing_key_activate(key=second, by=OPERATOR)
    first.refresh_from_db()
    assert first.state == SigningKey.State.RETIRED
    assert metadata_certificates(client, connection)["signing"] == [body(second.certificate_pem)]
    abandoned = signing_key_retire(key=signing_key_publish(purpose=SAML_SP, by=OPERATOR), by=OPERATOR)
    assert body(abandoned.certificate_pem) not in metadata_certificates(client, connection)["signing"]


def test_both_the_active_and_the_published_sp_key_decrypt_assertions(connection):
    from pathlib import Path

    from connections.saml.sp import sp_config_for

    current = sp_key_pair(connection)
    key = signing_key_publish(purpose=SAML_SP, by=OPERATOR)
    config = sp_config_for(connection)
    decryption_keys = [Path(pair["key_file"]).read_text() for pair in config.encryption_keypairs]
    assert decryption_keys == [current.private_key_pem, key.private_key_pem]
