"""The samlify SAML IdP test peer, checked end to end by an independent SP implementation (pysaml2 + xmlsec1).

No gateway code is involved: a pysaml2 SP (key and certificate made here) signs AuthnRequests, the peer answers
through its HTML login form, and pysaml2 verifies the signed SAMLResponse against the peer's /metadata.
"""

from __future__ import annotations

import base64
import datetime
import re
import shutil
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from tests.peers.saml_idp import run_saml_idp

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(not shutil.which("node"), reason="node is not installed"),
    pytest.mark.skipif(not shutil.which("xmlsec1"), reason="xmlsec1 is not installed"),
]

SP_ENTITY_ID = "https://sp.test/saml2/metadata"
SP_ACS = "https://sp.test/saml2/acs"
SP_SLO = "https://sp.test/saml2/slo"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


# --- an independent SP -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sp_keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sp-keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "sp.key", directory / "sp.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def sp_config(
    sp_keys,
    idp_metadata_xml=None,
    *,
    allow_unsolicited=False,
    want_response_signed=False,
    sign_requests=True,
    slo_binding=BINDING_HTTP_REDIRECT,
):
    key_file, cert_file = sp_keys
    conf = {
        "entityid": SP_ENTITY_ID,
        "xmlsec_binary": shutil.which("xmlsec1"),
        "key_file": key_file,
        "cert_file": cert_file,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)],
                    "single_logout_service": [(SP_SLO, slo_binding)],
                },
                "authn_requests_signed": sign_requests,
                "logout_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": want_response_signed,
                "allow_unsolicited": allow_unsolicited,
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        },
    }
    if idp_metadata_xml:
        conf["metadata"] = {"inline": [idp_metadata_xml]}
    config = SPConfig()
    config.load(conf)
    return config


@pytest.fixture(scope="module")
def sp_metadata_xml(sp_keys):
    return str(entity_descriptor(sp_config(sp_keys)))


@pytest.fixture(scope="module")
def idp(sp_metadata_xml):
    with run_saml_idp(sp_metadata_xml=sp_metadata_xml) as peer:
        yield peer


def sp_client(sp_keys, idp_peer, **options):
    return Saml2Client(config=sp_config(sp_keys, idp_peer.metadata_xml(), **options))


# --- a browser without JavaScript ----------------------------------------------------------------------------------
class Forms(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.forms, self.labels, self.ids, self._label_for = [], {}, {}, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids[attrs["id"]] = (tag, attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "method": attrs.get("method"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "label":
            self._label_for = attrs.get("for")

    def handle_data(self, data):
        if self._label_for and data.strip():
            self.labels[self._label_for] = data.strip()
            self._label_for = None


def sign_in(session, base_url, login_page_html, username, password):
    forms = Forms(login_page_html)
    assert forms.labels.get("username") and forms.labels.get("password")
    assert forms.ids["login"][0] == "button"
    fields = dict(forms.forms[0]["fields"], username=username, password=password)
    return session.post(base_url + forms.forms[0]["action"], data=fields, timeout=20)


def saml_post_form(html):
    forms = Forms(html)
    form = next(f for f in forms.forms if "SAMLResponse" in f["fields"])
    assert "continue" in forms.ids, "a visible Continue button for browsers without JavaScript"
    return form["action"], form["fields"]


def signatures(xml_b64):
    from defusedxml.ElementTree import fromstring

    root = fromstring(base64.b64decode(xml_b64))
    assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    return root.find(f"{DSIG}Signature"), assertion.find(f"{DSIG}Signature")


# --- tests -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sign_response", [False, True], ids=["assertion-signed", "response-and-assertion-signed"])
def test_sp_initiated_login_with_signed_redirect_request(sp_keys, sp_metadata_xml, sign_response):
    with run_saml_idp(sp_metadata_xml=sp_metadata_xml, sign_response=sign_response) as idp_peer:
        client = sp_client(sp_keys, idp_peer, want_response_signed=sign_response)
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_peer.entity_id,
            relay_state="/after-login?x=1",
            binding=BINDING_HTTP_REDIRECT,
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        location = dict(info["headers"])["Location"]
        assert location.startswith(idp_peer.sso_url + "?") and "Signature=" in location

        session = requests.Session()
        login_page = session.get(location, timeout=20)
        assert login_page.status_code == 200, login_page.text
        assert 'id="username"' in login_page.text and 'id="password"' in login_page.text
        assert request_id not in login_page.text  # the pending request is kept server side

        done = sign_in(session, idp_peer.base_url, login_page.text, "alice", "alice-password")
        assert done.status_code == 200
        action, fields = saml_post_form(done.text)
        assert action == SP_ACS
        assert fields["RelayState"] == "/after-login?x=1"

        response_sig, assertion_sig = signatures(fields["SAMLResponse"])
        assert assertion_sig is not None
        assert (response_sig is not None) is sign_response
        sig_method = assertion_sig.find(f"{DSIG}SignedInfo/{DSIG}SignatureMethod").get("Algorithm")
        digest_method = assertion_sig.find(f"{DSIG}SignedInfo/{DSIG}Reference/{DSIG}DigestMethod").get("Algorithm")
        assert sig_method == SIG_RSA_SHA256
        assert digest_method == DIGEST_SHA256

        response = client.parse_authn_request_response(
            fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
        assert response is not None
        assert response.in_response_to == request_id
        assert response.response.destination == SP_ACS
        name_id = response.assertion.subject.name_id
        assert name_id.text == "alice@example.com"
        assert name_id.format == NAMEID_FORMAT_EMAILADDRESS
        confirmation = response.assertion.subject.subject_confirmation[0].subject_confirmation_data
        assert confirmation.recipient == SP_ACS
        assert confirmation.in_response_to == request_id
        audiences = [a.text for r in response.assertion.conditions.audience_restriction for a in r.audience]
        assert audiences == [SP_ENTITY_ID]
        not_before = datetime.datetime.fromisoformat(response.assertion.conditions.not_before)
        not_after = datetime.datetime.fromisoformat(response.assertion.conditions.not_on_or_after)
        assert datetime.timedelta(minutes=4) < not_after - not_before <= datetime.timedelta(minutes=5)
        assert response.assertion.authn_statement[0].session_index
        ava = response.ava
        assert ava["email"] == ["alice@example.com"]
        assert ava["given_name"] == ["Alice"]
        assert ava["family_name"] == ["Liddell"]
        assert ava["firstName"] == ["Alice"]
        assert ava["lastName"] == ["Liddell"]
        assert ava["groups"] == ["staff", "wonderland"]

        # The same login cannot be used twice.
        again = sign_in(session, idp_peer.base_url, login_page.text, "alice", "alice-password")
        assert again.status_code == 400 and "SAMLResponse" not in again.text


def test_post_binding_request_and_custom_users(sp_keys, sp_metadata_xml):
    users = [
        {
            "username": "carol",
            "password": "carol-pw",
            "email": "carol@corp.example",
            "attributes": {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "carol@corp.example",
                "department": ["R&D", "<ops>"],
            },
        }
    ]
    with run_saml_idp(sp_metadata_xml=sp_metadata_xml, users=users) as idp_peer:
        client = sp_client(sp_keys, idp_peer)
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_peer.entity_id,
            relay_state="rs-post",
            binding=BINDING_HTTP_POST,
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        # pysaml2 renders an auto-submit form carrying a signed (enveloped XML signature) AuthnRequest.
        action, fields = (
            re.search(r'action="([^"]+)"', info["data"]).group(1),
            dict(re.findall(r'name="(SAMLRequest|RelayState)" value="([^"]*)"', info["data"])),
        )
        assert action == idp_peer.sso_url
        session = requests.Session()
        login_page = session.post(action, data=fields, timeout=20)
        assert login_page.status_code == 200, login_page.text
        done = sign_in(session, idp_peer.base_url, login_page.text, "carol", "carol-pw")
        _, posted = saml_post_form(done.text)
        assert posted["RelayState"] == "rs-post"
        response = client.parse_authn_request_response(
            posted["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
        assert response.assertion.subject.name_id.text == "carol@corp.example"
        assert response.ava["department"] == ["R&D", "<ops>"]
        assert response.ava["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"] == [
            "carol@corp.example"
        ]


def test_wrong_password_sends_no_response(idp, sp_keys):
    client = sp_client(sp_keys, idp)
    _, info = client.prepare_for_authenticate(
        entityid=idp.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
    )
    session = requests.Session()
    login_page = session.get(dict(info["headers"])["Location"], timeout=20)
    refused = sign_in(session, idp.base_url, login_page.text, "alice", "not-her-password")
    assert refused.status_code == 401
    assert "SAMLResponse" not in refused.text
    assert 'id="error"' in refused.text and "Wrong username or password" in refused.text
    assert Forms(refused.text).forms[0]["fields"]["username"] == "alice"
    unknown = sign_in(session, idp.base_url, refused.text, "mallory", "x")
    assert unknown.status_code == 401 and "SAMLResponse" not in unknown.text
    # The form stays usable after a mistake.
    ok = sign_in(session, idp.base_url, unknown.text, "bob", "bob-password")
    assert "SAMLResponse" in ok.text


def test_idp_initiated_login_is_unsolicited(idp, sp_keys):
    session = requests.Session()
    login_page = session.get(idp.idp_initiated_url, params={"RelayState": "/landing"}, timeout=20)
    assert login_page.status_code == 200
    done = sign_in(session, idp.base_url, login_page.text, "bob", "bob-password")
    action, fields = saml_post_form(done.text)
    assert action == SP_ACS
    assert fields["RelayState"] == "/landing"
    assert "InResponseTo" not in base64.b64decode(fields["SAMLResponse"]).decode()

    strict = sp_client(sp_keys, idp)
    with pytest.raises(Exception, match=r"[Uu]nsolicited"):
        strict.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={})

    lenient = sp_client(sp_keys, idp, allow_unsolicited=True)
    response = lenient.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={})
    assert response.assertion.subject.name_id.text == "bob@example.com"
    assert response.ava["family_name"] == ["Builder"]


def test_tampered_or_unsigned_request_is_refused(idp, sp_keys):
    client = sp_client(sp_keys, idp)
    _, info = client.prepare_for_authenticate(
        entityid=idp.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
    )
    location = dict(info["headers"])["Location"]
    query = parse_qs(urlsplit(location).query)

    # Same request, other RelayState: the signature no longer matches.
    query["RelayState"] = ["/evil"]
    tampered = requests.get(idp.sso_url + "?" + urlencode({k: v[0] for k, v in query.items()}), timeout=20)
    assert tampered.status_code == 400
    assert "SIGNATURE" in tampered.text and 'id="username"' not in tampered.text

    # The SP metadata says AuthnRequestsSigned="true": a request without a signature is refused.
    unsigned = requests.get(idp.sso_url, params={"SAMLRequest": query["SAMLRequest"][0]}, timeout=20)
    assert unsigned.status_code == 400 and 'id="username"' not in unsigned.text

    # A request from another SP (Issuer) is refused too.
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    foreign = requests.get(
        idp.sso_url, params={"SAMLRequest": deflate(xml.replace(SP_ENTITY_ID, "https://other-sp.test/m"))}, timeout=20
    )
    assert foreign.status_code == 400 and 'id="username"' not in foreign.text
    assert "Issuer https://other-sp.test/m is not the SP entityID" in foreign.text


def deflate(xml):
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(deflater.compress(xml.encode()) + deflater.flush()).decode()


def test_unsigned_request_is_accepted_when_the_sp_does_not_sign(sp_keys):
    unsigned_sp_metadata = str(entity_descriptor(sp_config(sp_keys, sign_requests=False)))
    assert 'AuthnRequestsSigned="false"' in unsigned_sp_metadata
    with run_saml_idp(sp_metadata_xml=unsigned_sp_metadata) as idp_peer:
        client = Saml2Client(config=sp_config(sp_keys, idp_peer.metadata_xml(), sign_requests=False))
        request_id, info = client.prepare_for_authenticate(entityid=idp_peer.entity_id, binding=BINDING_HTTP_REDIRECT)
        location = dict(info["headers"])["Location"]
        assert "Signature=" not in location
        session = requests.Session()
        login_page = session.get(location, timeout=20)
        assert login_page.status_code == 200 and 'id="username"' in login_page.text
        _, fields = saml_post_form(sign_in(session, idp_peer.base_url, login_page.text, "bob", "bob-password").text)
        response = client.parse_authn_request_response(
            fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
        assert response.assertion.subject.name_id.text == "bob@example.com"

        # Still refused from another Issuer, signed or not.
        xml = zlib.decompress(base64.b64decode(parse_qs(urlsplit(location).query)["SAMLRequest"][0]), -15).decode()
        foreign = requests.get(
            idp_peer.sso_url, params={"SAMLRequest": deflate(xml.replace(SP_ENTITY_ID, "https://x.test/m"))}, timeout=20
        )
        assert foreign.status_code == 400 and "Issuer https://x.test/m" in foreign.text


def test_sp_refuses_a_tampered_response(idp, sp_keys):
    """Guard against a vacuous pass: the SP side of these tests really checks the peer's signature."""
    client = sp_client(sp_keys, idp)
    request_id, info = client.prepare_for_authenticate(
        entityid=idp.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
    )
    session = requests.Session()
    login_page = session.get(dict(info["headers"])["Location"], timeout=20)
    _, fields = saml_post_form(sign_in(session, idp.base_url, login_page.text, "bob", "bob-password").text)
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert xml.count("bob@example.com") >= 2
    forged = base64.b64encode(xml.replace("bob@example.com", "alice@example.com").encode()).decode()
    with pytest.raises(Exception):
        client.parse_authn_request_response(forged, BINDING_HTTP_POST, outstanding={request_id: "/"})
    # The untouched response is accepted.
    ok = client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"})
    assert ok.assertion.subject.name_id.text == "bob@example.com"


def test_single_logout_answers_a_signed_logout_response(idp, sp_keys):
    client = sp_client(sp_keys, idp)
    request_id, info = client.prepare_for_authenticate(
        entityid=idp.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
    )
    session = requests.Session()
    login_page = session.get(dict(info["headers"])["Location"], timeout=20)
    _, fields = saml_post_form(sign_in(session, idp.base_url, login_page.text, "alice", "alice-password").text)
    response = client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    session_index = response.assertion.authn_statement[0].session_index

    logout_id, logout_request = client.create_logout_request(
        idp.slo_url,
        idp.entity_id,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.com"),
        session_indexes=[session_index],
        sign=False,
    )
    http_info = client.apply_binding(
        BINDING_HTTP_REDIRECT, str(logout_request), idp.slo_url, "rs-logout", sign=True, sigalg=SIG_RSA_SHA256
    )
    answer = session.get(dict(http_info["headers"])["Location"], allow_redirects=False, timeout=20)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == SP_SLO
    params = parse_qs(back.query)
    assert params["RelayState"] == ["rs-logout"]
    assert params["SigAlg"] == [SIG_RSA_SHA256] and params["Signature"]
    # HTTP-Redirect binding signature: over the raw query parameters as sent, with the IdP's metadata certificate.
    raw = dict(part.split("=", 1) for part in back.query.split("&"))
    signed_octets = "&".join(f"{k}={raw[k]}" for k in ("SAMLResponse", "RelayState", "SigAlg")).encode()
    idp_cert = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", idp.metadata_xml()).group(1)
    public_key = x509.load_der_x509_certificate(base64.b64decode(idp_cert)).public_key()
    public_key.verify(base64.b64decode(params["Signature"][0]), signed_octets, padding.PKCS1v15(), hashes.SHA256())
    logout_response = client.parse_logout_request_response(params["SAMLResponse"][0], BINDING_HTTP_REDIRECT)
    assert logout_response.response.in_response_to == logout_id
    assert logout_response.response.status.status_code.value == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert logout_response.response.issuer.text == idp.entity_id


def test_single_logout_with_the_post_binding(sp_keys):
    post_slo_metadata = str(entity_descriptor(sp_config(sp_keys, slo_binding=BINDING_HTTP_POST)))
    with run_saml_idp(sp_metadata_xml=post_slo_metadata) as idp_peer:
        client = Saml2Client(config=sp_config(sp_keys, idp_peer.metadata_xml(), slo_binding=BINDING_HTTP_POST))
        logout_id, logout_request = client.create_logout_request(
            idp_peer.slo_url,
            idp_peer.entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="bob@example.com"),
            session_indexes=["_unknown-session"],
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        http_info = client.apply_binding(BINDING_HTTP_POST, str(logout_request), idp_peer.slo_url, "rs-post-logout")
        fields = dict(re.findall(r'name="(SAMLRequest|RelayState)" value="([^"]*)"', http_info["data"]))
        answer = requests.post(idp_peer.slo_url, data=fields, timeout=20)
        assert answer.status_code == 200, answer.text
        action, posted = Forms(answer.text).forms[0]["action"], Forms(answer.text).forms[0]["fields"]
        assert action == SP_SLO
        assert posted["RelayState"] == "rs-post-logout"
        xml = base64.b64decode(posted["SAMLResponse"]).decode()
        assert "<ds:Signature" in xml and SIG_RSA_SHA256 in xml
        logout_response = client.parse_logout_request_response(posted["SAMLResponse"], BINDING_HTTP_POST)
        assert logout_response.response.in_response_to == logout_id
        assert logout_response.response.status.status_code.value == "urn:oasis:names:tc:SAML:2.0:status:Success"

        # A LogoutRequest whose XML signature does not match is refused.
        forged = base64.b64encode(
            base64.b64decode(fields["SAMLRequest"]).replace(b"bob@example.com", b"alice@example.com")
        ).decode()
        refused = requests.post(idp_peer.slo_url, data={"SAMLRequest": forged}, timeout=20)
        assert refused.status_code == 400 and "SAMLResponse" not in refused.text


def test_redirect_signature_during_an_sp_key_rollover(sp_keys, sp_metadata_xml, tmp_path):
    """SP metadata listing two signing certificates (the next one first): a request signed with either is accepted."""
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "next.sp.test")])
    now = datetime.datetime.now(datetime.UTC)
    other_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(other_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(other_key, hashes.SHA256())
    )
    other_b64 = base64.b64encode(other_cert.public_bytes(serialization.Encoding.DER)).decode()
    descriptor = re.search(r"<(\w+:)?KeyDescriptor use=\"signing\">.*?</(\w+:)?KeyDescriptor>", sp_metadata_xml, re.S)
    current_b64 = re.search(r"X509Certificate>([^<]+)<", descriptor.group(0)).group(1)
    extra = descriptor.group(0).replace(current_b64, other_b64)
    rollover_metadata = sp_metadata_xml.replace(descriptor.group(0), extra + descriptor.group(0))
    assert rollover_metadata.count('use="signing"') == 2
    with run_saml_idp(sp_metadata_xml=rollover_metadata) as idp_peer:
        client = sp_client(sp_keys, idp_peer)
        _, info = client.prepare_for_authenticate(
            entityid=idp_peer.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256
        )
        page = requests.get(dict(info["headers"])["Location"], timeout=20)
        assert page.status_code == 200 and 'id="login"' in page.text
        # A tampered query matches neither certificate: refused.
        stranger = requests.get(
            dict(info["headers"])["Location"].replace("SigAlg=", "RelayState=x&SigAlg="), timeout=20
        )
        assert stranger.status_code == 400 and 'id="login"' not in stranger.text


def test_schema_invalid_request_is_refused(sp_keys):
    unsigned_sp_metadata = str(entity_descriptor(sp_config(sp_keys, sign_requests=False)))
    with run_saml_idp(sp_metadata_xml=unsigned_sp_metadata) as idp_peer:
        bad = (
            '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x1" Version="2.0">'
            f"<saml:Issuer>{SP_ENTITY_ID}</saml:Issuer><samlp:Bogus/></samlp:AuthnRequest>"
        )
        refused = requests.get(idp_peer.sso_url, params={"SAMLRequest": deflate(bad)}, timeout=20)
        assert refused.status_code == 400 and "ERR_INVALID_XML" in refused.text
        doctype = f'<!DOCTYPE x [<!ENTITY e "{SP_ENTITY_ID}">]>' + bad.replace(SP_ENTITY_ID, "&e;")
        refused = requests.get(idp_peer.sso_url, params={"SAMLRequest": deflate(doctype)}, timeout=20)
        assert refused.status_code == 400 and 'id="username"' not in refused.text


def test_sp_metadata_is_fetched_lazily_and_refetched_after_a_failure(sp_keys, sp_metadata_xml):
    import http.server
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Metadata(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = sp_metadata_xml.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with run_saml_idp(sp_metadata_url=f"http://127.0.0.1:{port}/sp/metadata") as idp_peer:
        # The SP is not up yet: the IdP still starts, and says what is missing.
        early = requests.get(idp_peer.idp_initiated_url, timeout=20)
        assert early.status_code == 502 and "SP metadata unavailable" in early.text
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Metadata)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            client = sp_client(sp_keys, idp_peer)
            _, info = client.prepare_for_authenticate(
                entityid=idp_peer.entity_id, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256
            )
            login_page = requests.get(dict(info["headers"])["Location"], timeout=20)
            assert login_page.status_code == 200 and 'id="login"' in login_page.text
        finally:
            server.shutdown()
            server.server_close()


def test_given_key_and_cert_and_clean_shutdown(sp_metadata_xml, sp_keys):
    key_file, cert_file = sp_keys  # any RSA key pair will do
    cert_pem = Path(cert_file).read_text()
    cert_b64 = "".join(line for line in cert_pem.splitlines() if "-----" not in line)
    with run_saml_idp(
        sp_metadata_xml=sp_metadata_xml, key_pem=Path(key_file).read_text(), cert_pem=cert_pem, entity_id="urn:test:idp"
    ) as idp_peer:
        assert idp_peer.entity_id == "urn:test:idp"
        metadata = idp_peer.metadata_xml()
        assert cert_b64 in metadata and 'entityID="urn:test:idp"' in metadata
        assert f'Location="{idp_peer.slo_url}"' in metadata
        process = idp_peer.process
    assert process.returncode == 0  # SIGTERM: the peer closes its server and exits 0


def test_helper_reports_start_failures(tmp_path, monkeypatch):
    from tests.peers import saml_idp

    with (
        pytest.raises(saml_idp.SamlIdpPeerError, match="expected a list of users"),
        run_saml_idp(sp_metadata_xml="<x/>", users=[]),
    ):
        pass
    monkeypatch.setattr(saml_idp, "PEER_DIR", tmp_path)
    with (
        pytest.raises(saml_idp.SamlIdpPeerError, match=r"npm ci --prefix tests/peers/saml-idp"),
        run_saml_idp(sp_metadata_xml="<x/>"),
    ):
        pass
