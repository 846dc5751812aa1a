"""Real SAML responses of Entra ID, AD FS, Google Workspace, Okta, PingFederate and PingOne.

The files under tests/fixtures/idp-samples/ are byte-for-byte copies of /work/shared/idp-samples (see
its README.md and THIRD_PARTY_NOTICES.md). Each response is checked the way its README row says it was
checked: the clock frozen at IssueInstant + 5 s *before* the SP config and the metadata are loaded (the
2016 Google metadata has a validUntil in 2021), the sample's Audience as our entity ID, its
Destination (or Recipient) as our ACS, its InResponseTo as the outstanding request, or IdP-initiated
sign-in allowed when there is none.

Refused on purpose:
- okta_response_ssoready_2024_response-sig-broken.xml: the README's negative sample (the Response
  signature does not verify) -> SignatureInvalid;
- okta_response_sha1_passport-saml_2014.b64 and adfs_response_encrypted_sha1_passport-wsfed-saml2_2014.xml:
  genuine, but signed with RSA-SHA1/SHA1, which the gateway's policy refuses -> WeakAlgorithm (the
  second one only once its assertion is decrypted);
- okta_response_dex_2017.xml: pysaml2's schema check refuses its InResponseTo (dex's request ID starts
  with a digit, not an xs:NCName). The cause is on dex's SP side; the gateway's own request IDs are
  pysaml2's `id-...` -> MalformedXml.
"""

import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from freezegun import freeze_time
from saml2.time_util import str_to_time

from connections import exceptions as errors
from connections.providers import PROVIDERS
from connections.saml.config import SamlSettings
from connections.saml.response import SamlResponseProcessor
from tests.connections.saml.idp import read as read_test_key

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "idp-samples"
XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
MS = "http://schemas.microsoft.com/identity/claims/"


@dataclass(frozen=True)
class Sample:
    file: str
    issue_instant: str
    audience: str
    acs: str
    in_response_to: str | None
    name_id: str = ""
    attributes: dict = field(default_factory=dict)  # a subset of what the IdP sent
    metadata: str = ""  # metadata file of the same vendor directory, or:
    cert: str = ""
    issuer: str = ""
    sp_key: str = ""  # for encrypted assertions
    sp_cert: str = ""
    error: type | None = None
    mapped: dict = field(default_factory=dict)  # claims the provider's default attribute names find

    @property
    def vendor(self) -> str:
        return self.file.split("/")[0]

    def __str__(self):
        return self.file.split("/")[-1]


ADFS_ACS = "https://saml.test.nope/session/sso/saml/acs/dknhyszjl7"
ADFS_AUDIENCE = "https://saml.test.nope/session/sso/saml/spentityid/dknhyszjl7"
PING_ACS = "https://saml.test.nope/session/sso/saml/acs/hp24dqnpvq"
PING_AUDIENCE = "https://saml.test.nope/session/sso/saml/spentityid/hp24dqnpvq"
PING_ISSUER = "https://saml.test.nope:9031/eid/sxpmrhbkzn"
PING_ATTRIBUTES = {"firstname": ["First"], "lastname": ["Last"], "group": ["red,green,blue"]}
OKTA_CREWJAM = dict(
    audience="http://localhost:8000/saml/metadata",
    acs="http://localhost:8000/saml/acs",
    metadata="okta_metadata_crewjam_2020.xml",
    sp_key="okta_sp_decryption_key_crewjam.pem",
    sp_cert="okta_sp_cert_crewjam.pem",
)

ACCEPTED = [
    Sample(
        "azure_ad/azure_ad_response_ssoready_2023.xml",
        "2023-11-17T18:39:30.314Z",
        audience="http://localhost:8080/accounts/8155d0cc-d51b-461a-a062-821b6bd574b1/saml",
        acs="http://localhost:8080/accounts/8155d0cc-d51b-461a-a062-821b6bd574b1/saml/acs",
        in_response_to=None,
        metadata="azure_ad_metadata_app_ssoready_2023.xml",
        name_id="ulysse.carion_codomaindata.com#EXT#@ulyssecarioncodomaindata.onmicrosoft.com",
        attributes={
            f"{XMLSOAP}emailaddress": ["ulysse.carion@codomaindata.com"],
            f"{XMLSOAP}givenname": ["Ulysse"],
            f"{XMLSOAP}surname": ["Carion"],
            f"{MS}tenantid": ["a9054a0f-2011-4e31-b3ac-fd8c354146ec"],
        },
        mapped={"email": "ulysse.carion@codomaindata.com", "given_name": "Ulysse", "family_name": "Carion"},
    ),
    Sample(
        "azure_ad/azure_ad_response_tercen_2022.xml",
        "2022-02-23T17:49:18.872Z",
        audience="https://devpg.tercen.com/_service/sso/auth/saml",
        acs="https://devpg.tercen.com/_service/sso/auth/saml",
        in_response_to="id6491e192-e2d9-4970-ab03-e38ffda6e033",
        cert="azure_ad_signing_cert_tercen_2022.pem",
        issuer="https://sts.windows.net/5b5c94c6-14cf-42da-85bc-4e08722b253b/",
        name_id="test@alexandremaurelgmail.onmicrosoft.com",
        attributes={f"{XMLSOAP}name": ["test@alexandremaurelgmail.onmicrosoft.com"]},
    ),
    Sample(
        "adfs/adfs_response_gosaml2_2017.b64",
        "2017-09-21T23:27:06.828Z",
        audience=ADFS_AUDIENCE,
        acs=ADFS_ACS,
        in_response_to="_5988bf45-1cc8-4228-b3e8-1aa8590e63d3",
        cert="adfs_signing_cert_gosaml2_fs.spstest2.com.pem",
        issuer="http://fs.spstest2.com/adfs/services/trust",
        name_id="paul@spstest2.com",
        attributes={f"{XMLSOAP}givenname": ["paul"], f"{XMLSOAP}surname": ["fraley"]},
        mapped={"given_name": "paul", "family_name": "fraley"},
    ),
    Sample(
        "adfs/adfs_response_encrypted_gosaml2_2017.b64",
        "2017-09-21T23:19:11.608Z",
        audience=ADFS_AUDIENCE,
        acs=ADFS_ACS,
        in_response_to="_252d0129-1c83-496e-b039-ffc9cee11cca",
        cert="adfs_signing_cert_gosaml2_fs.spstest2.com.pem",
        issuer="http://fs.spstest2.com/adfs/services/trust",
        sp_key="adfs_sp_decryption_key_gosaml2.pem",
        sp_cert="adfs_sp_cert_gosaml2.pem",
        name_id="paul@spstest2.com",
        attributes={f"{XMLSOAP}givenname": ["paul"], f"{XMLSOAP}surname": ["fraley"]},
        mapped={"given_name": "paul", "family_name": "fraley"},
    ),
    Sample(
        "google/google_response_crewjam_2016.b64",
        "2016-01-05T16:55:39.348Z",
        audience="https://29ee6d2e.ngrok.io/saml/metadata",
        acs="https://29ee6d2e.ngrok.io/saml/acs",
        in_response_to="id-fd419a5ab0472645427f8e07d87a3a5dd0b2e9a6",
        metadata="google_metadata_crewjam_2016.xml",
        name_id="ross@octolabs.io",
        attributes={"firstName": ["Ross"], "lastName": ["Kinder"], "phone": []},
        mapped={"given_name": "Ross", "family_name": "Kinder"},
    ),
    # Audience and Destination are on different hosts in this sample: the SP uses each where it belongs.
    Sample(
        "google/google_response_ssoready_2023.xml",
        "2023-11-16T21:20:27.514Z",
        audience="https://localhost:8080/accounts/bfeb03a0-6022-4862-9bbf-5a4d7608db35/saml",
        acs="https://example.com/accounts/bfeb03a0-6022-4862-9bbf-5a4d7608db35/saml/acs",
        in_response_to=None,
        metadata="google_metadata_ssoready_2023.xml",
        name_id="ulysse.carion@codomaindata.com",
    ),
    Sample(
        "okta/okta_response_encrypted_both-signed_crewjam_2020.b64",
        "2020-03-03T19:40:54.699Z",
        in_response_to="id-953d4cab69ff475c5901d12e585b0bb15a7b85fe",
        **OKTA_CREWJAM,
        name_id="testuser@testrsc.com",
        attributes={"Username": ["FixedValue"]},
    ),
    Sample(
        "okta/okta_response_encrypted_assertion-signed_crewjam_2020.b64",
        "2020-03-03T19:31:55.895Z",
        in_response_to="id-6d976cdde8e76df5df0a8ff58148fc0b7ec6796d",
        **OKTA_CREWJAM,
        name_id="testuser@testrsc.com",
        attributes={"Username": ["FixedValue"]},
    ),
    Sample(
        "okta/okta_response_gosaml2_2016.xml",
        "2016-07-25T23:20:14.859Z",
        audience='"123"',
        acs="http://localhost:8080/v1/_saml_callback",
        in_response_to="_15f66d2d-628b-4d9b-a99e-089d8da862e1",
        cert="okta_signing_cert_gosaml2_2016.pem",
        issuer="http://www.okta.com/exk659aytfMeNI49v0h7",
        name_id="russellhaering",
        attributes={"username": ["russell.haering@scaleft.com"]},
    ),
    Sample(
        "ping_federate/ping_federate_response_gosaml2_pfed11_01.b64",
        "2017-09-02T00:12:06.505Z",
        audience=PING_AUDIENCE,
        acs=PING_ACS,
        in_response_to="_27242a27-9aea-40d6-b603-c1d6daa198d4",
        cert="ping_federate_signing_cert_gosaml2.pem",
        issuer=PING_ISSUER,
        name_id="firstlast@saml.test.nope",
        attributes=PING_ATTRIBUTES,
        mapped={"given_name": "First", "family_name": "Last"},
    ),
    # PingFederate writes no Destination on an unsigned Response: the Recipient is what is checked.
    Sample(
        "ping_federate/ping_federate_response_gosaml2_pfed11_02.b64",
        "2017-09-02T23:50:08.465Z",
        audience=PING_AUDIENCE,
        acs=PING_ACS,
        in_response_to="_315ab173-992a-4c1b-b99a-faccfd8ecea0",
        cert="ping_federate_signing_cert_gosaml2.pem",
        issuer=PING_ISSUER,
        name_id="firstlast@saml.test.nope",
        attributes=PING_ATTRIBUTES,
    ),
    Sample(
        "ping_federate/ping_federate_response_gosaml2_pfed11_03.b64",
        "2017-09-01T21:24:46.268Z",
        audience=PING_AUDIENCE,
        acs=PING_ACS,
        in_response_to="_5ff4ed23-bf22-4287-85a3-8b64948ad9f0",
        cert="ping_federate_signing_cert_gosaml2.pem",
        issuer=PING_ISSUER,
        name_id="firstlast@saml.test.nope",
        attributes=PING_ATTRIBUTES,
    ),
    Sample(
        "ping_federate/ping_federate_response_gosaml2_pfed11_05.b64",
        "2017-09-03T01:22:57.594Z",
        audience=PING_AUDIENCE,
        acs=PING_ACS,
        in_response_to="_f76c0eed-5023-4d82-9c2e-3bb760997fd1",
        cert="ping_federate_signing_cert_gosaml2.pem",
        issuer=PING_ISSUER,
        sp_key="ping_federate_sp_decryption_key_gosaml2.pem",
        sp_cert="ping_federate_sp_cert_gosaml2.pem",
        name_id="firstlast@saml.test.nope",
        attributes=PING_ATTRIBUTES,
    ),
    Sample(
        "ping_one/ping_one_response_ssoready_2023.xml",
        "2023-11-18T16:20:31.265Z",
        audience="ssoready-entity-id",
        acs="http://localhost",
        in_response_to=None,
        metadata="ping_one_metadata_ssoready_2023.xml",
        name_id="9e34fa21-4e8f-4dee-b565-648dbcf25eff",
        attributes={"saml_subject": ["9e34fa21-4e8f-4dee-b565-648dbcf25eff"]},
    ),
]

REFUSED = [
    Sample(
        "okta/okta_response_ssoready_2024_response-sig-broken.xml",
        "2024-04-25T20:31:55.494Z",
        audience="http://localhost:8080",
        acs="http://localhost:8080",
        in_response_to=None,
        metadata="okta_metadata_ssoready_2024.xml",
        error=errors.SignatureInvalid,
    ),
    Sample(
        "okta/okta_response_sha1_passport-saml_2014.b64",
        "2014-05-27T23:27:35.426Z",
        audience="https://admin.subspacesw.com",
        acs="http://localhost/browserSamlLogin",
        in_response_to="_5c385abb17735b7aa8d1",
        cert="okta_signing_cert_passport-saml_2014.pem",
        issuer="http://www.okta.com/kvjj46lsDQEQYUDBZIYW",
        error=errors.WeakAlgorithm,
    ),
    Sample(
        "adfs/adfs_response_encrypted_sha1_passport-wsfed-saml2_2014.xml",
        "2014-02-11T15:44:44.598Z",
        audience="urn:auth0:fmi-test",
        acs="https://fmi-test.auth0.com/login/callback",
        in_response_to="_d4f0e231c8b038213f27",
        cert="adfs_signing_cert_passport-wsfed-saml2_adfs.fmi.ch_extracted.pem",
        issuer="https://adfs.fmi.ch/adfs/services/trust",
        sp_key="adfs_sp_decryption_key_passport-wsfed-saml2.pem",
        error=errors.WeakAlgorithm,
    ),
    Sample(
        "okta/okta_response_dex_2017.xml",
        "2017-04-04T04:34:59.330Z",
        audience="http://127.0.0.1:5556/dex/callback",
        acs="http://127.0.0.1:5556/dex/callback",
        in_response_to="6zmm5mguyebwvajyf2sdwwcw6m",
        cert="okta_signing_cert_dex_2017.pem",
        issuer="http://www.okta.com/exk91cb99lKkKSYoy0h7",
        error=errors.MalformedXml,
    ),
]


def _self_signed_cert(key_pem: str) -> str:
    """passport-wsfed-saml2 ships its SP decryption key without a certificate: make one (pysaml2 wants a pair)."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sample SP")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2000, 1, 1))
        .not_valid_after(dt.datetime(2100, 1, 1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _message(sample: Sample) -> str:
    raw = (SAMPLES / sample.file).read_bytes()
    if sample.file.endswith(".b64"):
        return raw.decode()
    return base64.b64encode(raw).decode()


def _settings(sample: Sample) -> SamlSettings:
    folder = SAMPLES / sample.vendor
    if sample.sp_key:
        sp_key = (folder / sample.sp_key).read_text()
        sp_cert = (folder / sample.sp_cert).read_text() if sample.sp_cert else _self_signed_cert(sp_key)
    else:
        sp_key, sp_cert = read_test_key("sp.key.pem"), read_test_key("sp.crt.pem")
    idp = (
        {"idp_metadata_xml": (folder / sample.metadata).read_text(encoding="utf-8-sig")}
        if sample.metadata
        else {
            "idp_entity_id": sample.issuer,
            "idp_sso_url": "https://idp.invalid/sso",
            "idp_certificates": ((folder / sample.cert).read_text(),),
        }
    )
    return SamlSettings(
        # A new connection id per run: the replay cache outlives a test run, and sample assertion IDs are fixed.
        idp_id=f"sample-{uuid.uuid4()}",
        sp_entity_id=sample.audience,
        acs_url=sample.acs,
        sp_private_key_pem=sp_key,
        sp_certificate_pem=sp_cert,
        allow_idp_initiated=sample.in_response_to is None,
        **idp,
    )


def _parse(sample: Sample):
    issued = dt.datetime(*str_to_time(sample.issue_instant)[:6], tzinfo=dt.UTC)
    with freeze_time(issued + dt.timedelta(seconds=5)):
        # Inside the frozen clock: the config (and its metadata validUntil check) is built here.
        processor = SamlResponseProcessor(
            _settings(sample),
            outstanding_requests={sample.in_response_to: "/"} if sample.in_response_to else {},
        )
        return processor.parse(_message(sample))


@pytest.mark.parametrize("sample", ACCEPTED, ids=str)
def test_real_idp_response_is_accepted(sample, fresh_sp_configs):
    login = _parse(sample)

    assert login.name_id == sample.name_id
    for name, values in sample.attributes.items():
        assert login.attributes[name] == values
    assert login.in_response_to == (sample.in_response_to or "")


@pytest.mark.parametrize("sample", REFUSED, ids=str)
def test_real_idp_response_is_refused(sample, fresh_sp_configs):
    with pytest.raises(sample.error) as refused:
        _parse(sample)

    assert type(refused.value) is sample.error


def test_the_sha1_samples_are_refused_for_sha1_and_nothing_else(fresh_sp_configs):
    for sample in REFUSED:
        if sample.error is errors.WeakAlgorithm:
            with pytest.raises(errors.WeakAlgorithm, match="sha1"):
                _parse(sample)


def test_the_dex_sample_fails_only_on_pysaml2s_schema_check(fresh_sp_configs):
    dex = next(s for s in REFUSED if "dex" in s.file)
    with pytest.raises(errors.MalformedXml, match="schema"):
        _parse(dex)


@pytest.mark.parametrize("sample", [s for s in ACCEPTED if s.mapped], ids=str)
def test_the_provider_default_attribute_names_find_the_claims(sample, fresh_sp_configs):
    login = _parse(sample)
    mapping = PROVIDERS[sample.vendor].attribute_mapping

    found = {claim: login.attributes[name][0] for claim, name in mapping.items() if login.attributes.get(name)}

    assert found == sample.mapped
