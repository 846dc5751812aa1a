"""The processor verifies the signatures of a message with nothing encrypted itself (libxmlsec1 on the
message's own tree, keys from the connection's metadata, the SAML 2.0 schema by libxml2), without
pysaml2's object model; encrypted assertions and NameIDs still go through pysaml2. The attack table of
test_response_checks.py runs through both paths; here: which path a message takes, and the limits of
SAML Core 5.4 on the Reference that pysaml2 enforced and the processor now enforces itself."""

import pytest
import xmlsec
from lxml import etree
from saml2.client import Saml2Client

from connections import exceptions as errors
from connections.saml.response import SamlResponseProcessor
from tests.connections.saml.idp import NAME_ID, TestIdp, post, sp_settings

OUTSTANDING = {"id-request-1": "/after-login"}
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
C = xmlsec.constants


def parse(message: str, **settings):
    return SamlResponseProcessor(sp_settings(**settings), outstanding_requests=dict(OUTSTANDING)).parse(message)


@pytest.fixture
def pysaml2_calls(monkeypatch):
    calls = []
    original = Saml2Client.parse_authn_request_response

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Saml2Client, "parse_authn_request_response", counting)
    return calls


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(False, True), (True, False), (True, True)])
def test_a_message_with_nothing_encrypted_is_verified_without_pysaml2(
    idp_a, pysaml2_calls, sign_response, sign_assertion
):
    login = parse(post(idp_a.response(sign_response=sign_response, sign_assertion=sign_assertion)))

    assert login.name_id == NAME_ID
    assert (login.response_signed, login.assertion_signed) == (sign_response, sign_assertion)
    assert pysaml2_calls == []


def test_encrypted_assertions_and_name_ids_still_go_through_pysaml2(idp_a, pysaml2_calls):
    assert parse(post(idp_a.response(encrypt=True))).name_id == NAME_ID
    encrypted_id = idp_a.sign(idp_a.encrypt_name_id(idp_a.build()))
    assert parse(post(encrypted_id)).name_id == NAME_ID
    assert len(pysaml2_calls) == 2


def test_a_signature_by_another_key_than_the_metadatas_is_refused(idp_a):
    idp_b = TestIdp("b")
    with pytest.raises(errors.SignatureInvalid):
        parse(post(idp_a.response(signer=idp_b)))
    with pytest.raises(errors.SignatureInvalid):  # a valid assertion signature does not cover a forged Response one
        parse(post(idp_a.response(sign_response=True, signer=idp_b)))


def _signed_with_transforms(idp: TestIdp, transforms, *, c14n=C.TransformExclC14N) -> bytes:
    """The IdP's assertion signed by its own key with python-xmlsec, with the Reference transforms given."""
    root = etree.fromstring(str(idp.build()).encode())
    assertion = root.find(f"{{{NS_SAML}}}Assertion")
    signature = xmlsec.template.create(assertion, c14n, C.TransformRsaSha256)
    assertion.find(f"{{{NS_SAML}}}Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(signature, C.TransformSha256, uri=f"#{assertion.get('ID')}")
    for transform in transforms:
        xmlsec.template.add_transform(reference, transform)
    context = xmlsec.SignatureContext()
    context.register_id(assertion, "ID")
    context.key = xmlsec.Key.from_file(idp.key_file, C.KeyDataFormatPem)
    context.sign(signature)
    return etree.tostring(root)


def test_the_signer_of_these_tests_makes_acceptable_signatures(idp_a, pysaml2_calls):
    assert parse(post(_signed_with_transforms(idp_a, [C.TransformEnveloped, C.TransformExclC14N]))).name_id
    assert parse(post(_signed_with_transforms(idp_a, [C.TransformEnveloped]))).name_id
    assert pysaml2_calls == []


@pytest.mark.parametrize(
    "transforms",
    [
        [C.TransformEnveloped, C.TransformExclC14N, C.TransformExclC14N],  # more than two
        [C.TransformExclC14N],  # no enveloped-signature transform
        [C.TransformEnveloped, C.TransformInclC14N],  # inclusive c14n
    ],
    ids=["three-transforms", "not-enveloped", "inclusive-c14n"],
)
def test_reference_transforms_outside_saml_core_5_4_are_refused(idp_a, transforms):
    with pytest.raises(errors.SignatureInvalid):
        parse(post(_signed_with_transforms(idp_a, transforms)))


def test_inclusive_canonicalization_of_signed_info_is_refused(idp_a):
    with pytest.raises(errors.SignatureInvalid):
        parse(post(_signed_with_transforms(idp_a, [C.TransformEnveloped], c14n=C.TransformInclC14N)))
