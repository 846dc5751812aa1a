"""What the wizard understood of the IdP configuration, and the warnings an IT admin should read.

Read from the connection as saved (so a page reload, or metadata given through the API, shows the same
thing); the warnings are about certificates and endpoints, in plain words."""

import warnings as py_warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.utils import CryptographyDeprecationWarning
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from connections.models import SSOConnection
from connections.saml.metadata import MetadataError, parse_idp_metadata

EXPIRY_WARNING = timedelta(days=30)


@dataclass
class CertificateInfo:
    subject: str
    not_valid_after: datetime
    sha256_fingerprint: str
    expired: bool
    expiring_soon: bool
    sha1: bool


@dataclass
class IdpSummary:
    source: str  # "url", "xml" or "manual"
    entity_id: str
    sso_url: str
    sso_binding: str
    slo_url: str
    metadata_url: str
    certificates: list[CertificateInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _certificate(pem: str, now: datetime) -> CertificateInfo:
    with py_warnings.catch_warnings():
        py_warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    not_after = certificate.not_valid_after_utc
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string() or _("(no subject)"),
        not_valid_after=not_after,
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        expired=not_after <= now,
        expiring_soon=now < not_after <= now + EXPIRY_WARNING,
        sha1=isinstance(certificate.signature_hash_algorithm, hashes.SHA1),
    )


def _date(value: datetime) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def idp_summary(connection: SSOConnection) -> IdpSummary | None:
    if not (connection.idp_entity_id or connection.idp_sso_url or connection.idp_certificates):
        return None
    now = datetime.now(UTC)
    source = "url" if connection.idp_metadata_url else ("xml" if connection.idp_metadata_xml else "manual")
    summary = IdpSummary(
        source=source,
        entity_id=connection.idp_entity_id,
        sso_url=connection.idp_sso_url,
        sso_binding=connection.get_idp_sso_binding_display(),
        slo_url=connection.idp_slo_url,
        metadata_url=connection.idp_metadata_url,
    )
    for pem in connection.idp_certificates:
        try:
            summary.certificates.append(_certificate(pem, now))
        except ValueError:
            summary.warnings.append(_("A saved certificate cannot be read. Give the metadata again."))
    found = summary.warnings
    for info in summary.certificates:
        if info.expired:
            found.append(
                _(
                    "The certificate “%(subject)s” expired on %(date)s. Your identity provider cannot "
                    "sign with it any more: download its current metadata and give it here again."
                )
                % {"subject": info.subject, "date": _date(info.not_valid_after)}
            )
        elif info.expiring_soon:
            days = max((info.not_valid_after - now).days, 0)
            found.append(
                ngettext(
                    "The certificate “%(subject)s” expires in %(days)d day, on %(date)s. When your identity "
                    "provider switches to its new certificate, give us its new metadata, or sign-ins will stop.",
                    "The certificate “%(subject)s” expires in %(days)d days, on %(date)s. When your identity "
                    "provider switches to its new certificate, give us its new metadata, or sign-ins will stop.",
                    days,
                )
                % {"subject": info.subject, "days": days, "date": _date(info.not_valid_after)}
            )
        if info.sha1:
            found.append(
                _(
                    "The certificate “%(subject)s” is itself signed with SHA-1, an algorithm that is no "
                    "longer safe. Sign-ins still work, but create a SHA-256 certificate in your identity "
                    "provider when you can."
                )
                % {"subject": info.subject}
            )
    if len(summary.certificates) > 1:
        found.append(
            ngettext(
                "Your identity provider lists %(count)d signing certificate. We accept a signature made with any "
                "of them.",
                "Your identity provider lists %(count)d signing certificates. We accept a signature made with any "
                "of them: that is normal while it rotates its certificate; otherwise, check that each belongs to it.",
                len(summary.certificates),
            )
            % {"count": len(summary.certificates)}
        )
    if connection.idp_sso_url and not connection.idp_sso_url.startswith("https://"):
        found.append(
            _(
                "The single sign-on URL is not https: people would type their password on an "
                "unencrypted page. Use the https address of your identity provider."
            )
        )
    if connection.idp_metadata_xml:
        try:
            metadata = parse_idp_metadata(connection.idp_metadata_xml)
        except MetadataError:
            metadata = None
        if metadata is not None:
            if not metadata.slo_urls:
                found.append(
                    _(
                        "Your identity provider offers no single logout endpoint with a binding we can "
                        "use (HTTP-Redirect or HTTP-POST): signing out of the application will not sign "
                        "people out of the identity provider. Sign-in works."
                    )
                )
            if metadata.valid_until is not None and metadata.valid_until <= now:
                found.append(
                    _(
                        "The metadata says it stopped being valid on %(date)s. Download it again from "
                        "your identity provider."
                    )
                    % {"date": _date(metadata.valid_until)}
                )
            if "{" in metadata.entity_id:
                found.append(
                    _(
                        "The entity ID contains a placeholder ({tenantid}): this is Microsoft's "
                        "multi-tenant metadata. Use the federation metadata of your own tenant or "
                        "application."
                    )
                )
    return summary
