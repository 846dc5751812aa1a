"""Reading an identity provider's SAML metadata, pasted or fetched, into the values a connection stores.

Metadata comes from people (pasted into the wizard or the API) and from URLs they give us, so it is
untrusted input: it is parsed with defusedxml (no DTD, no entities, no external references), capped
in size, and every refusal is a MetadataError whose message tells an IT admin what to do.

The metadata signature is not checked: there is no trust anchor for it. The IdP certificates it
carries are trusted because the admin, authenticated in the wizard or the API, chose this metadata.
"""

import base64
import binascii
import socket  # noqa: F401  (tests patch socket.getaddrinfo through this module; cryptr_sso.netcheck resolves)
import ssl
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import certifi
import defusedxml
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.utils import CryptographyDeprecationWarning
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.utils import translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from connections.exceptions import _filled
from cryptr_sso.netcheck import HostNotFound, PrivateAddress, checked_addresses

MAX_METADATA_BYTES = 1024 * 1024

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BROWSER_BINDINGS = (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)


def _md(tag: str) -> str:
    return f"{{{NS_MD}}}{tag}"


class MetadataError(ValueError):
    """Metadata we cannot use, with a sentence for the person who gave it to us.

    `hint` is that sentence as a lazy translation: a page (the wizard) shows it in its reader's language.
    `message` and `str(error)` are the same sentence in English, whatever the request's language: the API,
    the logs and the audit trail use them. `code` never changes with the language."""

    def __init__(self, message: str, *, code: str = "invalid_metadata"):
        self.hint = message
        with translation.override("en"):
            self.message = str(message)
        super().__init__(self.message)
        self.code = code


@dataclass(frozen=True)
class IdpCertificate:
    pem: str
    subject: str
    not_valid_before: datetime
    not_valid_after: datetime
    sha256_fingerprint: str

    @property
    def expired(self) -> bool:
        return self.not_valid_after <= datetime.now(UTC)


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_urls: dict[str, str]  # binding -> URL (HTTP-Redirect and HTTP-POST only)
    slo_urls: dict[str, str]
    certificates: list[IdpCertificate]
    valid_until: datetime | None = None
    name_id_formats: list[str] = field(default_factory=list)
    want_authn_requests_signed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def sso_binding(self) -> str:
        """The binding we send AuthnRequests with: Redirect when offered (no page to render), else POST."""
        return BINDING_HTTP_REDIRECT if BINDING_HTTP_REDIRECT in self.sso_urls else BINDING_HTTP_POST

    @property
    def sso_url(self) -> str:
        return self.sso_urls[self.sso_binding]

    @property
    def slo_binding(self) -> str:
        if not self.slo_urls:
            return ""
        return BINDING_HTTP_REDIRECT if BINDING_HTTP_REDIRECT in self.slo_urls else BINDING_HTTP_POST

    @property
    def slo_url(self) -> str:
        return self.slo_urls.get(self.slo_binding, "")

    @property
    def certificate_pems(self) -> list[str]:
        return [certificate.pem for certificate in self.certificates]


# --- certificates --------------------------------------------------------------------------------


def certificate_from_text(text: str) -> IdpCertificate:
    """A certificate as PEM, or as the bare base64 of its DER (what metadata and IdP consoles show).

    Whitespace anywhere inside the base64 is ignored: Okta's metadata has spaces where line breaks were."""
    body = text.strip()
    if "-----BEGIN CERTIFICATE-----" in body:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certificate = x509.load_pem_x509_certificate(body.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise MetadataError(
                _("The certificate is not a readable PEM certificate."), code="invalid_certificate"
            ) from None
    else:
        if "-----BEGIN" in body:
            raise MetadataError(
                _(
                    "This is not a certificate (perhaps a private key): paste the IdP's "
                    "signing certificate, which begins with -----BEGIN CERTIFICATE-----."
                ),
                code="invalid_certificate",
            )
        compact = "".join(body.split())
        try:
            der = base64.b64decode(compact, validate=True)
            with warnings.catch_warnings():
                # AD FS self-signed certificates can have a negative serial number (RFC 5280 4.1.2.2 says
                # positive); they are still what the IdP signs with.
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certificate = x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError):
            raise MetadataError(
                _("The certificate is neither PEM nor the base64 of an X.509 certificate."), code="invalid_certificate"
            ) from None
    return _describe(certificate)


def _describe(certificate: x509.Certificate) -> IdpCertificate:
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return IdpCertificate(
        pem=pem,
        subject=certificate.subject.rfc4514_string(),
        not_valid_before=certificate.not_valid_before_utc,
        not_valid_after=certificate.not_valid_after_utc,
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


# --- parsing -------------------------------------------------------------------------------------


def _parse_xml(document: bytes | str) -> Element:
    raw = document.encode("utf-8") if isinstance(document, str) else document
    if len(raw) > MAX_METADATA_BYTES:
        raise MetadataError(
            _filled(
                _(
                    "The metadata is larger than %(size)s kB; IdP metadata is a few kB. Check "
                    "that you exported the metadata of one identity provider."
                ),
                size=MAX_METADATA_BYTES // 1024,
            ),
            code="metadata_too_large",
        )
    raw = raw.strip()
    if raw.startswith(b"\xef\xbb\xbf"):  # Entra ID and AD FS save a UTF-8 byte order mark
        raw = raw[3:].lstrip()
    if not raw:
        raise MetadataError(_("The metadata is empty."))
    if not raw.startswith(b"<"):
        raise MetadataError(
            _(
                "This is not XML. Paste the identity provider's metadata XML document (it begins "
                "with <?xml or <EntityDescriptor), or give its URL as idp_metadata_url."
            )
        )
    try:
        return fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise MetadataError(
            _(
                "The metadata contains a DOCTYPE declaration. IdP metadata never needs one and we "
                "refuse it, because it is how XXE and entity-expansion attacks are made."
            ),
            code="unsafe_metadata",
        ) from None
    except defusedxml.EntitiesForbidden:
        raise MetadataError(
            _(
                "The metadata declares XML entities, which we refuse (they are how entity-expansion "
                "attacks such as 'billion laughs' are made)."
            ),
            code="unsafe_metadata",
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise MetadataError(
            _("The metadata refers to external resources, which we refuse (XXE)."), code="unsafe_metadata"
        ) from None
    except ParseError as error:
        raise MetadataError(
            _filled(
                _(
                    "The metadata is not well-formed XML (%(error)s). Download it again from "
                    "your identity provider rather than copying it by hand."
                ),
                error=str(error),
            )
        ) from None


def _describe_root(root: Element) -> str:
    if root.tag == f"{{{NS_SAMLP}}}Response":
        return _("This is a SAML response, not metadata. Paste the metadata XML of your identity provider.")
    if root.tag == f"{{{NS_SAML}}}Assertion":
        return _("This is a SAML assertion, not metadata. Paste the metadata XML of your identity provider.")
    local = root.tag.rsplit("}", 1)[-1]
    return _filled(
        _(
            "This is not SAML 2.0 metadata: the document starts with <%(element)s> where an "
            "<EntityDescriptor> was expected."
        ),
        element=local,
    )


def _entity_descriptors(root: Element) -> list[Element]:
    if root.tag == _md("EntityDescriptor"):
        return [root]
    if root.tag == _md("EntitiesDescriptor"):
        return list(root.iter(_md("EntityDescriptor")))
    raise MetadataError(_describe_root(root))


def _idp_role(entity: Element) -> Element | None:
    for role in entity.findall(_md("IDPSSODescriptor")):
        if SAML2_PROTOCOL in (role.get("protocolSupportEnumeration") or "").split():
            return role
    return None


def _valid_until(*elements: Element) -> datetime | None:
    """The earliest validUntil of the entity and of the groups that hold it (SAML Metadata 2.3.1)."""
    dates = []
    for element in elements:
        value = element.get("validUntil")
        if not value:
            continue
        parsed = parse_datetime(value.strip())
        if parsed is None:
            raise MetadataError(_filled(_("The metadata's validUntil '%(value)s' is not a date."), value=value))
        dates.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return min(dates) if dates else None


def _endpoints(role: Element, tag: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for endpoint in role.findall(_md(tag)):
        binding, location = endpoint.get("Binding"), (endpoint.get("Location") or "").strip()
        if binding in BROWSER_BINDINGS and location and binding not in found:
            found[binding] = location
    return found


def _signing_certificates(role: Element) -> list[IdpCertificate]:
    certificates: list[IdpCertificate] = []
    seen: set[str] = set()
    for descriptor in role.findall(_md("KeyDescriptor")):
        # SAML Metadata 2.4.1.1: a KeyDescriptor without `use` is for both signing and encryption.
        if descriptor.get("use", "signing") != "signing":
            continue
        for element in descriptor.iter(f"{{{NS_DS}}}X509Certificate"):
            try:
                certificate = certificate_from_text(element.text or "")
            except MetadataError:
                raise MetadataError(
                    _(
                        "A signing certificate in the metadata cannot be read (its base64 is damaged). "
                        "Download the metadata again from your identity provider."
                    )
                ) from None
            if certificate.sha256_fingerprint not in seen:
                seen.add(certificate.sha256_fingerprint)
                certificates.append(certificate)
    return certificates


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise MetadataError(_filled(_("The metadata's endpoint '%(url)s' is not an http(s) URL."), url=url))


def parse_idp_metadata(document: bytes | str) -> IdpMetadata:
    """Parse the metadata of one SAML 2.0 identity provider, or raise MetadataError."""
    root = _parse_xml(document)
    entities = _entity_descriptors(root)
    idps = [(entity, role) for entity in entities if (role := _idp_role(entity)) is not None]
    if not idps:
        if any(entity.find(_md("SPSSODescriptor")) is not None for entity in entities):
            raise MetadataError(
                _(
                    "The metadata has no IDPSSODescriptor: this looks like service-provider "
                    "metadata (perhaps ours). Paste the metadata of your identity provider instead."
                ),
                code="not_idp_metadata",
            )
        if any(entity.find(_md("IDPSSODescriptor")) is not None for entity in entities):
            raise MetadataError(
                _(
                    "The identity provider in this metadata does not support SAML 2.0 "
                    "(its IDPSSODescriptor lacks the SAML 2.0 protocol)."
                ),
                code="not_idp_metadata",
            )
        if any(entity.find(_md("RoleDescriptor")) is not None for entity in entities):
            raise MetadataError(
                _(
                    "The metadata has no IDPSSODescriptor: it describes WS-Federation only. Export "
                    "the SAML 2.0 metadata of your identity provider."
                ),
                code="not_idp_metadata",
            )
        raise MetadataError(
            _("The metadata has no IDPSSODescriptor, so it does not describe a SAML identity provider."),
            code="not_idp_metadata",
        )
    if len(idps) > 1:
        names = ", ".join(entity.get("entityID") or "?" for entity, _role in idps[:5])
        raise MetadataError(
            _filled(
                _(
                    "The metadata describes %(count)s identity providers (%(names)s). Paste the "
                    "metadata of the one identity provider for this connection."
                ),
                count=len(idps),
                names=names,
            ),
            code="several_idps",
        )
    entity, role = idps[0]

    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError(_("The metadata's EntityDescriptor has no entityID."))
    if len(entity_id) > 1024:
        raise MetadataError(_("The metadata's entityID is longer than 1024 characters (SAML Metadata 2.3.2)."))

    sso_urls = _endpoints(role, "SingleSignOnService")
    if not sso_urls:
        raise MetadataError(
            _(
                "The metadata lists no SingleSignOnService with the HTTP-Redirect or HTTP-POST "
                "binding, so browsers cannot be sent to this identity provider to sign in."
            )
        )
    slo_urls = _endpoints(role, "SingleLogoutService")
    for url in [*sso_urls.values(), *slo_urls.values()]:
        _check_url(url)

    certificates = _signing_certificates(role)
    if not certificates:
        raise MetadataError(
            _(
                "The metadata has no signing certificate in its IDPSSODescriptor, so we could not "
                "check the identity provider's signatures."
            ),
            code="no_signing_certificate",
        )

    parents = {child: parent for parent in root.iter() for child in parent}
    ancestors, node = [], entity
    while node in parents:
        node = parents[node]
        ancestors.append(node)
    valid_until = _valid_until(entity, *ancestors)
    name_id_formats = [
        (element.text or "").strip() for element in role.findall(_md("NameIDFormat")) if (element.text or "").strip()
    ]
    metadata = IdpMetadata(
        entity_id=entity_id,
        sso_urls=sso_urls,
        slo_urls=slo_urls,
        certificates=certificates,
        valid_until=valid_until,
        name_id_formats=name_id_formats,
        want_authn_requests_signed=(role.get("WantAuthnRequestsSigned") or "").strip() in ("true", "1"),
    )
    metadata.warnings.extend(_warnings(metadata))
    return metadata


def _warnings(metadata: IdpMetadata) -> list[str]:
    found = []
    if "{" in metadata.entity_id:
        found.append(
            f"The entity id '{metadata.entity_id}' contains a placeholder: this is the multi-tenant "
            "'common' metadata. Use the federation metadata of your own tenant."
        )
    if metadata.valid_until is not None and metadata.valid_until <= datetime.now(UTC):
        found.append(f"The metadata says it expired on {metadata.valid_until:%Y-%m-%d}. Download it again.")
    if all(certificate.expired for certificate in metadata.certificates):
        last = max(certificate.not_valid_after for certificate in metadata.certificates)
        found.append(
            f"Every signing certificate in the metadata expired (the last on {last:%Y-%m-%d}). "
            "Check that this is the current metadata."
        )
    return found


# --- fetching ------------------------------------------------------------------------------------

FETCH_TIMEOUT_SECONDS = 5
MAX_REDIRECTS = 3


def _allow_private() -> bool:
    return bool(getattr(settings, "SAML_METADATA_ALLOW_PRIVATE_URLS", False))


def _public_addresses(host: str, port: int) -> list[str]:
    """Resolve once and check every address: a name that resolves to an internal address is refused
    (SSRF), and the connection then goes to an address we checked (no DNS rebinding in between)."""
    try:
        return checked_addresses(host, port, allow_private=_allow_private())
    except HostNotFound:
        raise MetadataError(
            _filled(_("The host '%(host)s' of the metadata URL could not be found."), host=host),
            code="metadata_fetch_failed",
        ) from None
    except PrivateAddress as refused:
        raise MetadataError(
            _filled(
                _(
                    "The metadata URL points to a private, loopback or link-local address "
                    "(%(address)s), which we do not fetch. Give a public https URL, or paste the "
                    "metadata XML."
                ),
                address=str(refused.address),
            ),
            code="metadata_url_refused",
        ) from None


def check_metadata_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise MetadataError(
            _("The metadata URL must start with https://, so that nobody on the way can change it."),
            code="metadata_url_refused",
        )
    if not parts.hostname:
        raise MetadataError(_("The metadata URL has no host name."), code="metadata_url_refused")
    if parts.username or parts.password:
        raise MetadataError(
            _("The metadata URL must not contain a user name or password."), code="metadata_url_refused"
        )
    try:
        port = parts.port or 443
    except ValueError:
        raise MetadataError(_("The metadata URL has an invalid port."), code="metadata_url_refused") from None
    return parts.hostname, port


def _remaining(deadline: float, host: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise MetadataError(
            _filled(
                _("%(host)s did not send the metadata within %(timeout)s seconds."), host=host, timeout=f"{timeout:g}"
            ),
            code="metadata_fetch_failed",
        )
    return left


def _get(url: str, *, deadline: float, timeout: float) -> urllib3.BaseHTTPResponse:
    host, port = check_metadata_url(url)
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    ca_file = getattr(settings, "SAML_METADATA_CA_BUNDLE", None) or certifi.where()
    headers = {
        "Host": host if port == 443 else f"{host}:{port}",
        "User-Agent": "sso-gateway-metadata-fetcher",
        "Accept": "application/samlmetadata+xml, application/xml, text/xml",
    }
    addresses = _public_addresses(host, port)
    for index, address in enumerate(addresses):
        left = _remaining(deadline, host, timeout)
        # Connect to the address we checked, and verify the certificate for (and send SNI of) the host name.
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            retries=False,
            maxsize=1,
            cert_reqs=ssl.CERT_REQUIRED,
            ca_certs=ca_file,
            server_hostname=host,
            assert_hostname=host,
        )
        try:
            return pool.urlopen(
                "GET",
                target,
                headers=headers,
                redirect=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=left, read=left),
            )
        except urllib3.exceptions.NewConnectionError:
            if index + 1 < len(addresses):
                continue  # e.g. an IPv6 address on a host without an IPv6 route: try the next one
            raise MetadataError(
                _filled(_("Could not connect to %(host)s."), host=host), code="metadata_fetch_failed"
            ) from None
        except urllib3.exceptions.SSLError:
            raise MetadataError(
                _filled(_("The TLS certificate of %(host)s could not be verified."), host=host),
                code="metadata_fetch_failed",
            ) from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise MetadataError(
                _filled(_("%(host)s did not answer within %(timeout)s seconds."), host=host, timeout=f"{timeout:g}"),
                code="metadata_fetch_failed",
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise MetadataError(
                _filled(
                    _("The metadata could not be downloaded from %(host)s (%(error)s)."),
                    host=host,
                    error=error.__class__.__name__,
                ),
                code="metadata_fetch_failed",
            ) from None
    raise MetadataError(_filled(_("Could not connect to %(host)s."), host=host), code="metadata_fetch_failed")


def fetch_idp_metadata_xml(url: str) -> bytes:
    """Download metadata over https from a public address, in at most 5 seconds and 1 MB, following at
    most 3 redirects (each checked like the first URL)."""
    timeout = float(getattr(settings, "SAML_METADATA_FETCH_TIMEOUT", FETCH_TIMEOUT_SECONDS))
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        response = _get(url, deadline=deadline, timeout=timeout)
        host = urlsplit(url).hostname or url
        try:
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status != 200:
                raise MetadataError(
                    _filled(
                        _("Downloading the metadata answered HTTP %(status)s. Check the URL."), status=response.status
                    ),
                    code="metadata_fetch_failed",
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_METADATA_BYTES:
                raise _too_large()
            body = bytearray()
            try:
                while chunk := response.read1(64 * 1024):
                    body.extend(chunk)
                    if len(body) > MAX_METADATA_BYTES:
                        raise _too_large()
                    _remaining(deadline, host, timeout)  # a server dripping bytes is cut off too
            except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError, TimeoutError):
                raise MetadataError(
                    _filled(
                        _(
                            "The download of the metadata from %(host)s was cut off or took more "
                            "than %(timeout)s seconds."
                        ),
                        host=host,
                        timeout=f"{timeout:g}",
                    ),
                    code="metadata_fetch_failed",
                ) from None
            return bytes(body)
        finally:
            response.release_conn()
    raise MetadataError(_("The metadata URL redirects too many times."), code="metadata_fetch_failed")


def _too_large() -> MetadataError:
    return MetadataError(
        _filled(
            _("The document at the metadata URL is larger than %(size)s kB; IdP metadata is a few kB."),
            size=MAX_METADATA_BYTES // 1024,
        ),
        code="metadata_too_large",
    )


def fetch_idp_metadata(url: str) -> tuple[bytes, IdpMetadata]:
    document = fetch_idp_metadata_xml(url)
    return document, parse_idp_metadata(document)
