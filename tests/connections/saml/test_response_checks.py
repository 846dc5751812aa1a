"""Every check of DESIGN.md "SAML: what the SP must check", against responses signed by a real pysaml2 IdP.

The attack table builds each message the way the attacker (or the misconfigured IdP) would: signed by
the IdP and then tampered with in the browser, or signed with the wrong settings. Each must be refused
with the error that names the cause.
"""

import base64
import logging
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2 import xmldsig as ds
from saml2.client import Saml2Client
from saml2.sigver import pre_signature_part

from connections import exceptions as errors
from connections.saml.config import build_sp_config
from connections.saml.response import MAX_MESSAGE_BYTES, SamlLogin, SamlResponseProcessor
from tests.connections.saml import idp as tamper
from tests.connections.saml.idp import NAME_ID, TestIdp, post, redirect, sp_settings

REQUEST_ID = "id-request-1"
OUTSTANDING = {REQUEST_ID: "/after-login"}


def parse(message, *, settings=None, outstanding=None, binding=BINDING_HTTP_POST) -> SamlLogin:
    processor = SamlResponseProcessor(
        settings or sp_settings(), outstanding_requests=OUTSTANDING if outstanding is None else outstanding
    )
    return processor.parse(message, binding)


# --- happy paths ----------------------------------------------------------------------------------


def test_sp_initiated_login_returns_the_subject_and_attributes(idp_a):
    login = parse(post(idp_a.response()))

    assert login.name_id == NAME_ID
    assert login.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert login.attributes == {
        "email": [NAME_ID],
        "firstName": ["Jane"],
        "lastName": ["Doe"],
        "groups": ["admins", "staff"],
    }
    assert login.issuer == idp_a.entity_id
    assert login.in_response_to == REQUEST_ID
    assert login.came_from == "/after-login"
    assert login.session_index
    assert login.assertion_id.startswith("id-")
    assert login.assertion_signed and not login.response_signed
    now = datetime.now(UTC)
    assert now < login.not_on_or_after <= now + timedelta(minutes=5)
    assert abs((login.authn_instant - now).total_seconds()) < 5


def test_idp_initiated_login_is_accepted_when_the_connection_allows_it(idp_a):
    login = parse(
        post(idp_a.response(in_response_to=None)), settings=sp_settings(allow_idp_initiated=True), outstanding={}
    )

    assert login.name_id == NAME_ID
    assert login.in_response_to == ""


def test_a_response_signed_only_on_the_response_is_accepted(idp_a):
    login = parse(post(idp_a.response(sign_response=True, sign_assertion=False)))

    assert login.name_id == NAME_ID
    assert login.response_signed and not login.assertion_signed


def test_a_response_signed_on_both_levels_is_accepted(idp_a):
    login = parse(
        post(idp_a.response(sign_response=True, sign_assertion=True)), settings=sp_settings(want_response_signed=True)
    )

    assert login.response_signed and login.assertion_signed


@pytest.mark.parametrize("sign_response", [False, True])
def test_an_encrypted_assertion_is_decrypted_with_the_sp_key(idp_a, sign_response):
    xml = idp_a.response(encrypt=True, sign_response=sign_response)
    assert "EncryptedAssertion" in xml and NAME_ID not in xml

    login = parse(post(xml))

    assert login.name_id == NAME_ID
    assert login.attributes["email"] == [NAME_ID]
    assert login.assertion_signed


def test_an_unsigned_response_without_destination_is_accepted_on_its_signed_assertion(idp_a):
    # PingFederate's habit: Destination only on signed Responses. The assertion's Recipient is checked.
    assert parse(post(idp_a.response(destination=None))).name_id == NAME_ID


def test_an_encrypted_name_id_is_decrypted_with_the_sp_key(idp_a):
    response = idp_a.encrypt_name_id(idp_a.build())
    message = idp_a.sign(response)
    assert "EncryptedID" in message and ":NameID" not in message

    login = parse(post(message))

    assert login.name_id == NAME_ID
    assert login.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def test_an_ecdsa_signing_idp_is_accepted():
    idp = TestIdp("ec")
    message = post(idp.response(sign_alg=ds.SIG_ECDSA_SHA256, sign_response=True))

    login = parse(message, settings=sp_settings(idp=idp))

    assert login.name_id == NAME_ID and login.response_signed and login.assertion_signed


def test_a_deflated_redirect_binding_response_is_accepted(idp_a):
    assert parse(redirect(idp_a.response()), binding=BINDING_HTTP_REDIRECT).name_id == NAME_ID


def test_an_assertion_just_past_not_on_or_after_is_accepted_within_the_clock_skew(idp_a):
    issued = datetime.now(UTC) - timedelta(minutes=5, seconds=30)
    login = parse(post(idp_a.response(now=issued)), settings=sp_settings(clock_skew=60))

    assert login.name_id == NAME_ID


# --- the attack and misconfiguration table ---------------------------------------------------------


def _unsigned_copy(assertion_xml: str, *, new_id: str, name_id: str = "attacker@evil.test") -> str:
    """The attacker's assertion: the signed one with its signature removed, another ID and subject."""
    evil = tamper.remove(assertion_xml, "Signature") if "Signature" in assertion_xml else assertion_xml
    evil = re.sub(r' ID="[^"]+"', f' ID="{new_id}"', evil, count=1)
    return evil.replace(f">{NAME_ID}<", f">{name_id}<", 1)


def wrap_evil_before(idp, idp_b):
    xml = idp.response()
    return post(tamper.insert_before(xml, "Assertion", _unsigned_copy(tamper.element(xml, "Assertion"), new_id="evil")))


def wrap_evil_after(idp, idp_b):
    xml = idp.response()
    return post(tamper.insert_after(xml, "Assertion", _unsigned_copy(tamper.element(xml, "Assertion"), new_id="evil")))


def wrap_signed_moved_to_extensions(idp, idp_b):
    # XSW: the signed assertion hides in samlp:Extensions, an attacker's assertion takes its place.
    xml = idp.response()
    signed = tamper.element(xml, "Assertion")
    evil = _unsigned_copy(signed, new_id="evil")
    xml = xml.replace(signed, evil)
    prefix = re.match(r"<\?xml[^>]*>\s*<(\w+):Response", xml).group(1)
    extensions = f"<{prefix}:Extensions>{signed}</{prefix}:Extensions>"
    return post(tamper.insert_after(xml, "Issuer", extensions))


def wrap_signed_moved_to_object(idp, idp_b):
    # XSW: the Response is signed; the signed original goes into ds:Object of that signature.
    xml = idp.response(sign_response=True, sign_assertion=True)
    signed = tamper.element(xml, "Assertion")
    evil = _unsigned_copy(signed, new_id="evil")
    xml = xml.replace(signed, evil)
    ds_prefix = re.search(r"<(\w+):Signature\b", xml).group(1)
    start, end = tamper.element_span(xml, "Signature")
    response_signature = xml[start:end]
    closing = f"</{ds_prefix}:Signature>"
    with_object = response_signature[: -len(closing)] + f"<{ds_prefix}:Object>{signed}</{ds_prefix}:Object>" + closing
    return post(xml[:start] + with_object + xml[end:])


def wrap_response_signed_plus_unsigned_assertion(idp, idp_b):
    xml = idp.response(sign_response=True, sign_assertion=False)
    return post(tamper.insert_after(xml, "Assertion", _unsigned_copy(tamper.element(xml, "Assertion"), new_id="evil")))


def wrap_evil_with_signed_in_advice(idp, idp_b):
    xml = idp.response()
    signed = tamper.element(xml, "Assertion")
    evil = _unsigned_copy(signed, new_id="evil")
    prefix = re.match(r"<(\w+):Assertion", signed).group(1)
    closing = f"</{prefix}:Assertion>"
    evil = evil[: -len(closing)] + f"<{prefix}:Advice>{signed}</{prefix}:Advice>" + closing
    return post(xml.replace(signed, evil))


def wrap_signature_pointing_elsewhere(idp, idp_b):
    # The assertion's valid signature is moved into an attacker's assertion with a different ID.
    xml = idp.response()
    signed = tamper.element(xml, "Assertion")
    signature = tamper.element(signed, "Signature")
    evil = _unsigned_copy(signed, new_id="evil")
    evil = tamper.insert_after(evil, "Issuer", signature)
    return post(xml.replace(signed, evil))


def duplicate_ids(idp, idp_b):
    xml = idp.response()
    response_id = re.search(r'Response [^>]*ID="([^"]+)"', xml).group(1)
    return post(tamper.insert_before(xml, "Status", f'<x:Thing xmlns:x="urn:x" xml:id="{response_id}"/>'))


def unsigned(idp, idp_b):
    return post(idp.response(sign_assertion=False))


def unsigned_encrypted(idp, idp_b):
    return post(idp.response(encrypt=True, sign_assertion=False))


def tampered_after_signing(idp, idp_b):
    return post(tamper.replace_text(idp.response(), f">{NAME_ID}<", ">ceo@acme.test<"))


def signed_by_another_key(idp, idp_b):
    # IdP A's issuer, IdP B's key, and IdP B's certificate in KeyInfo: the message's KeyInfo is not trusted.
    return post(idp.response(signer=idp_b))


def from_another_idp(idp, idp_b):
    return post(idp_b.response())


def sha1(idp, idp_b):
    return post(idp.response(sign_alg=ds.SIG_RSA_SHA1, digest_alg=ds.DIGEST_SHA1))


def sha1_digest_only(idp, idp_b):
    return post(idp.response(digest_alg=ds.DIGEST_SHA1))


def sha1_on_the_response(idp, idp_b):
    xml = idp.response(sign_response=True, sign_assertion=False, sign_alg=ds.SIG_RSA_SHA1, digest_alg=ds.DIGEST_SHA1)
    return post(xml)


def sha1_inside_the_encrypted_assertion(idp, idp_b):
    return post(idp.response(encrypt=True, sign_alg=ds.SIG_RSA_SHA1, digest_alg=ds.DIGEST_SHA1))


def hmac(idp, idp_b):
    # The classic key-confusion forgery: HMAC keyed with the IdP's public certificate.
    response = idp.build()
    assertion = response.assertion[0]
    assertion.signature = pre_signature_part(
        assertion.id, None, 1, sign_alg=tamper.HMAC_SHA256, digest_alg=ds.DIGEST_SHA256
    )
    key = base64.b64decode("".join(idp.cert_pem.strip().splitlines()[1:-1]))
    return post(tamper.hmac_sign(str(response), assertion.id, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", key))


def wrong_audience(idp, idp_b):
    return post(idp.response(audience="https://another-sp.example.test/metadata"))


def wrong_recipient(idp, idp_b):
    return post(idp.response(recipient="https://sso.example.test/saml/other-tenant/acs"))


def wrong_destination(idp, idp_b):
    return post(idp.response(destination="https://sso.example.test/saml/other-tenant/acs"))


def signed_response_without_destination(idp, idp_b):
    return post(idp.response(destination=None, sign_response=True))


def saml_1_version(idp, idp_b):
    return post(tamper.replace_text(idp.response(), 'Version="2.0"', 'Version="1.1"'))


def expired(idp, idp_b):
    return post(idp.response(now=datetime.now(UTC) - timedelta(minutes=10)))


def not_yet_valid(idp, idp_b):
    return post(idp.response(now=datetime.now(UTC) + timedelta(minutes=10)))


def assertion_not_yet_valid(idp, idp_b):
    return post(idp.response(not_before=timedelta(minutes=10)))


def no_conditions(idp, idp_b):
    return post(idp.response(conditions=False))


def no_bearer_confirmation(idp, idp_b):
    return post(idp.response(bearer=False))


def in_response_to_another_session(idp, idp_b):
    return post(idp.response(in_response_to="id-request-of-another-browser"))


def response_and_assertion_disagree_on_in_response_to(idp, idp_b):
    # The Response is unsigned: its InResponseTo is rewritten to this browser's request, the signed one is not.
    xml = idp.response(in_response_to="id-request-of-another-browser")
    return post(
        tamper.replace_text(xml, 'InResponseTo="id-request-of-another-browser"', f'InResponseTo="{REQUEST_ID}"')
    )


def unsolicited(idp, idp_b):
    return post(idp.response(in_response_to=None))


def xxe(idp, idp_b):
    xml = idp.response().split("?>", 1)[1]
    doctype = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return post(doctype + xml.replace(f">{NAME_ID}<", ">&xxe;<", 1))


def billion_laughs(idp, idp_b):
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    xml = idp.response().split("?>", 1)[1]
    return post(f"<!DOCTYPE r [{entities}]>" + xml.replace(f">{NAME_ID}<", ">&lol9;<", 1))


def comment_in_name_id(idp, idp_b):
    # The IdP vouches for jane.doe@acme.test.evil.test; a reader that stops at the comment sees
    # jane.doe@acme.test. Exclusive c14n drops comments, so the signature still verifies.
    xml = idp.response(name_id=f"{NAME_ID}.evil.test")
    return post(tamper.replace_text(xml, f">{NAME_ID}.evil.test<", f">{NAME_ID}<!---->.evil.test<"))


def comment_in_an_attribute_value(idp, idp_b):
    xml = idp.response()
    return post(tamper.replace_text(xml, ">Doe<", ">D<!-- -->oe<"))


def oversized(idp, idp_b):
    return "A" * (MAX_MESSAGE_BYTES + 4)


def idp_status_error(idp, idp_b):
    return post(idp.error_response())


def not_base64(idp, idp_b):
    return "this is not base64!"


def not_xml(idp, idp_b):
    return post("<not xml")


def not_a_response(idp, idp_b):
    return post(tamper.with_namespaces(tamper.element(idp.response(), "Assertion"), idp.response()))


ATTACKS = [
    # (case, processor settings, expected error)
    (wrap_evil_before, {}, errors.SignatureWrapping),
    (wrap_evil_after, {}, errors.SignatureWrapping),
    (wrap_signed_moved_to_extensions, {}, errors.SignatureWrapping),
    (wrap_signed_moved_to_object, {}, errors.SignatureWrapping),
    (wrap_response_signed_plus_unsigned_assertion, {}, errors.SignatureWrapping),
    (wrap_evil_with_signed_in_advice, {}, errors.SignatureWrapping),
    (wrap_signature_pointing_elsewhere, {}, errors.SignatureWrapping),
    (duplicate_ids, {}, errors.SignatureWrapping),
    (unsigned, {}, errors.SignatureMissing),
    (unsigned_encrypted, {}, errors.SignatureMissing),
    (tampered_after_signing, {}, errors.SignatureInvalid),
    (signed_by_another_key, {}, errors.SignatureInvalid),
    (from_another_idp, {}, errors.UnknownIssuer),
    (sha1, {}, errors.WeakAlgorithm),
    (sha1_digest_only, {}, errors.WeakAlgorithm),
    (sha1_on_the_response, {}, errors.WeakAlgorithm),
    (sha1_inside_the_encrypted_assertion, {}, errors.WeakAlgorithm),
    (hmac, {}, errors.WeakAlgorithm),
    (wrong_audience, {}, errors.WrongAudience),
    (wrong_recipient, {}, errors.WrongRecipient),
    (wrong_destination, {}, errors.WrongDestination),
    (signed_response_without_destination, {}, errors.WrongDestination),
    (expired, {}, errors.Expired),
    (not_yet_valid, {}, errors.NotYetValid),
    (assertion_not_yet_valid, {}, errors.NotYetValid),
    (no_conditions, {}, errors.MissingConditions),
    (no_bearer_confirmation, {}, errors.SubjectConfirmationError),
    (in_response_to_another_session, {}, errors.UnknownInResponseTo),
    (in_response_to_another_session, {"allow_idp_initiated": True}, errors.UnknownInResponseTo),
    (response_and_assertion_disagree_on_in_response_to, {}, errors.UnknownInResponseTo),
    (unsolicited, {}, errors.UnsolicitedResponse),
    (xxe, {}, errors.UnsafeXml),
    (billion_laughs, {}, errors.UnsafeXml),
    (comment_in_name_id, {}, errors.UnsafeXml),
    (comment_in_an_attribute_value, {}, errors.UnsafeXml),
    (oversized, {}, errors.MessageTooLarge),
    (idp_status_error, {}, errors.IdpStatusError),
    (not_base64, {}, errors.MalformedXml),
    (not_xml, {}, errors.MalformedXml),
    (not_a_response, {}, errors.MalformedXml),
    (saml_1_version, {}, errors.MalformedXml),
]


@pytest.mark.parametrize(
    ("make", "overrides", "error"),
    ATTACKS,
    ids=[f"{make.__name__}{'-' + '-'.join(o) if o else ''}" for make, o, _ in ATTACKS],
)
def test_response_is_refused(idp_a, idp_b, make, overrides, error):
    message = make(idp_a, idp_b)

    with pytest.raises(error) as refused:
        parse(message, settings=sp_settings(**overrides))

    assert type(refused.value) is error
    assert refused.value.code.startswith("saml_") and refused.value.hint


def test_the_attack_table_messages_are_otherwise_valid(idp_a, idp_b):
    """The table would prove little if its messages failed for another reason: the untampered
    originals of the post-signing attacks are accepted."""
    for sign_response, sign_assertion in ((False, True), (True, True), (True, False)):
        assert parse(post(idp_a.response(sign_response=sign_response, sign_assertion=sign_assertion))).name_id
    assert parse(post(idp_a.response(name_id=f"{NAME_ID}.evil.test"))).name_id == f"{NAME_ID}.evil.test"
    assert parse(post(idp_b.response()), settings=sp_settings(idp=idp_b)).issuer == idp_b.entity_id


def test_the_comment_attack_keeps_a_valid_signature_so_only_the_comment_check_refuses_it(idp_a):
    # Without the comment check, pysaml2 reads the full (comment-free) text: never the truncated one.
    message = comment_in_name_id(idp_a, None)
    with pytest.raises(errors.UnsafeXml, match="comment"):
        parse(message)


def test_the_same_response_is_accepted_once(idp_a):
    message = post(idp_a.response())
    parse(message)

    with pytest.raises(errors.Replayed):
        parse(message)


def test_an_idp_initiated_response_is_accepted_once(idp_a):
    settings = sp_settings(allow_idp_initiated=True)
    message = post(idp_a.response(in_response_to=None))
    parse(message, settings=settings, outstanding={})

    with pytest.raises(errors.Replayed):
        parse(message, settings=settings, outstanding={})


def test_concurrent_replays_let_exactly_one_through(idp_a):
    message = post(idp_a.response())
    settings = sp_settings()
    build_sp_config(settings)

    def attempt(_):
        try:
            parse(message, settings=settings)
            return "accepted"
        except errors.Replayed:
            return "replayed"

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, range(6)))

    assert sorted(results) == ["accepted"] + ["replayed"] * 5


def test_a_refused_forgery_does_not_burn_the_genuine_assertion_id(idp_a):
    genuine = idp_a.response()
    with pytest.raises(errors.SignatureInvalid):
        parse(post(tamper.replace_text(genuine, f">{NAME_ID}<", ">ceo@acme.test<")))

    assert parse(post(genuine)).name_id == NAME_ID


def test_a_connection_configured_with_another_idps_certificate_refuses_its_real_idp(idp_a, idp_b):
    # Connection A was given IdP B's certificate: IdP A's genuine responses no longer verify.
    settings = sp_settings(idp_certificates=(idp_b.cert_pem,))
    with pytest.raises(errors.SignatureInvalid):
        parse(post(idp_a.response()), settings=settings)


def test_a_connection_trusts_its_idp_metadata_not_another_connections(idp_a, idp_b):
    tenant_a = sp_settings(
        idp_id="tenant-a", idp_entity_id="", idp_sso_url="", idp_certificates=(), idp_metadata_xml=idp_a.metadata()
    )
    tenant_b = sp_settings(
        idp_id="tenant-b", idp_entity_id="", idp_sso_url="", idp_certificates=(), idp_metadata_xml=idp_b.metadata()
    )

    assert parse(post(idp_a.response()), settings=tenant_a).issuer == idp_a.entity_id
    with pytest.raises(errors.UnknownIssuer):
        parse(post(idp_a.response()), settings=tenant_b)


def test_an_assertion_encrypted_for_another_sp_key_is_refused(idp_a):
    settings = sp_settings(
        sp_private_key_pem=tamper.read("idp_b.key.pem"), sp_certificate_pem=tamper.read("idp_b.crt.pem")
    )
    with pytest.raises(errors.EncryptedAssertionError):
        parse(post(idp_a.response(encrypt=True)), settings=settings)


@pytest.mark.parametrize(
    ("make", "overrides"),
    [
        (wrong_recipient, {}),
        (sha1, {}),
        (no_conditions, {}),
        (no_bearer_confirmation, {}),
        (in_response_to_another_session, {"allow_idp_initiated": True}),
    ],
)
def test_pysaml2_alone_accepts_what_the_processor_refuses(idp_a, idp_b, make, overrides):
    """Why the checks around pysaml2 exist: its own parse (stock client, xmlsec1 program) accepts these."""
    settings = sp_settings(**overrides)
    xml = base64.b64decode(make(idp_a, idp_b))
    client = Saml2Client(build_sp_config(settings))

    assert client.parse_authn_request_response(xml, None, outstanding=dict(OUTSTANDING)) is not None
    with pytest.raises(errors.SamlResponseError):
        parse(post(xml), settings=settings)


def test_pysaml2_alone_accepts_a_replay(idp_a):
    xml = idp_a.response().encode()
    client = Saml2Client(build_sp_config(sp_settings()))
    for _ in range(2):
        assert client.parse_authn_request_response(xml, None, outstanding=dict(OUTSTANDING)) is not None


def test_a_required_response_signature_refuses_an_assertion_only_signature(idp_a):
    with pytest.raises(errors.SignatureMissing, match="signed SAML Response"):
        parse(post(idp_a.response()), settings=sp_settings(want_response_signed=True))


def test_a_redirect_binding_message_that_inflates_past_the_cap_is_refused(idp_a):
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b" " * (20 * MAX_MESSAGE_BYTES)) + bomb.flush()
    message = base64.b64encode(data).decode()
    assert len(message) < MAX_MESSAGE_BYTES / 10

    with pytest.raises(errors.MessageTooLarge):
        parse(message, binding=BINDING_HTTP_REDIRECT)


def test_the_idp_status_message_reaches_the_admin(idp_a):
    with pytest.raises(errors.IdpStatusError) as refused:
        parse(post(idp_a.error_response(message="User is not assigned to this application")))

    assert refused.value.status_code == "RequestDenied"
    assert "User is not assigned to this application" in refused.value.hint


def test_the_sha1_hint_tells_the_admin_where_to_choose_sha256(idp_a):
    with pytest.raises(errors.WeakAlgorithm) as refused:
        parse(sha1(idp_a, None))

    assert "SHA-256" in refused.value.hint and "Okta" in refused.value.hint


def test_neither_the_name_id_nor_the_assertion_is_logged(idp_a, idp_b, caplog):
    caplog.set_level(logging.DEBUG, logger="saml2")
    caplog.set_level(logging.INFO)
    parse(post(idp_a.response()))
    for make in (tampered_after_signing, signed_by_another_key, wrong_audience, comment_in_name_id):
        with pytest.raises(errors.SamlResponseError):
            parse(make(idp_a, idp_b))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "SAML response refused" in logged
    assert NAME_ID not in logged and "ceo@acme.test" not in logged
    assert "SignatureValue" not in logged and "Assertion ID" not in logged


def test_acs_and_entity_id_come_from_the_connection_settings(idp_a):
    settings = sp_settings(
        idp_id="other",
        sp_entity_id="https://sso.example.test/saml/other/metadata",
        acs_url="https://sso.example.test/saml/other/acs",
    )
    with pytest.raises(errors.WrongDestination):
        parse(post(idp_a.response()), settings=settings)
    config = build_sp_config(settings)
    assert config.entityid == "https://sso.example.test/saml/other/metadata"
    assert config.endpoint("assertion_consumer_service") == ["https://sso.example.test/saml/other/acs"]


@pytest.mark.parametrize("encrypt", [False, True])
def test_signatures_are_verified_and_assertions_decrypted_without_the_xmlsec1_program(idp_a, monkeypatch, encrypt):
    # One xmlsec1 process costs ~25 ms of CPU: stock pysaml2 starts three per signature, which would cap a
    # core at a few dozen logins per second.
    message = post(idp_a.response(sign_response=True, sign_assertion=True, encrypt=encrypt))
    build_sp_config(sp_settings())

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[0][:2]}")

    monkeypatch.setattr("saml2.sigver.Popen", no_process)
    assert parse(message).name_id == NAME_ID


def test_the_in_process_verifier_refuses_sha1_even_where_the_processor_cannot_see_it(idp_a):
    # Inside an encrypted assertion the algorithm is only visible to the verifier pysaml2 calls.
    with pytest.raises(errors.WeakAlgorithm, match="rsa-sha1"):
        parse(sha1_inside_the_encrypted_assertion(idp_a, None))
