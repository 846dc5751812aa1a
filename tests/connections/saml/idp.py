"""A test identity provider built on pysaml2's own IdP (`saml2.server.Server`), and XML tampering helpers.

`TestIdp("a").response(...)` returns a signed SAML Response (XML text) the way a real IdP makes it;
keyword arguments change what goes into it *before* signing (audience, recipient, times, algorithms,
signing key...), so each attack table row is a genuinely signed message. The helpers at the bottom
change a message *after* signing, the way an attacker in the browser would.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import xmlsec
from lxml import etree as lxml_etree
from saml2 import BINDING_HTTP_POST, md, saml, samlp
from saml2 import xmldsig as ds
from saml2.config import IdPConfig
from saml2.s_utils import error_status_factory
from saml2.server import Server
from saml2.sigver import pre_encrypt_assertion, pre_encryption_part, pre_signature_part, signed_instance_factory

from connections.saml.config import SamlSettings, certificate_base64

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "saml"

SP_ENTITY_ID = "https://sso.example.test/saml/acme/metadata"
ACS_URL = "https://sso.example.test/saml/acme/acs"
NAME_ID = "jane.doe@acme.test"
ATTRIBUTES = {
    "email": ["jane.doe@acme.test"],
    "firstName": ["Jane"],
    "lastName": ["Doe"],
    "groups": ["admins", "staff"],
}

RSA_SHA1 = ds.SIG_RSA_SHA1
SHA1 = ds.DIGEST_SHA1
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def sp_settings(*, idp: TestIdp | None = None, **overrides) -> SamlSettings:
    """The SP settings of a connection to `idp` (by entity ID, SSO URL and certificate)."""
    idp = idp or TestIdp("a")
    values = dict(
        idp_id="acme-idp",
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        sp_private_key_pem=read("sp.key.pem"),
        sp_certificate_pem=read("sp.crt.pem"),
        idp_entity_id=idp.entity_id,
        idp_sso_url=idp.sso_url,
        idp_certificates=(idp.cert_pem,),
    )
    values.update(overrides)
    return SamlSettings(**values)


def _key_info(pem: str) -> ds.KeyInfo:
    return ds.KeyInfo(x509_data=[ds.X509Data(x509_certificate=ds.X509Certificate(text=certificate_base64(pem)))])


def _sp_metadata() -> str:
    cert = read("sp.crt.pem")
    descriptor = md.SPSSODescriptor(
        protocol_support_enumeration=samlp.NAMESPACE,
        key_descriptor=[md.KeyDescriptor(use=use, key_info=_key_info(cert)) for use in ("signing", "encryption")],
        assertion_consumer_service=[
            md.AssertionConsumerService(binding=BINDING_HTTP_POST, location=ACS_URL, index="0"),
        ],
    )
    return str(md.EntityDescriptor(entity_id=SP_ENTITY_ID, spsso_descriptor=[descriptor]))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TestIdp:
    """IdP "a" or "b": its own key pair and entity ID."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "a"):
        self.name = name
        self.entity_id = f"https://idp-{name}.example.test/metadata"
        self.sso_url = f"https://idp-{name}.example.test/sso"
        self.key_file = str(FIXTURES / f"idp_{name}.key.pem")
        self.cert_file = str(FIXTURES / f"idp_{name}.crt.pem")
        self.cert_pem = read(f"idp_{name}.crt.pem")

    @cached_property
    def server(self) -> Server:
        config = IdPConfig().load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": shutil.which("xmlsec1"),
                "key_file": self.key_file,
                "cert_file": self.cert_file,
                "metadata": {"inline": [_sp_metadata()]},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_POST)]},
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": saml.NAME_FORMAT_UNSPECIFIED,
                            }
                        },
                    }
                },
            }
        )
        return Server(config=config)

    def metadata(self) -> str:
        descriptor = md.IDPSSODescriptor(
            protocol_support_enumeration=samlp.NAMESPACE,
            key_descriptor=[md.KeyDescriptor(use="signing", key_info=_key_info(self.cert_pem))],
            single_sign_on_service=[md.SingleSignOnService(binding=BINDING_HTTP_POST, location=self.sso_url)],
        )
        return str(md.EntityDescriptor(entity_id=self.entity_id, idpsso_descriptor=[descriptor]))

    # --- building ----------------------------------------------------------------------------------

    def build(
        self,
        *,
        in_response_to: str | None = "id-request-1",
        name_id: str = NAME_ID,
        attributes: dict | None = None,
        audience: str = SP_ENTITY_ID,
        recipient: str = ACS_URL,
        destination: str | None = ACS_URL,
        issuer: str | None = None,
        now: datetime | None = None,
        not_before: timedelta = timedelta(minutes=-1),
        not_on_or_after: timedelta = timedelta(minutes=5),
        conditions: bool = True,
        bearer: bool = True,
        status: samlp.Status | None = None,
    ) -> samlp.Response:
        """An unsigned Response object; each argument is one thing an attack or a misconfiguration changes."""
        now = now or datetime.now(UTC)
        response = self.server.create_authn_response(
            attributes if attributes is not None else ATTRIBUTES,
            in_response_to,
            ACS_URL,
            SP_ENTITY_ID,
            name_id=saml.NameID(format=saml.NAMEID_FORMAT_EMAILADDRESS, text=name_id),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_instant": int(now.timestamp())},
            sign_response=False,
            sign_assertion=False,
        )
        if isinstance(response, str):
            response = samlp.response_from_string(response)
        response.destination = destination
        response.issue_instant = _iso(now)
        assertion = response.assertion[0] if isinstance(response.assertion, list) else response.assertion
        response.assertion = [assertion]
        assertion.issue_instant = _iso(now)
        if issuer:
            response.issuer.text = issuer
            assertion.issuer.text = issuer
        if status is not None:
            response.status = status
            response.assertion = []
            return response
        cond = assertion.conditions
        cond.not_before = _iso(now + not_before)
        cond.not_on_or_after = _iso(now + not_on_or_after)
        cond.audience_restriction[0].audience[0].text = audience
        if not conditions:
            assertion.conditions = None
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            data.recipient = recipient
            data.not_on_or_after = _iso(now + not_on_or_after)
            data.not_before = None
            data.in_response_to = in_response_to
            if not bearer:
                confirmation.method = saml.SCM_SENDER_VOUCHES
        return response

    def encrypt_name_id(self, response: samlp.Response) -> samlp.Response:
        """Replace the NameID with an EncryptedID for the SP key (SAML Core 2.2.4), self-contained as an
        IdP writes it (its own namespace declaration inside the ciphertext)."""
        constants = xmlsec.constants
        root = lxml_etree.fromstring(str(response).encode())
        name_id = root.find(f".//{{{saml.NAMESPACE}}}NameID")
        standalone = lxml_etree.SubElement(
            lxml_etree.Element("wrapper"), f"{{{saml.NAMESPACE}}}NameID", nsmap={"saml": saml.NAMESPACE}
        )
        standalone.attrib.update(name_id.attrib)
        standalone.text = name_id.text
        standalone = lxml_etree.fromstring(lxml_etree.tostring(standalone))
        template = xmlsec.template.encrypted_data_create(
            standalone, constants.TransformAes256Cbc, type=constants.TypeEncElement, ns="xenc"
        )
        xmlsec.template.encrypted_data_ensure_cipher_value(template)
        key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="dsig")
        xmlsec.template.encrypted_data_ensure_cipher_value(
            xmlsec.template.add_encrypted_key(key_info, constants.TransformRsaOaep)
        )
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_file(str(FIXTURES / "sp.crt.pem"), constants.KeyDataFormatCertPem))
        context = xmlsec.EncryptionContext(manager)
        context.key = xmlsec.Key.generate(constants.KeyDataAes, 256, constants.KeyDataTypeSession)
        encrypted_id = lxml_etree.Element(f"{{{saml.NAMESPACE}}}EncryptedID")
        encrypted_id.append(context.encrypt_xml(template, standalone))
        name_id.addprevious(encrypted_id)
        name_id.getparent().remove(name_id)
        return samlp.response_from_string(lxml_etree.tostring(root).decode())

    def sign(
        self,
        response: samlp.Response,
        *,
        sign_response: bool = False,
        sign_assertion: bool = True,
        sign_alg: str = ds.SIG_RSA_SHA256,
        digest_alg: str = ds.DIGEST_SHA256,
        signer: TestIdp | None = None,
        encrypt: bool = False,
    ) -> str:
        """Sign (and encrypt the assertion, as pysaml2's IdP does: sign it, encrypt it, sign the Response)."""
        signer = signer or self
        sec = signer.server.sec
        cert = certificate_base64(signer.cert_pem)
        assertion = response.assertion[0] if response.assertion else None
        to_sign = []
        if assertion is not None and sign_assertion:
            assertion.signature = pre_signature_part(assertion.id, cert, 1, sign_alg=sign_alg, digest_alg=digest_alg)
            to_sign.append((f"{saml.NAMESPACE}:Assertion", assertion.id))
        if encrypt:
            # As pysaml2's Server does: wrap the assertion in EncryptedAssertion, sign it there, encrypt it.
            assertion_tag = assertion._to_element_tree().tag
            wrapped = pre_encrypt_assertion(response)
            xml = wrapped.get_xml_string_with_self_contained_assertion_within_encrypted_assertion(assertion_tag)
            if to_sign:
                xml = signed_instance_factory(xml, sec, to_sign)
            xml = self.encrypt_assertion(xml)
            if sign_response:
                parsed = samlp.response_from_string(xml)
                parsed.signature = pre_signature_part(parsed.id, cert, 2, sign_alg=sign_alg, digest_alg=digest_alg)
                xml = signed_instance_factory(parsed, sec, [(f"{samlp.NAMESPACE}:Response", parsed.id)])
            return xml
        if sign_response:
            response.signature = pre_signature_part(response.id, cert, 2, sign_alg=sign_alg, digest_alg=digest_alg)
            to_sign.append((f"{samlp.NAMESPACE}:Response", response.id))
        if not to_sign:
            return str(response)
        return signed_instance_factory(response, sec, to_sign)

    def encrypt_assertion(self, xml: str) -> str:
        sp_cert = read("sp.crt.pem")
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as cert_file:
            cert_file.write(sp_cert)
            cert_file.flush()
            template = pre_encryption_part(msg_enc=AES256_CBC, encrypt_cert=certificate_base64(sp_cert))
            return self.server.sec.encrypt_assertion(xml, cert_file.name, template, key_type="aes-256")

    def response(
        self,
        *,
        sign_response: bool = False,
        sign_assertion: bool = True,
        sign_alg: str = ds.SIG_RSA_SHA256,
        digest_alg: str = ds.DIGEST_SHA256,
        signer: TestIdp | None = None,
        encrypt: bool = False,
        **build,
    ) -> str:
        return self.sign(
            self.build(**build),
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
            signer=signer,
            encrypt=encrypt,
        )

    def error_response(
        self, *, message: str = "User is not assigned to this application", in_response_to: str | None = "id-request-1"
    ) -> str:
        status = error_status_factory((samlp.STATUS_REQUEST_DENIED, message))  # Responder / RequestDenied
        return str(self.build(status=status, in_response_to=in_response_to))


# --- transport ------------------------------------------------------------------------------------


def post(xml: str | bytes) -> str:
    """The SAMLResponse form value of the HTTP-POST binding."""
    data = xml.encode() if isinstance(xml, str) else xml
    return base64.b64encode(data).decode()


def redirect(xml: str | bytes) -> str:
    """The SAMLResponse query value of the HTTP-Redirect binding (raw DEFLATE, then base64)."""
    data = xml.encode() if isinstance(xml, str) else xml
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


# --- tampering after signing (string surgery: re-serializing would change the signed bytes) ---------

_ELEMENT = r"<(?P<prefix>[\w.-]+:)?{name}\b[^>]*?(?:/>|>.*?</(?P=prefix){name}>)"


def element_span(xml: str, local_name: str, occurrence: int = 0) -> tuple[int, int]:
    """Start and end offsets of the n-th `local_name` element (not nested in itself)."""
    matches = list(re.finditer(_ELEMENT.format(name=re.escape(local_name)), xml, re.S))
    match = matches[occurrence]
    return match.start(), match.end()


def element(xml: str, local_name: str, occurrence: int = 0) -> str:
    start, end = element_span(xml, local_name, occurrence)
    return xml[start:end]


def insert_after(xml: str, local_name: str, fragment: str) -> str:
    _, end = element_span(xml, local_name)
    return xml[:end] + fragment + xml[end:]


def insert_before(xml: str, local_name: str, fragment: str) -> str:
    start, _ = element_span(xml, local_name)
    return xml[:start] + fragment + xml[start:]


def remove(xml: str, local_name: str, occurrence: int = 0) -> str:
    start, end = element_span(xml, local_name, occurrence)
    return xml[:start] + xml[end:]


def replace_text(xml: str, old: str, new: str, count: int = 1) -> str:
    assert old in xml, f"{old!r} not in the message"
    return xml.replace(old, new, count)


def with_namespaces(fragment: str, xml: str) -> str:
    """Copy the root's namespace declarations onto a fragment moved out of its context."""
    root_tag = re.match(r"<[^>]+>", xml[xml.index("<", xml.index("?>") + 2 if xml.startswith("<?") else 0) :]).group(0)
    declarations = " ".join(re.findall(r'xmlns(?::[\w.-]+)?="[^"]*"', root_tag))
    return re.sub(r"^<([\w.:-]+)", lambda m: f"<{m.group(1)} {declarations}", fragment, count=1)


def hmac_sign(xml: str, node_id: str, node_name: str, key: bytes) -> str:
    """Sign with HMAC-SHA256 (xmlsec1 --hmackey), as an attacker who uses the IdP's public certificate
    as the HMAC key would."""
    with tempfile.TemporaryDirectory() as tmp:
        doc, key_file, out = Path(tmp, "doc.xml"), Path(tmp, "key.bin"), Path(tmp, "out.xml")
        doc.write_text(xml)
        key_file.write_bytes(key)
        subprocess.run(
            [
                shutil.which("xmlsec1"),
                "--sign",
                "--hmackey",
                str(key_file),
                "--id-attr:ID",
                node_name,
                "--node-id",
                node_id,
                "--output",
                str(out),
                str(doc),
            ],
            check=True,
            capture_output=True,
        )
        return out.read_text()
