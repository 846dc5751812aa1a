"""IdP metadata documents for the beat tests: a signing certificate with the validity the test chooses."""

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ENTITY_ID = "https://idp.misapret.example/saml"
SSO_URL = "https://idp.misapret.example/saml/sso"


def certificate(common_name: str, *, not_after: datetime | None = None, not_before: datetime | None = None) -> str:
    """A self-signed certificate, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=400))
        .not_valid_after(not_after or now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(pem: str) -> str:
    loaded = x509.load_pem_x509_certificate(pem.encode())
    return loaded.fingerprint(hashes.SHA256()).hex(":").upper()


def metadata(
    *pems: str, entity_id: str = ENTITY_ID, sso_url: str = SSO_URL, role: str = "IDPSSODescriptor", use: str = "signing"
) -> bytes:
    keys = "".join(
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{base64.b64encode(x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)).decode()}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for pem in pems
    )
    service = "SingleSignOnService" if role == "IDPSSODescriptor" else "AssertionConsumerService"
    index = "" if service == "SingleSignOnService" else ' index="0"'
    return (
        '<?xml version="1.0"?>'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        f'<md:{role} protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}'
        f'<md:{service} Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"{index}/>'
        f"</md:{role}></md:EntityDescriptor>"
    ).encode()
