"""pysaml2's schema check of signed elements, done by libxml2 (connections/saml/schema.py).

The messages below are genuinely signed by the test IdP *after* being made schema-invalid, so the
signature verifies and the processor's own checks pass: only the schema validation can refuse them.
Each refusal test has its control, the same message accepted when pysaml2's validation is a no-op, so
these tests fail if the validator stops validating.
"""

import base64
import re
from pathlib import Path

import pytest
import saml2.sigver
import saml2.xml.schema
from lxml import etree
from saml2 import samlp

from connections import exceptions as errors
from connections.saml import schema
from connections.saml.response import SamlResponseProcessor
from tests.connections.saml.idp import TestIdp, post, sp_settings

OUTSTANDING = {"id-request-1": "/after-login"}


def parse(message: str):
    return SamlResponseProcessor(sp_settings(), outstanding_requests=dict(OUTSTANDING)).parse(message)


def signed_after(idp: TestIdp, edit, **sign) -> str:
    """A Response built by the IdP, edited as XML, then signed: the edit is covered by the signature."""
    xml = str(idp.build())
    edited = edit(xml)
    assert edited != xml, "the edit did not apply"
    return idp.sign(samlp.response_from_string(edited), **sign)


def unknown_assertion_element(xml: str) -> str:
    prefix = re.search(r"<(\w+):Conditions", xml).group(1)
    return xml.replace(f"<{prefix}:Conditions", f"<{prefix}:Bogus>x</{prefix}:Bogus><{prefix}:Conditions", 1)


def undeclared_name_id_attribute(xml: str) -> str:
    return re.sub(r"<(\w+):NameID ", r'<\1:NameID Role="admin" ', xml, count=1)


def unknown_response_element(xml: str) -> str:
    prefix = re.search(r"<(\w+):Status>", xml).group(1)
    return xml.replace(f"<{prefix}:Status>", f"<{prefix}:Bogus /><{prefix}:Status>", 1)


INVALID = [
    (unknown_assertion_element, {}),
    (undeclared_name_id_attribute, {}),
    (undeclared_name_id_attribute, {"sign_response": True, "sign_assertion": False}),
    (unknown_response_element, {"sign_response": True, "sign_assertion": False}),
]
INVALID_IDS = [
    "unknown-saml-element",
    "undeclared-attribute",
    "undeclared-attribute-response-signed",
    "unknown-samlp-element-response-signed",
]


def test_the_gateway_validates_with_libxml2():
    assert schema.installed()
    assert saml2.sigver.validate_doc_with_schema is schema.validate


@pytest.mark.parametrize(("edit", "sign"), INVALID, ids=INVALID_IDS)
def test_a_signed_but_schema_invalid_response_is_refused(idp_a, edit, sign):
    with pytest.raises(errors.MalformedXml) as refused:
        parse(post(signed_after(idp_a, edit, **sign)))

    assert refused.value.detail == "schema validation failed"
    assert "SAML 2.0 schema" in str(refused.value)


@pytest.mark.parametrize(("edit", "sign"), INVALID, ids=INVALID_IDS)
def test_only_the_schema_validation_refuses_them(idp_a, edit, sign, monkeypatch):
    # Both paths validate through validate_element: the processor's own (nothing encrypted) and pysaml2's.
    monkeypatch.setattr(schema, "validate_element", lambda element: None)

    assert parse(post(signed_after(idp_a, edit, **sign))).name_id


@pytest.mark.parametrize(("edit", "sign"), INVALID, ids=INVALID_IDS)
def test_pysaml2s_path_refuses_them_too(idp_a, edit, sign):
    """Through pysaml2's `_check_signature` (the path of encrypted assertions), called directly."""
    from connections.saml.config import build_sp_config
    from connections.saml.response import sp_client

    client = sp_client(build_sp_config(sp_settings()))
    with pytest.raises(saml2.sigver.SignatureError, match="Invalid document format"):
        client.parse_authn_request_response(signed_after(idp_a, edit, **sign), None, outstanding=dict(OUTSTANDING))


@pytest.mark.parametrize(("edit", "sign"), INVALID, ids=INVALID_IDS)
def test_pysaml2s_own_validator_refuses_the_same_elements(idp_a, edit, sign):
    """Same verdicts as the xmlschema validator it replaces, on the elements pysaml2 validates."""
    response = samlp.response_from_string(signed_after(idp_a, edit, **sign))
    element = str(response) if sign.get("sign_response") else str(response.assertion[0])
    for validate in (saml2.xml.schema.validate, schema.validate):
        with pytest.raises(saml2.xml.schema.XMLSchemaError):
            validate(element)


def test_valid_elements_pass_both_validators(idp_a):
    response = samlp.response_from_string(idp_a.response(sign_response=True))
    for element in (str(response), str(response.assertion[0])):
        saml2.xml.schema.validate(element)
        schema.validate(element)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "<<<",
        '<foo xmlns="urn:example"/>',
        '<!DOCTYPE r [<!ENTITY e "x">]><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">&e;'
        "</saml:Issuer>",
        '<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Bogus="1">x</saml:Issuer>',
        b"\xff\xfe<",
        None,
    ],
    ids=["empty", "not-xml", "foreign-root", "dtd-entity", "undeclared-attribute", "bad-bytes", "none"],
)
def test_anything_but_a_valid_saml_element_fails_closed(document):
    with pytest.raises(saml2.xml.schema.XMLSchemaError):
        schema.validate(document)


def test_schema_imports_never_leave_pysaml2s_schema_directory(tmp_path):
    resolver = schema._LocalSchemas()
    outside = tmp_path / "evil.xsd"
    outside.write_text('<schema xmlns="http://www.w3.org/2001/XMLSchema"/>')
    for url in (
        "http://www.w3.org/2001/XMLSchema.dtd",
        "https://attacker.example/x.xsd",
        str(outside),
        f"file://{outside}",
        f"{schema.SCHEMA_DIR}/../../__init__.py",
    ):
        with pytest.raises(saml2.xml.schema.XMLSchemaError):
            resolver.resolve(url, None, None)


def test_the_schema_set_is_pysaml2s_and_needs_no_network():
    compiled = schema.build_schema()
    issuer = etree.fromstring(b'<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:Issuer>')
    assert compiled.validate(issuer)
    # xmldsig and xmlenc come from their W3C URLs in the SAML schemas: answered with the local copies.
    signature = etree.fromstring(b'<ds:KeyName xmlns:ds="http://www.w3.org/2000/09/xmldsig#">k</ds:KeyName>')
    assert compiled.validate(signature)
    cipher = etree.fromstring(
        b'<e:EncryptedData xmlns:e="http://www.w3.org/2001/04/xmlenc#"><e:CipherData><e:CipherValue>AA=='
        b"</e:CipherValue></e:CipherData></e:EncryptedData>"
    )
    assert compiled.validate(cipher)


# --- the same verdicts as pysaml2's validator, on real IdPs' responses and mutations of them -------------

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "idp-samples").glob("*/*_response_*"))


def _root_attribute(element: str, name: str, value: str) -> str:
    return re.sub(rf'^(<[^>]*?\s{name}=")[^"]*"', rf"\g<1>{value}\"", element, count=1)


def _unknown_child(element: str) -> str:
    prefix = re.match(r"<(\w+:)?", element).group(1) or ""
    issuer_end = re.search(r"</(\w+:)?Issuer>", element)
    return element[: issuer_end.end()] + f"<{prefix}Bogus/>" + element[issuer_end.end() :]


MUTATIONS = {
    "as sent": lambda element: element,
    "IssueInstant not a dateTime": lambda element: _root_attribute(element, "IssueInstant", "yesterday"),
    "ID not an NCName": lambda element: _root_attribute(element, "ID", "1abc"),
    "unknown child in the SAML namespace": _unknown_child,
    "undeclared attribute": lambda element: re.sub(r"^(<[\w:]+)", r'\1 Evil="1"', element, count=1),
}


def _verdict(validate, document: str) -> str:
    try:
        validate(document)
    except saml2.xml.schema.XMLSchemaError:
        return "refused"
    return "valid"


@pytest.mark.parametrize("sample", SAMPLES, ids=[path.name for path in SAMPLES])
def test_libxml2_and_pysaml2s_validator_agree_on_real_responses(sample):
    data = sample.read_bytes()
    if sample.suffix == ".b64":
        data = base64.b64decode(data)
    response = samlp.response_from_string(data.decode())
    # What pysaml2 validates: its own serialization of the Response and of each plaintext assertion.
    elements = [str(response)] + [str(assertion) for assertion in response.assertion]
    refused = 0
    for element in elements:
        for name, mutate in MUTATIONS.items():
            document = mutate(element)
            ours = _verdict(schema.validate, document)
            assert ours == _verdict(saml2.xml.schema.validate, document), (sample.name, name)
            refused += ours == "refused"
    assert refused >= 4 * len(elements)  # every mutation but "as sent" is invalid
