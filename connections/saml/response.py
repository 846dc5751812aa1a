"""The SAML Response checks of the service provider, in one processor (DESIGN.md, "SAML: what the SP must check").

`SamlResponseProcessor(settings, outstanding_requests=...).parse(saml_response, binding)` returns a
`SamlLogin` or raises a `SamlResponseError` subclass whose `hint` tells an IT admin what to fix.

A message with nothing encrypted has its signatures verified here, on its own tree: the whole Response
valid against the SAML 2.0 schema (libxml2, schema.py), then each Signature by libxmlsec1 with the keys
of this connection's metadata only (`_verify_enveloped_signature`: the checks pysaml2's `_check_signature`
makes, and the algorithm allow-list). pysaml2 verifies and decrypts encrypted assertions and NameIDs,
through a crypto backend that runs the same verifier and libxmlsec1 in-process (`_XmlSec1`) instead of
starting the xmlsec1 program. Everything around it is checked here, on the same bytes, because pysaml2 alone
accepts SHA-1, a wrong Recipient, an unknown InResponseTo when unsolicited responses are allowed,
assertions without Conditions or bearer confirmation, and replays. The order:

1. transport: size cap before decoding, base64, inflate with a cap (Redirect binding);
2. XML: defusedxml (no DTD, no entities), UTF-8, a samlp:Response root; the IdP's status;
3. structure: exactly one assertion, where SAML puts it, signatures only on the Response or that
   assertion, each referencing its parent by a unique ID (no signature wrapping); algorithm allow-list;
   a signature present; Issuer and Destination;
4. the assertion (plaintext now, or after pysaml2 decrypted it): Conditions, Audience, validity window,
   bearer SubjectConfirmation with our Recipient, InResponseTo, no comments in signed values;
5. the signatures: here when nothing is encrypted; else pysaml2's verification and decryption (its XML
   Schema check of each signed element runs on libxml2 too), then a check that the element it verified
   is the one used;
6. replay: the assertion ID is claimed once in the shared cache.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml
import xmlsec
from defusedxml.ElementTree import DefusedXMLParser
from lxml import etree as lxml_etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.response import DecryptionFailed, IncorrectlySigned, StatusError
from saml2.response import UnsolicitedResponse as Pysaml2Unsolicited
from saml2.sigver import (
    CryptoBackendXmlSec1,
    DecryptError,
    MissingKey,
    SignatureError,
    SigverError,
    XmlsecError,
    pem_format,
)
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly
from saml2.xml.schema import XMLSchemaError

from connections import exceptions as errors
from connections.saml import replay, schema
from connections.saml.config import SamlSettings, build_sp_config

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024  # of base64 on the wire, and of XML after inflating

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XML = "http://www.w3.org/XML/1998/namespace"

RESPONSE = f"{{{NS_SAMLP}}}Response"
ASSERTION = f"{{{NS_SAML}}}Assertion"
ENCRYPTED_ASSERTION = f"{{{NS_SAML}}}EncryptedAssertion"
SIGNATURE = f"{{{NS_DS}}}Signature"
ENCRYPTED_DATA = "{http://www.w3.org/2001/04/xmlenc#}EncryptedData"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

# SHA-1 (collisions are practical) and HMAC (a "signature" anyone holding the public certificate can
# forge when a verifier uses the certificate bytes as the key) are refused.
ALLOWED_SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
ALLOWED_DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)

# The verifier resolves references through the ID attribute of SAML elements (pysaml2's --id-attr:ID)
# and libxml2 also treats xml:id as an ID: both must be unique in a message.
_ID_ATTRIBUTES = ("ID", f"{{{NS_XML}}}id")
_MAX_ISSUE_INSTANT_AGE = 24 * 3600  # pysaml2 accepts a day either way; we accept a day in the past only


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


@dataclass(frozen=True)
class SamlLogin:
    """What a verified SAML Response says about the user. Attribute names are as the IdP sent them."""

    name_id: str
    name_id_format: str
    attributes: dict[str, list[str]]
    session_index: str
    issuer: str
    in_response_to: str
    assertion_id: str
    not_on_or_after: datetime
    authn_instant: datetime | None
    session_not_on_or_after: datetime | None = None
    came_from: str = ""
    response_signed: bool = False
    assertion_signed: bool = False
    # The latest NotOnOrAfter of the assertion (Conditions, bearer confirmation): how long it is remembered.
    valid_until: datetime | None = None

    def __repr__(self) -> str:  # never print the subject or the attribute values
        return f"SamlLogin(issuer={self.issuer!r}, assertion_id={self.assertion_id!r})"


# --- pysaml2 plumbing ---------------------------------------------------------------------------------


@cache
def _xmlsec_version(binary: str) -> str:
    return CryptoBackendXmlSec1(binary).version


class _XmlSec1(CryptoBackendXmlSec1):
    """pysaml2's xmlsec1 backend, with signatures verified in-process by libxmlsec1 (python-xmlsec).

    pysaml2 runs the `xmlsec1` program three times per signature (`--version`, `--verify`, `--version`):
    about 25 ms of CPU, mostly OpenSSL start-up, which alone caps a core at ~40 logins/s. The same library
    in-process takes ~1 ms. The semantics of pysaml2's command line are kept, and tightened: the ID
    attribute is registered on `node_name` elements only (`--id-attr:ID`), the key is the configured
    certificate only (`--enabled-key-data raw-x509-cert`: KeyInfo in the message is never read), the one
    Reference points to the signed element itself, and only exclusive c14n, the enveloped transform and
    the allowed signature and digest algorithms are enabled in the verifier. Encrypted assertions are
    decrypted in-process too.
    """

    @property
    def version(self):
        return _xmlsec_version(self.xmlsec)

    def validate_signature(self, signedtext, cert_file, cert_type, node_name, node_id):
        if cert_type != "pem":
            raise XmlsecError(f"certificate type {cert_type!r} not supported")
        data = signedtext.encode("utf-8") if isinstance(signedtext, str) else signedtext
        try:
            root = lxml_etree.fromstring(data, _lxml_parser())
        except lxml_etree.XMLSyntaxError as exc:
            raise XmlsecError(f"not well-formed: {exc}") from None
        if root.getroottree().docinfo.doctype:
            raise XmlsecError("DTD in a signed document")
        try:
            key = _verification_key(cert_file)
        except xmlsec.Error as exc:
            raise XmlsecError(f"unusable certificate: {exc}") from None
        _verify_enveloped_signature(root, node_name, node_id, key)
        return True

    def decrypt(self, enctext, key_file):
        """`xmlsec1 --decrypt --privkey-pem KEY --id-attr:Id EncryptedKey`, in-process: the first
        EncryptedData of the document is replaced by its plaintext, the session key coming from the
        EncryptedKey (inline, or detached and found through RetrievalMethod, as Okta sends it)."""
        data = enctext.encode("utf-8") if isinstance(enctext, str) else enctext
        try:
            root = lxml_etree.fromstring(data, _lxml_parser())
        except lxml_etree.XMLSyntaxError as exc:
            raise XmlsecError(f"not well-formed: {exc}") from None
        if root.getroottree().docinfo.doctype:
            raise XmlsecError("DTD in an encrypted document")
        encrypted = next(root.iter(ENCRYPTED_DATA), None)
        if encrypted is None:
            raise XmlsecError("no EncryptedData")
        xmlsec.tree.add_ids(root, ["Id"])
        try:
            decrypted = xmlsec.EncryptionContext(_decryption_keys(key_file)).decrypt(encrypted)
        except xmlsec.Error as exc:
            raise XmlsecError(f"decryption failed: {exc}") from None
        if encrypted is root:  # pysaml2 passes EncryptedID / EncryptedAttribute data on their own
            if isinstance(decrypted, bytes):
                return decrypted.decode("utf-8")
            return lxml_etree.tostring(decrypted, encoding="unicode")
        return lxml_etree.tostring(root, encoding="unicode")


def _verify_enveloped_signature(root, node_name: str, node_id: str, key, signed_element=None) -> None:
    """Verify, with `key` only, the enveloped signature of the one `node_name` element (namespace:local
    name) of the lxml document `root` whose ID is `node_id` (and which is `signed_element` when given).
    The ID attribute is registered on `node_name` elements only; the one Reference must point to the
    signed element; only exclusive c14n, the enveloped transform and the allowed algorithms are enabled.
    Raises XmlsecError (or WeakAlgorithm) when anything is off."""
    namespace, local_name = node_name.rsplit(":", 1)
    context = xmlsec.SignatureContext()
    signed = []
    for element in root.iter(f"{{{namespace}}}{local_name}"):
        if element.get("ID") is not None:
            context.register_id(element, "ID")
            if element.get("ID") == node_id:
                signed.append(element)
    if len(signed) != 1:
        raise XmlsecError(f"{len(signed)} {local_name} elements with the signed ID")
    if signed_element is not None and signed[0] is not signed_element:
        raise XmlsecError("the signed ID is not on the element used")
    signature = signed[0].find(f"{{{NS_DS}}}Signature")
    if signature is None:
        raise XmlsecError("no enveloped Signature on the signed element")
    references = signature.findall(f"{{{NS_DS}}}SignedInfo/{{{NS_DS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != f"#{node_id}":
        raise XmlsecError("the Reference is not the signed element")
    # SAML Core 5.4.4 (as pysaml2 checks it): the enveloped-signature transform, and at most one more
    # (exclusive c14n); no ds:Object.
    transforms = [t.get("Algorithm") for t in references[0].iter(f"{{{NS_DS}}}Transform")]
    if (
        not 1 <= len(transforms) <= 2
        or _TRANSFORM_ENVELOPED not in transforms
        or not set(transforms) <= _ALLOWED_TRANSFORMS
    ):
        raise XmlsecError("Reference transforms other than enveloped-signature and exclusive c14n")
    if signature.find(f"{{{NS_DS}}}Object") is not None:
        raise XmlsecError("ds:Object in the signature")
    # The allow-list again, on the very signature being verified (also inside decrypted assertions,
    # which the processor only sees after pysaml2): raised as is, pysaml2 lets it through.
    _check_signature_algorithms(signature)
    for transform in _SIGNATURE_TRANSFORMS:
        context.enable_signature_transform(transform)
    for transform in _REFERENCE_TRANSFORMS:
        context.enable_reference_transform(transform)
    try:
        context.key = key
        context.verify(signature)
    except xmlsec.Error as exc:
        raise XmlsecError(f"signature does not verify: {exc}") from None


_TRANSFORM_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_ALLOWED_TRANSFORMS = frozenset(
    {
        _TRANSFORM_ENVELOPED,
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    }
)


def _lxml_parser():
    # One per document: lxml parser objects are not to be used by two threads at once.
    return lxml_etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


_C = xmlsec.constants
_SIGNATURE_TRANSFORMS = (
    _C.TransformExclC14N,
    _C.TransformExclC14NWithComments,
    _C.TransformRsaSha256,
    _C.TransformRsaSha384,
    _C.TransformRsaSha512,
    _C.TransformEcdsaSha256,
    _C.TransformEcdsaSha384,
    _C.TransformEcdsaSha512,
)
_REFERENCE_TRANSFORMS = (
    _C.TransformEnveloped,
    _C.TransformExclC14N,
    _C.TransformExclC14NWithComments,
    _C.TransformSha256,
    _C.TransformSha384,
    _C.TransformSha512,
)


_keys_managers = threading.local()


def _decryption_keys(key_file: str):
    """A keys manager holding the SP key, per thread and per key content: creating one costs ~20 ms
    (libxmlsec1 sets up its X.509 store), loading the key itself ~0.1 ms."""
    with open(key_file, "rb") as handle:
        pem = handle.read()
    cache_key = hashlib.sha256(pem).digest()
    managers = getattr(_keys_managers, "by_key", None)
    if managers is None:
        managers = _keys_managers.by_key = {}
    manager = managers.get(cache_key)
    if manager is None:
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(pem, _C.KeyDataFormatPem))
        if len(managers) >= 64:
            managers.clear()
        managers[cache_key] = manager
    return manager


def _verification_key(cert_file: str):
    # pysaml2 writes the metadata certificate to a fresh temporary file for every check.
    return xmlsec.Key.from_file(cert_file, _C.KeyDataFormatCertPem)


class _NoPopulation:
    """pysaml2 keeps every user it sees in an in-memory dict; the gateway keeps its users itself."""

    def add_information_about_person(self, session_info):
        return None


class _WithheldPysaml2Details(logging.Filter):
    """pysaml2 logs the whole SAML document (and the NameID) in some messages, up to ERROR level, and
    its exceptions carry the document too. The processor logs each refusal itself, without user data:
    pysaml2's records keep their level and origin, not their arguments or tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.args or record.exc_info or "<" in message or len(message) > 200:
            record.msg = f"pysaml2 {record.funcName}: {message.split('%', 1)[0][:80].strip()} (details withheld)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def _withhold_pysaml2_details() -> None:
    import saml2.xml.schema  # noqa: F401 - make sure its logger exists before filters are attached

    names = {name for name in logging.root.manager.loggerDict if name == "saml2" or name.startswith("saml2.")}
    for name in names | {"saml2.client_base", "saml2.entity", "saml2.response", "saml2.sigver"}:
        logger_ = logging.getLogger(name)
        if not any(isinstance(f, _WithheldPysaml2Details) for f in logger_.filters):
            logger_.addFilter(_WithheldPysaml2Details())


_withhold_pysaml2_details()


_client_lock = threading.Lock()


def sp_client(config) -> Saml2Client:
    """The Saml2Client of a built SPConfig, made once: creating one loads the SP's RSA key (~70 ms).

    It verifies and decrypts in-process (`_XmlSec1`) and keeps no users in memory. Parsing responses and
    creating AuthnRequests keep no state on it, so views may share it; a flow that needs pysaml2's state
    or identity cache (logout) should make its own client and may reuse `sp_client(config).sec`.
    """
    client = getattr(config, "cryptr_client", None)
    if client is None:
        with _client_lock:
            client = getattr(config, "cryptr_client", None)
            if client is None:
                client = Saml2Client(config)
                client.sec.crypto = _XmlSec1(client.sec.crypto.xmlsec, delete_tmpfiles=True)
                client.users = _NoPopulation()
                config.cryptr_client = client
    return client


# --- helpers ------------------------------------------------------------------------------------------


def _parse_xml(xml: bytes) -> Element:
    # Comments and processing instructions are kept in the tree so they can be refused where they could
    # split a signed value (the NameID truncation attacks of 2018).
    parser = DefusedXMLParser(
        target=TreeBuilder(insert_comments=True, insert_pis=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(xml)
        return parser.close()
    except (
        defusedxml.DTDForbidden,
        defusedxml.EntitiesForbidden,
        defusedxml.ExternalReferenceForbidden,
        defusedxml.NotSupportedError,
    ) as exc:
        raise errors.UnsafeXml(detail=type(exc).__name__) from exc
    except ParseError as exc:
        raise errors.MalformedXml(detail=f"not well-formed XML: {exc}") from exc


def _check_signature_algorithms(signature) -> None:
    """SignatureMethod and every DigestMethod of one ds:Signature (an ElementTree or lxml element)."""
    signed_info = signature.find(_q(NS_DS, "SignedInfo"))
    if signed_info is None:
        raise errors.MalformedXml(detail="Signature without SignedInfo")
    methods = signed_info.findall(_q(NS_DS, "SignatureMethod"))
    if len(methods) != 1:
        raise errors.MalformedXml(detail="Signature without one SignatureMethod")
    method = methods[0].get("Algorithm", "")
    if method not in ALLOWED_SIGNATURE_METHODS:
        raise errors.WeakAlgorithm(detail=f"SignatureMethod {method}")
    digests = [d.get("Algorithm", "") for d in signed_info.iter(_q(NS_DS, "DigestMethod"))]
    if not digests:
        raise errors.MalformedXml(detail="Reference without DigestMethod")
    for digest in digests:
        if digest not in ALLOWED_DIGEST_METHODS:
            raise errors.WeakAlgorithm(detail=f"DigestMethod {digest}")


def _timestamp(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(calendar.timegm(str_to_time(value.strip())))
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.MalformedXml(detail=f"{what} is not an xs:dateTime") from exc


def _datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _element_id(element: Element) -> str | None:
    return element.get("ID")


def _children(element: Element, tag: str) -> list[Element]:
    return [child for child in element if child.tag == tag]


# --- the processor ------------------------------------------------------------------------------------


class SamlResponseProcessor:
    """Checks one SAML Response for one connection. Create one per ACS request.

    `outstanding_requests` maps the IDs of the AuthnRequests this browser session sent to where the
    user came from (djangosaml2's `OutstandingQueriesCache.outstanding_queries()`); the caller removes
    the answered ID after a successful parse.
    """

    def __init__(self, settings: SamlSettings, *, outstanding_requests: dict | None = None):
        self.settings = settings
        self.outstanding_requests = dict(outstanding_requests or {})
        self.config = build_sp_config(settings)
        self.idp_entity_id: str = self.config.cryptr_idp_entity_id

    # The one entry point.
    def parse(self, saml_response: str | bytes, binding: str = BINDING_HTTP_POST) -> SamlLogin:
        try:
            return self._parse(saml_response, binding)
        except errors.SamlResponseError as exc:
            # Codes and details only: never the assertion, the NameID or attribute values.
            logger.warning("SAML response refused for connection %s: %s %s", self.settings.idp_id, exc.code, exc.detail)
            raise

    def _parse(self, saml_response: str | bytes, binding: str) -> SamlLogin:
        now = time.time()
        xml = self._decode(saml_response, binding)
        root = self._parse_document(xml)
        self._check_status(root)
        placed = self._check_structure(root)
        self._check_algorithms(root)
        self._check_signature_present(root, placed)
        self._check_response_issuer(root)
        self._check_destination(root)
        self._check_issue_instant(root, now)
        self._check_in_response_to(root.get("InResponseTo"))
        if placed.tag == ASSERTION:
            self._check_assertion(placed, root, now)

        if placed.tag == ASSERTION and next(root.iter(ENCRYPTED_DATA), None) is None:
            # Nothing to decrypt: the signatures are verified on this very document (5 below), without
            # pysaml2's object model (about a third of the ACS's CPU).
            self._verify_signatures(xml, placed)
            login = self._login(root, placed, None)
            self._check_replay(login)
            return login

        authn = self._verify_with_pysaml2(xml, root)

        if placed.tag == ENCRYPTED_ASSERTION:
            # SAML Core 6.2: the decrypted assertion gets every check the plaintext one got.
            decrypted_root = self._parse_document(str(authn.xmlstr).encode("utf-8"))
            assertion = self._check_structure(decrypted_root, decrypted=True)
            self._check_algorithms(decrypted_root)
            self._check_signature_present(decrypted_root, assertion)
            self._check_assertion(assertion, root, now)
        else:
            assertion = placed
        self._check_verified_is_used(authn, root, assertion)

        login = self._login(root, assertion, authn)
        self._check_replay(login)
        return login

    # 1. transport ------------------------------------------------------------------------------------

    def _decode(self, saml_response: str | bytes, binding: str) -> bytes:
        if isinstance(saml_response, str):
            saml_response = saml_response.encode("ascii", errors="replace")
        if len(saml_response) > MAX_MESSAGE_BYTES:
            raise errors.MessageTooLarge(detail=f"{len(saml_response)} bytes of base64")
        try:
            raw = base64.b64decode(b"".join(saml_response.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.MalformedXml(detail="SAMLResponse is not base64") from exc
        if binding == BINDING_HTTP_REDIRECT:
            # SAML Bindings 3.4.4.1: DEFLATE without zlib header. Inflate no further than the cap.
            inflater = zlib.decompressobj(-15)
            try:
                raw = inflater.decompress(raw, MAX_MESSAGE_BYTES + 1)
            except zlib.error as exc:
                raise errors.MalformedXml(detail="SAMLResponse does not inflate") from exc
            if len(raw) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
                raise errors.MessageTooLarge(detail="inflates past the cap")
        elif binding != BINDING_HTTP_POST:
            raise errors.MalformedXml(detail=f"unsupported binding {binding}")
        return raw

    # 2. XML -----------------------------------------------------------------------------------------

    def _parse_document(self, xml: bytes) -> Element:
        try:
            xml.decode("utf-8")
        except UnicodeDecodeError as exc:
            # pysaml2 reads the message as UTF-8; another encoding could be read differently by xmlsec1.
            raise errors.MalformedXml(detail="not UTF-8") from exc
        root = _parse_xml(xml)
        if root.tag != RESPONSE:
            raise errors.MalformedXml(detail=f"root element is {root.tag!r}, not samlp:Response")
        if root.get("Version") != "2.0":
            raise errors.MalformedXml(detail=f"SAML Version {root.get('Version')!r}, not 2.0")
        return root

    def _check_status(self, root: Element) -> None:
        # Read before the signature checks: IdPs often send their refusals unsigned, and the admin needs
        # the IdP's own words. A forged status can only make us refuse.
        status = root.find(_q(NS_SAMLP, "Status"))
        code = status.find(_q(NS_SAMLP, "StatusCode")) if status is not None else None
        if code is None:
            raise errors.MalformedXml(detail="no Status/StatusCode")
        if code.get("Value") == STATUS_SUCCESS:
            return
        sub = code.find(_q(NS_SAMLP, "StatusCode"))
        value = (sub if sub is not None else code).get("Value", "")
        message = _text(status.find(_q(NS_SAMLP, "StatusMessage")))[:300]
        raise errors.IdpStatusError(
            status_code=value.rsplit(":", 1)[-1], status_message=message, detail=f"status {code.get('Value')} / {value}"
        )

    # 3. structure, algorithms, signature presence, issuer, destination --------------------------------

    def _check_structure(self, root: Element, *, decrypted: bool = False) -> Element:
        """The element carrying the assertion: the one Assertion (or EncryptedAssertion) child of the
        Response. Anything else that could let a verified signature cover one element while another one
        is used is refused (XML signature wrapping, Somorovsky et al. 2012)."""
        parents = {child: parent for parent in root.iter() for child in parent}
        assertions = list(root.iter(ASSERTION))
        encrypted = list(root.iter(ENCRYPTED_ASSERTION))
        if decrypted:
            # pysaml2 leaves the decrypted Assertion inside its EncryptedAssertion element.
            if any(True for _ in root.iter(ENCRYPTED_DATA)):
                raise errors.EncryptedAssertionError(detail="encrypted data is left after decryption")
            if len(assertions) != 1 or len(encrypted) > 1:
                raise errors.SignatureWrapping(detail=f"{len(assertions)} assertions after decryption")
            placed = assertions[0]
            parent = parents.get(placed)
            if not (parent is root or (parent in encrypted and parents.get(parent) is root)):
                raise errors.SignatureWrapping(detail="the decrypted assertion is not where it was encrypted")
        else:
            if len(assertions) + len(encrypted) != 1:
                if not assertions and not encrypted:
                    raise errors.MalformedXml(detail="no assertion in a Success response")
                raise errors.SignatureWrapping(detail=f"{len(assertions)} assertions, {len(encrypted)} encrypted")
            placed = (assertions or encrypted)[0]
            if parents.get(placed) is not root:
                raise errors.SignatureWrapping(detail="the assertion is not a child of the Response")

        seen_ids: set[str] = set()
        for element in root.iter():
            if element.tag == _q(NS_DS, "Object"):
                raise errors.SignatureWrapping(detail="ds:Object in the message")
            for attribute in _ID_ATTRIBUTES:
                value = element.get(attribute)
                if value is not None:
                    if value in seen_ids:
                        raise errors.SignatureWrapping(detail="an ID value appears twice")
                    seen_ids.add(value)

        signature_parents = set()
        for signature in root.iter(SIGNATURE):
            parent = parents.get(signature)
            if parent is not root and parent is not placed:
                raise errors.SignatureWrapping(detail="a Signature outside the Response and the Assertion")
            if parent in signature_parents:
                raise errors.SignatureWrapping(detail="two Signatures on one element")
            signature_parents.add(parent)
            references = signature.findall(f"{_q(NS_DS, 'SignedInfo')}/{_q(NS_DS, 'Reference')}")
            parent_id = _element_id(parent)
            if len(references) != 1 or not parent_id or references[0].get("URI") != f"#{parent_id}":
                raise errors.SignatureWrapping(detail="a Signature does not reference the element it is in")
        return placed

    def _check_algorithms(self, root: Element) -> None:
        for signature in root.iter(SIGNATURE):
            _check_signature_algorithms(signature)

    def _check_signature_present(self, root: Element, placed: Element) -> None:
        response_signed = root.find(SIGNATURE) is not None
        if self.settings.want_response_signed and not response_signed:
            raise errors.SignatureMissing(
                "The connection requires a signed SAML Response, and the IdP signed only the assertion (or "
                "nothing). Configure the IdP to sign the response (Okta and Google do; in Entra ID choose "
                "'Sign SAML response and assertion'), or turn that requirement off.",
                detail="Response not signed",
            )
        if placed.tag == ENCRYPTED_ASSERTION:
            return  # the assertion's own signature can only be seen once decrypted (checked again then)
        if not response_signed and placed.find(SIGNATURE) is None:
            raise errors.SignatureMissing(detail="neither the Response nor the Assertion is signed")

    def _check_response_issuer(self, root: Element) -> None:
        issuer = root.find(_q(NS_SAML, "Issuer"))
        if issuer is not None and _text(issuer) != self.idp_entity_id:
            raise errors.UnknownIssuer(detail=f"Response Issuer {_text(issuer)!r}")

    def _check_destination(self, root: Element) -> None:
        destination = root.get("Destination")
        # SAML Bindings 3.5.5.2: the Destination names where the IdP meant the message to go, and a signed
        # message MUST carry it (PingFederate omits it only on unsigned Responses, where the signed
        # assertion's Recipient decides).
        if destination is None:
            if root.find(SIGNATURE) is not None:
                raise errors.WrongDestination(detail="signed Response without Destination")
            return
        if destination != self.settings.acs_url:
            raise errors.WrongDestination(detail=f"Destination {destination!r}, ACS {self.settings.acs_url!r}")

    def _check_issue_instant(self, root: Element, now: float) -> None:
        issued = _timestamp(root.get("IssueInstant"), "IssueInstant")
        if issued is None:
            raise errors.MalformedXml(detail="no IssueInstant")
        skew = self.settings.clock_skew
        if issued > now + skew:
            raise errors.NotYetValid(detail="IssueInstant in the future")
        if issued < now - _MAX_ISSUE_INSTANT_AGE - skew:
            raise errors.Expired(detail="IssueInstant more than a day old")

    def _check_in_response_to(self, in_response_to: str | None) -> None:
        if in_response_to:
            # Even when IdP-initiated sign-in is allowed, an answer to a request this browser did not
            # send is refused: it is how a login started elsewhere is injected (login CSRF).
            if in_response_to not in self.outstanding_requests:
                raise errors.UnknownInResponseTo(detail="InResponseTo not among this session's requests")
        elif not self.settings.allow_idp_initiated:
            raise errors.UnsolicitedResponse(detail="no InResponseTo and IdP-initiated sign-in not allowed")

    # 4. the assertion -------------------------------------------------------------------------------

    def _check_assertion(self, assertion: Element, root: Element, now: float) -> None:
        self._check_no_comments(assertion)
        self._check_assertion_issuer(assertion)
        self._check_conditions(assertion, now)
        self._check_subject_confirmation(assertion, root, now)
        self._check_authn_statement(assertion, now)

    def _check_no_comments(self, assertion: Element) -> None:
        # Exclusive c14n drops comments, so `user@evil.com<!---->.attacker.com` keeps a valid signature
        # while parsers that read the first text node see `user@evil.com`. No IdP writes comments in an
        # assertion: refuse them rather than rely on every reader joining the text.
        for element in assertion.iter():
            if not isinstance(element.tag, str):
                raise errors.UnsafeXml(detail="a comment or processing instruction inside the assertion")

    def _check_assertion_issuer(self, assertion: Element) -> None:
        issuer = _text(assertion.find(_q(NS_SAML, "Issuer")))
        if issuer != self.idp_entity_id:
            raise errors.UnknownIssuer(detail=f"Assertion Issuer {issuer!r}")

    def _check_conditions(self, assertion: Element, now: float) -> None:
        conditions = assertion.find(_q(NS_SAML, "Conditions"))
        if conditions is None:
            raise errors.MissingConditions(detail="no Conditions")
        skew = self.settings.clock_skew
        not_before = _timestamp(conditions.get("NotBefore"), "Conditions NotBefore")
        not_on_or_after = _timestamp(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
        if not_before is not None and now + skew < not_before:
            raise errors.NotYetValid(detail="Conditions NotBefore is in the future")
        if not_on_or_after is not None and now - skew >= not_on_or_after:
            raise errors.Expired(detail="Conditions NotOnOrAfter has passed")
        # SAML Core 2.5.1.4: every AudienceRestriction must name us (each one is a separate condition).
        restrictions = _children(conditions, _q(NS_SAML, "AudienceRestriction"))
        if not restrictions:
            raise errors.WrongAudience(detail="no AudienceRestriction")
        for restriction in restrictions:
            audiences = [_text(a) for a in _children(restriction, _q(NS_SAML, "Audience"))]
            if self.settings.sp_entity_id not in audiences:
                raise errors.WrongAudience(
                    detail=f"Audience {audiences!r}, SP entity ID {self.settings.sp_entity_id!r}"
                )

    def _check_subject_confirmation(self, assertion: Element, root: Element, now: float) -> None:
        subject = assertion.find(_q(NS_SAML, "Subject"))
        if subject is None:
            raise errors.MalformedXml(detail="assertion without Subject")
        if subject.find(_q(NS_SAML, "NameID")) is None and subject.find(_q(NS_SAML, "EncryptedID")) is None:
            raise errors.MalformedXml(detail="Subject without NameID")
        bearer = [sc for sc in _children(subject, _q(NS_SAML, "SubjectConfirmation")) if sc.get("Method") == CM_BEARER]
        if not bearer:
            raise errors.SubjectConfirmationError(detail="no bearer SubjectConfirmation")
        # SAML Profiles 4.1.4.2: at least one bearer confirmation with our Recipient and a NotOnOrAfter
        # still ahead; its InResponseTo, if any, is the request we sent.
        datas = [sc.find(_q(NS_SAML, "SubjectConfirmationData")) for sc in bearer]
        datas = [d for d in datas if d is not None]
        ours = [d for d in datas if d.get("Recipient") == self.settings.acs_url]
        if not ours:
            recipients = [d.get("Recipient") for d in datas]
            raise errors.WrongRecipient(detail=f"Recipient {recipients!r}, ACS {self.settings.acs_url!r}")
        skew = self.settings.clock_skew
        response_irt = root.get("InResponseTo")
        for data in ours:
            not_on_or_after = _timestamp(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
            if not_on_or_after is None:
                raise errors.SubjectConfirmationError(detail="bearer confirmation without NotOnOrAfter")
            not_before = _timestamp(data.get("NotBefore"), "SubjectConfirmationData NotBefore")
            if now - skew >= not_on_or_after:
                raise errors.Expired(detail="SubjectConfirmationData NotOnOrAfter has passed")
            if not_before is not None and now + skew < not_before:
                raise errors.NotYetValid(detail="SubjectConfirmationData NotBefore is in the future")
            data_irt = data.get("InResponseTo")
            # SAML Profiles 4.1.4.2: both carry the request's ID. The Response may be unsigned while the
            # assertion is signed: a Response-level InResponseTo that disagrees is not trusted.
            if data_irt != response_irt:
                raise errors.UnknownInResponseTo(detail="InResponseTo differs between Response and assertion")

    def _check_authn_statement(self, assertion: Element, now: float) -> None:
        statements = _children(assertion, _q(NS_SAML, "AuthnStatement"))
        if len(statements) != 1:
            raise errors.MalformedXml(detail=f"{len(statements)} AuthnStatements (one expected)")
        _timestamp(statements[0].get("AuthnInstant"), "AuthnInstant")
        session_end = _timestamp(statements[0].get("SessionNotOnOrAfter"), "SessionNotOnOrAfter")
        if session_end is not None and now - self.settings.clock_skew >= session_end:
            raise errors.Expired(detail="AuthnStatement SessionNotOnOrAfter has passed")

    # 5. pysaml2 -------------------------------------------------------------------------------------

    def _verify_with_pysaml2(self, xml: bytes, root: Element):
        client = sp_client(self.config)
        irt = root.get("InResponseTo")
        # pysaml2's exceptions carry the whole SAML document: they are not chained (`from None`) so a logged
        # traceback never holds the assertion; `detail` says what failed.
        try:
            # binding=None: pysaml2 takes the XML as is, so it reads the very bytes checked above.
            authn = client.parse_authn_request_response(xml, None, outstanding=self.outstanding_requests)
        except errors.SamlResponseError:
            raise
        except MissingKey:
            raise errors.UnknownIssuer(detail="no key in this connection's metadata for the issuer") from None
        except (DecryptError, DecryptionFailed) as exc:
            raise errors.EncryptedAssertionError(detail=type(exc).__name__) from None
        except (SignatureError, SigverError, IncorrectlySigned) as exc:
            message = str(exc)
            if "Invalid document format" in message:
                raise errors.MalformedXml(
                    "The SAML response does not follow the SAML 2.0 schema. Check the IdP's SAML settings "
                    "(attribute names, NameID), or contact the IdP's vendor.",
                    detail="pysaml2 schema validation failed",
                ) from None
            if "Neither the response nor the assertions are signed" in message or "missing" in message.lower():
                raise errors.SignatureMissing(detail="pysaml2: no signature") from None
            raise errors.SignatureInvalid(detail="pysaml2: no configured key verifies the signature") from None
        except StatusError as exc:
            raise errors.IdpStatusError(detail=type(exc).__name__) from None
        except ResponseLifetimeExceed:
            raise errors.Expired(detail="pysaml2: too old") from None
        except ToEarly:
            raise errors.NotYetValid(detail="pysaml2: not yet valid") from None
        except Pysaml2Unsolicited:
            if irt:
                raise errors.UnknownInResponseTo(detail="pysaml2: unknown InResponseTo") from None
            raise errors.UnsolicitedResponse(detail="pysaml2: unsolicited") from None
        except Exception as exc:
            message = str(exc)
            if "AudienceRestrictions" in message:
                raise errors.WrongAudience(detail="pysaml2: audience") from None
            raise errors.SamlResponseError(detail=f"pysaml2: {type(exc).__name__}") from None
        if authn is None:
            raise errors.SamlResponseError(detail="pysaml2 refused the response without a reason")
        return authn

    def _verify_signatures(self, xml: bytes, assertion: Element) -> None:
        """A message with nothing encrypted: each Signature it carries (on the Response, on the assertion;
        the structure checks allowed no other) is verified here with this connection's IdP certificates,
        as pysaml2's `_check_signature` would: the signed element valid against the SAML 2.0 schema, then
        the signature verified by libxmlsec1 on the document's own tree (`_verify_enveloped_signature`)."""
        certificates = self._idp_signing_certificates()
        if not certificates:
            raise errors.UnknownIssuer(detail="no key in this connection's metadata for the issuer")
        try:
            document = lxml_etree.fromstring(xml, _lxml_parser())
        except lxml_etree.XMLSyntaxError:
            raise errors.MalformedXml(detail="not well-formed for the verifier") from None
        if document.getroottree().docinfo.doctype or document.tag != RESPONSE:
            raise errors.UnsafeXml(detail="the verifier reads another document")
        signed_assertions = [a for a in document if a.tag == ASSERTION]
        if len(signed_assertions) != 1 or signed_assertions[0].get("ID") != _element_id(assertion):
            raise errors.SignatureWrapping(detail="the verifier reads another assertion")
        # The whole Response, signed parts and unsigned envelope alike (pysaml2 validates each signed
        # element against the schema and the rest of its object model by type).
        try:
            schema.validate_element(document)
        except XMLSchemaError:
            raise errors.MalformedXml(
                "The SAML response does not follow the SAML 2.0 schema. Check the IdP's SAML settings "
                "(attribute names, NameID), or contact the IdP's vendor.",
                detail="schema validation failed",
            ) from None
        elements = ((document, f"{NS_SAMLP}:Response"), (signed_assertions[0], f"{NS_SAML}:Assertion"))
        for element, node_name in elements:
            if element.find(SIGNATURE) is None:
                continue
            if not any(self._verifies(document, node_name, element, key) for key in certificates):
                raise errors.SignatureInvalid(detail="no configured key verifies the signature")

    @staticmethod
    def _verifies(document, node_name: str, element, key) -> bool:
        try:
            _verify_enveloped_signature(document, node_name, element.get("ID", ""), key, element)
        except XmlsecError:
            return False
        return True

    def _idp_signing_certificates(self) -> list:
        """The IdP's signing keys from this connection's metadata only (what pysaml2 trusts:
        only_use_keys_in_metadata), as libxmlsec1 keys."""
        try:
            certs = self.config.metadata.certs(self.idp_entity_id, "any", "signing")
        except KeyError:
            return []
        keys = []
        for _name, cert in certs:
            pem = cert if "BEGIN CERTIFICATE" in cert else pem_format(cert)
            pem = pem.encode() if isinstance(pem, str) else pem
            try:
                keys.append(xmlsec.Key.from_memory(pem, _C.KeyDataFormatCertPem))
            except xmlsec.Error:
                logger.warning("SAML connection %s: unusable IdP certificate in metadata", self.settings.idp_id)
        return keys

    def _check_verified_is_used(self, authn, root: Element, assertion: Element) -> None:
        """pysaml2 verified the signatures on the Response and assertion it parsed; the values returned
        here come from our tree. Both must be the same elements."""
        if authn.response is None or authn.response.id != root.get("ID"):
            raise errors.SignatureWrapping(detail="pysaml2 verified another Response")
        if len(authn.assertions) != 1 or authn.assertion is None or authn.assertion.id != _element_id(assertion):
            raise errors.SignatureWrapping(detail="pysaml2 verified another assertion")
        subject = assertion.find(_q(NS_SAML, "Subject"))
        name_id = subject.find(_q(NS_SAML, "NameID")) if subject is not None else None
        if name_id is not None and (authn.name_id is None or (authn.name_id.text or "").strip() != _text(name_id)):
            raise errors.SignatureWrapping(detail="pysaml2 read another NameID")
        response_signed = root.find(SIGNATURE) is not None
        assertion_signed = assertion.find(SIGNATURE) is not None
        if not (response_signed or assertion_signed):
            raise errors.SignatureMissing(detail="neither the Response nor the Assertion is signed")

    # 6. result and replay ---------------------------------------------------------------------------

    def _login(self, root: Element, assertion: Element, authn) -> SamlLogin:
        subject = assertion.find(_q(NS_SAML, "Subject"))
        name_id_el = subject.find(_q(NS_SAML, "NameID"))
        if name_id_el is not None:
            name_id, name_id_format = _text(name_id_el), name_id_el.get("Format", "")
        else:  # EncryptedID: pysaml2 decrypted it
            name_id, name_id_format = (authn.name_id.text or "").strip(), authn.name_id.format or ""
        if not name_id:
            raise errors.MalformedXml(detail="empty NameID")

        attributes: dict[str, list[str]] = {}
        for statement in _children(assertion, _q(NS_SAML, "AttributeStatement")):
            for attribute in _children(statement, _q(NS_SAML, "Attribute")):
                values = attributes.setdefault(attribute.get("Name", ""), [])
                values.extend(_text(v) for v in _children(attribute, _q(NS_SAML, "AttributeValue")))

        conditions = assertion.find(_q(NS_SAML, "Conditions"))
        ends = [_timestamp(conditions.get("NotOnOrAfter"), "NotOnOrAfter")]
        for sc in _children(subject, _q(NS_SAML, "SubjectConfirmation")):
            data = sc.find(_q(NS_SAML, "SubjectConfirmationData"))
            if sc.get("Method") == CM_BEARER and data is not None and data.get("Recipient") == self.settings.acs_url:
                ends.append(_timestamp(data.get("NotOnOrAfter"), "NotOnOrAfter"))
        ends = [end for end in ends if end is not None]
        statement = _children(assertion, _q(NS_SAML, "AuthnStatement"))[0]
        in_response_to = root.get("InResponseTo") or ""
        return SamlLogin(
            name_id=name_id,
            name_id_format=name_id_format,
            attributes=attributes,
            session_index=statement.get("SessionIndex", ""),
            issuer=self.idp_entity_id,
            in_response_to=in_response_to,
            assertion_id=_element_id(assertion),
            not_on_or_after=_datetime(min(ends)),
            authn_instant=_datetime(_timestamp(statement.get("AuthnInstant"), "AuthnInstant")),
            session_not_on_or_after=_datetime(_timestamp(statement.get("SessionNotOnOrAfter"), "SessionNotOnOrAfter")),
            came_from=str(self.outstanding_requests.get(in_response_to, "")) if in_response_to else "",
            response_signed=root.find(SIGNATURE) is not None,
            assertion_signed=assertion.find(SIGNATURE) is not None,
            valid_until=_datetime(max(ends)),
        )

    def _check_replay(self, login: SamlLogin) -> None:
        # Last, once everything verified: a forged message must not burn a genuine assertion's ID.
        first_use = replay.claim_assertion_id(
            idp_id=self.settings.idp_id,
            issuer=login.issuer,
            assertion_id=login.assertion_id,
            not_on_or_after=login.valid_until.timestamp(),
            clock_skew=self.settings.clock_skew,
        )
        if not first_use:
            raise errors.Replayed(detail="assertion ID already used")
