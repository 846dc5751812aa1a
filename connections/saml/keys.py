"""The service provider's signing key and certificate (AuthnRequests, logout messages, SP metadata).

Production sets them in the environment (`SAML_SP_PRIVATE_KEY` and `SAML_SP_CERTIFICATE`, PEM) so every
process and machine uses the same pair. The embedded default generates a self-signed RSA-3072 pair
once into ./var (settings.VAR_DIR) and every process on that machine reads the same file.

Connections use the deployment's pair today; `sp_key_pair(connection)` takes the connection so that
per-connection keys (stored on the connection, or in a key table) can be added without changing callers.
"""

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_FILE_NAME = "saml-sp-signing.pem"
CERTIFICATE_YEARS = 10


@dataclass(frozen=True)
class SpKeyPair:
    private_key_pem: str
    certificate_pem: str

    @property
    def certificate_base64(self) -> str:
        """The DER base64 alone, as it goes inside <ds:X509Certificate>."""
        lines = self.certificate_pem.strip().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))


def _setting(name: str) -> str:
    value = getattr(settings, name, None) or os.environ.get(name, "")
    # Environments often carry PEMs on one line with literal "\n".
    return value.replace("\\n", "\n").strip()


def _check_pair(private_key_pem: str, certificate_pem: str) -> SpKeyPair:
    try:
        private_key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as error:
        raise ImproperlyConfigured(f"SAML_SP_PRIVATE_KEY / SAML_SP_CERTIFICATE cannot be read: {error}") from None
    if private_key.public_key().public_numbers() != certificate.public_key().public_numbers():
        raise ImproperlyConfigured("SAML_SP_CERTIFICATE is not the certificate of SAML_SP_PRIVATE_KEY.")
    return SpKeyPair(private_key_pem=private_key_pem + "\n", certificate_pem=certificate_pem + "\n")


def generate_self_signed_pair(*, common_name: str) -> SpKeyPair:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    return SpKeyPair(
        private_key_pem=private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


def _split_file(text: str) -> tuple[str, str]:
    key_end = text.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----")
    return text[:key_end].strip(), text[key_end:].strip()


def _embedded_pair(var_dir: Path) -> SpKeyPair:
    path = var_dir / KEY_FILE_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        host = settings.BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
        pair = generate_self_signed_pair(common_name=f"SSO gateway SP {host}")
        fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=".saml-sp-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(pair.private_key_pem + pair.certificate_pem)
            os.chmod(temporary, 0o600)
            # link() fails if another process got there first: then everybody uses the winner's pair.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    private_key_pem, certificate_pem = _split_file(path.read_text())
    return _check_pair(private_key_pem, certificate_pem)


@lru_cache(maxsize=1)
def deployment_key_pair() -> SpKeyPair:
    private_key_pem, certificate_pem = _setting("SAML_SP_PRIVATE_KEY"), _setting("SAML_SP_CERTIFICATE")
    if private_key_pem or certificate_pem:
        if not (private_key_pem and certificate_pem):
            raise ImproperlyConfigured("Set both SAML_SP_PRIVATE_KEY and SAML_SP_CERTIFICATE, or neither.")
        return _check_pair(private_key_pem, certificate_pem)
    if getattr(settings, "PRODUCTION", False):
        # Every process behind the load balancer must sign with the same key, and IdPs pin its certificate.
        raise ImproperlyConfigured(
            "SAML_SP_PRIVATE_KEY and SAML_SP_CERTIFICATE must be set when CRYPTR_ENV=production."
        )
    return _embedded_pair(Path(settings.VAR_DIR))


def _stored_pair(key) -> SpKeyPair:
    return SpKeyPair(private_key_pem=key.private_key_pem, certificate_pem=key.certificate_pem)


def sp_key_pair(connection=None) -> SpKeyPair:
    """The key pair a connection's SP signs with and publishes in its metadata: the active SP key of
    the rotation table (cryptr_sso.signing_keys) when there is one, else the deployment's pair."""
    from cryptr_sso.models import SigningKey
    from cryptr_sso.signing_keys import active_signing_key

    rotated = active_signing_key(purpose=SigningKey.Purpose.SAML_SP)
    return _stored_pair(rotated) if rotated else deployment_key_pair()


def sp_next_key_pairs(connection=None) -> tuple[SpKeyPair, ...]:
    """Published SP keys, not signing yet: listed in the SP metadata (signing and encryption) so IdPs
    pick them up before the switch, and tried when decrypting assertions."""
    from cryptr_sso.signing_keys import published_sp_keys

    return tuple(_stored_pair(key) for key in published_sp_keys())


def sp_certificate_pem(connection=None) -> str:
    return sp_key_pair(connection).certificate_pem
