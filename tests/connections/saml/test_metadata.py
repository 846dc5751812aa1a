"""IdP metadata: every real sample parses to the right IdP; unsafe, oversized or wrong documents are
refused with a sentence an IT admin can act on; the fetcher only reads https from public addresses."""

import socket
import time
from pathlib import Path

import pytest

from connections.saml import metadata as metadata_module
from connections.saml.metadata import (
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    MAX_METADATA_BYTES,
    MetadataError,
    certificate_from_text,
    fetch_idp_metadata,
    parse_idp_metadata,
)
from tests.connections.metadata_server import Routes, metadata_server, slow_body, unbounded_body

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "idp-samples"
REDIRECT, POST = BINDING_HTTP_REDIRECT, BINDING_HTTP_POST

# file -> (entity id, SSO URL we send to, its binding, number of signing certificates, SLO URL)
# Entity ids and endpoints as tests/fixtures/idp-samples/README.md records them.
EXPECTED = {
    "adfs/adfs_metadata_v2_ms-identitymodel.xml": (
        "http://fs.msidlab7.com/adfs/services/trust",
        "https://fs.msidlab7.com/adfs/ls/",
        REDIRECT,
        1,
        "https://fs.msidlab7.com/adfs/ls/",
    ),
    "adfs/adfs_metadata_v3_ms-identitymodel.xml": (
        "http://fs.msidlab2.com/adfs/services/trust",
        "https://fs.msidlab2.com/adfs/ls/",
        REDIRECT,
        1,
        "https://fs.msidlab2.com/adfs/ls/",
    ),
    "adfs/adfs_metadata_v4_ms-identitymodel.xml": (
        "http://fs.msidlab11.com/adfs/services/trust",
        "https://fs.msidlab11.com/adfs/ls/",
        REDIRECT,
        1,
        "https://fs.msidlab11.com/adfs/ls/",
    ),
    "azure_ad/azure_ad_metadata_app_ssoready_2023.xml": (
        "https://sts.windows.net/a9054a0f-2011-4e31-b3ac-fd8c354146ec/",
        "https://login.microsoftonline.com/a9054a0f-2011-4e31-b3ac-fd8c354146ec/saml2",
        REDIRECT,
        1,
        "https://login.microsoftonline.com/a9054a0f-2011-4e31-b3ac-fd8c354146ec/saml2",
    ),
    "azure_ad/azure_ad_metadata_common_ms-identitymodel_2017.xml": (
        "https://sts.windows.net/{tenantid}/",
        "https://login.microsoftonline.com/common/saml2",
        REDIRECT,
        3,
        "https://login.microsoftonline.com/common/saml2",
    ),
    "azure_ad/azure_ad_metadata_tenant_xml-crypto_2014.xml": (
        "https://sts.windows.net/8bd6e98d-e212-4022-b13f-a244fab4c253/",
        "https://login.windows.net/8bd6e98d-e212-4022-b13f-a244fab4c253/saml2",
        REDIRECT,
        2,
        "https://login.windows.net/8bd6e98d-e212-4022-b13f-a244fab4c253/saml2",
    ),
    "google/google_metadata_crewjam_2016.xml": (
        "https://accounts.google.com/o/saml2?idpid=C02dfl1r1",
        "https://accounts.google.com/o/saml2/idp?idpid=C02dfl1r1",
        POST,
        1,
        "",
    ),
    "google/google_metadata_ssoready_2023.xml": (
        "https://accounts.google.com/o/saml2?idpid=C029op2ga",
        "https://accounts.google.com/o/saml2/idp?idpid=C029op2ga",
        REDIRECT,
        1,
        "",
    ),
    "okta/okta_metadata_crewjam_2020.xml": (
        "http://www.okta.com/exkppsa1qwuFV4D7z0h7",
        "https://dev-513394.oktapreview.com/app/rstudioincdev513394_dev_1/exkppsa1qwuFV4D7z0h7/sso/saml",
        REDIRECT,
        1,
        "",
    ),
    "okta/okta_metadata_ssoready_2024.xml": (
        "http://www.okta.com/exkdoocxa1VmjpXmX697",
        "https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml",
        REDIRECT,
        1,
        "",
    ),
    "ping_one/ping_one_metadata_ssoready_2023.xml": (
        "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6",
        "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6/saml20/idp/sso",
        REDIRECT,
        1,
        "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6/saml20/idp/slo",
    ),
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_every_metadata_sample_has_an_expectation():
    found = {str(path.relative_to(SAMPLES)) for path in SAMPLES.glob("*/*metadata*.xml")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_idp_metadata_parses(name):
    entity_id, sso_url, binding, certificates, slo_url = EXPECTED[name]
    metadata = parse_idp_metadata(sample(name))
    assert metadata.entity_id == entity_id
    assert metadata.sso_url == sso_url
    assert metadata.sso_binding == binding
    assert len(metadata.certificates) == certificates
    assert metadata.slo_url == slo_url
    for certificate in metadata.certificate_pems:
        assert certificate.startswith("-----BEGIN CERTIFICATE-----\n")
        assert certificate_from_text(certificate).pem == certificate


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_idp_metadata_parses_when_pasted_as_text(name):
    text = sample(name).decode("utf-8")  # keeps Entra ID's byte order mark as U+FEFF
    assert parse_idp_metadata(text).entity_id == EXPECTED[name][0]


def test_adfs_metadata_keeps_the_signing_certificate_and_not_the_encryption_one():
    metadata = parse_idp_metadata(sample("adfs/adfs_metadata_v3_ms-identitymodel.xml"))
    assert [certificate.subject for certificate in metadata.certificates] == ["CN=ADFS Signing - fs.msidlab2.com"]
    # AD FS metadata has an SPSSODescriptor and WS-Federation roles too: the IdP role is the one read.
    assert metadata.sso_urls == {REDIRECT: "https://fs.msidlab2.com/adfs/ls/", POST: "https://fs.msidlab2.com/adfs/ls/"}


def test_okta_certificate_with_spaces_inside_its_base64_is_read():
    metadata = parse_idp_metadata(sample("okta/okta_metadata_crewjam_2020.xml"))
    assert "CN=dev-513394" in metadata.certificates[0].subject
    assert metadata.certificates[0].not_valid_after.year == 2028


def test_google_metadata_only_offers_post_and_carries_valid_until():
    metadata = parse_idp_metadata(sample("google/google_metadata_crewjam_2016.xml"))
    assert metadata.sso_urls == {POST: "https://accounts.google.com/o/saml2/idp?idpid=C02dfl1r1"}
    assert metadata.valid_until.isoformat() == "2021-01-03T16:17:49+00:00"
    # Still parsed (the admin may be re-using old metadata on purpose), with a warning to show.
    assert any("expired on 2021-01-03" in warning for warning in metadata.warnings)


def test_common_endpoint_metadata_is_flagged():
    metadata = parse_idp_metadata(sample("azure_ad/azure_ad_metadata_common_ms-identitymodel_2017.xml"))
    assert any("placeholder" in warning for warning in metadata.warnings)


def _entities(*entities: str, valid_until: str = "") -> bytes:
    attribute = f' validUntil="{valid_until}"' if valid_until else ""
    return (
        f'<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"{attribute}>'
        + "".join(entities)
        + "</EntitiesDescriptor>"
    ).encode()


def _inner(name: str) -> str:
    text = sample(name).decode("utf-8-sig")
    return text.split("?>", 1)[1] if text.lstrip().startswith("<?xml") else text


SP_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/saml">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://sp.example/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def test_entities_descriptor_with_one_idp_is_read():
    document = _entities(
        SP_METADATA, _inner("okta/okta_metadata_ssoready_2024.xml"), valid_until="2030-01-01T00:00:00Z"
    )
    metadata = parse_idp_metadata(document)
    assert metadata.entity_id == "http://www.okta.com/exkdoocxa1VmjpXmX697"
    assert metadata.valid_until.year == 2030  # inherited from the group (SAML Metadata 2.3.1)


def test_entities_descriptor_with_several_idps_is_refused():
    document = _entities(
        _inner("okta/okta_metadata_ssoready_2024.xml"), _inner("google/google_metadata_ssoready_2023.xml")
    )
    with pytest.raises(MetadataError) as error:
        parse_idp_metadata(document)
    assert error.value.code == "several_idps"
    assert "describes 2 identity providers" in error.value.message
    assert "http://www.okta.com/exkdoocxa1VmjpXmX697" in error.value.message


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol3;"/>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE EntityDescriptor SYSTEM "http://attacker.example/x.dtd">
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>"""
RESPONSE = b"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0"
    IssueInstant="2024-01-01T00:00:00Z"/>"""
IDP = """<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/">
<IDPSSODescriptor protocolSupportEnumeration="{protocol}">{keys}{sso}</IDPSSODescriptor></EntityDescriptor>"""
CERT_B64 = "".join(
    line
    for line in parse_idp_metadata(sample("okta/okta_metadata_ssoready_2024.xml")).certificate_pems[0].splitlines()
    if not line.startswith("-----")
)
SIGNING_KEY = (
    f'<KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
    f"<ds:X509Certificate>{CERT_B64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"
)
REDIRECT_SSO = f'<SingleSignOnService Binding="{REDIRECT}" Location="https://idp.example/sso"/>'
SAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"


def idp(*, protocol=SAML2, keys=SIGNING_KEY, sso=REDIRECT_SSO) -> bytes:
    return IDP.format(protocol=protocol, keys=keys, sso=sso).encode()


@pytest.mark.parametrize(
    ("document", "code", "words"),
    [
        (XXE, "unsafe_metadata", "DOCTYPE"),
        (BILLION_LAUGHS, "unsafe_metadata", "DOCTYPE"),
        (EXTERNAL_DTD, "unsafe_metadata", "XXE"),
        (b"hello, this is my metadata", "invalid_metadata", "This is not XML"),
        (b"", "invalid_metadata", "empty"),
        (b"<EntityDescriptor xmlns='urn:oasis:names:tc:SAML:2.0:metadata'>", "invalid_metadata", "not well-formed XML"),
        (SP_METADATA.encode(), "not_idp_metadata", "this looks like service-provider metadata"),
        (RESPONSE, "invalid_metadata", "This is a SAML response, not metadata"),
        (b"<html><body>Sign in</body></html>", "invalid_metadata", "starts with <html>"),
        (idp(keys=""), "no_signing_certificate", "no signing certificate"),
        (
            idp(keys=SIGNING_KEY.replace('use="signing"', 'use="encryption"')),
            "no_signing_certificate",
            "no signing certificate",
        ),
        (idp(keys=SIGNING_KEY.replace(CERT_B64[:40], "!!!not base64!!!")), "invalid_metadata", "cannot be read"),
        (
            idp(
                sso='<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" '
                'Location="https://idp.example/soap"/>'
            ),
            "invalid_metadata",
            "no SingleSignOnService",
        ),
        (
            idp(sso=f'<SingleSignOnService Binding="{REDIRECT}" Location="javascript:alert(1)"/>'),
            "invalid_metadata",
            "not an http(s) URL",
        ),
        (idp(protocol="urn:oasis:names:tc:SAML:1.1:protocol"), "not_idp_metadata", "does not support SAML 2.0"),
        (idp().replace(b'entityID="https://idp.example/"', b""), "invalid_metadata", "no entityID"),
    ],
)
def test_bad_metadata_is_refused_with_a_sentence(document, code, words):
    with pytest.raises(MetadataError) as error:
        parse_idp_metadata(document)
    assert error.value.code == code
    assert words in error.value.message
    assert error.value.message.endswith(".")


def test_a_minimal_idp_document_is_accepted():
    metadata = parse_idp_metadata(idp())
    assert (metadata.entity_id, metadata.sso_url) == ("https://idp.example/", "https://idp.example/sso")
    # A KeyDescriptor without `use` is for signing too (SAML Metadata 2.4.1.1).
    assert parse_idp_metadata(idp(keys=SIGNING_KEY.replace(' use="signing"', ""))).certificates


def test_huge_document_is_refused_before_parsing():
    document = idp().replace(b"</EntityDescriptor>", b"<!--" + b"x" * MAX_METADATA_BYTES + b"--></EntityDescriptor>")
    started = time.monotonic()
    with pytest.raises(MetadataError) as error:
        parse_idp_metadata(document)
    assert error.value.code == "metadata_too_large"
    assert "larger than 1024 kB" in error.value.message
    assert time.monotonic() - started < 0.5


def test_ws_federation_only_metadata_is_explained():
    document = b"""<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><RoleDescriptor xsi:type="x"
        protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706"/></EntityDescriptor>"""
    with pytest.raises(MetadataError, match="WS-Federation only"):
        parse_idp_metadata(document)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----", "perhaps a private key"),
        ("not a certificate", "neither PEM nor the base64"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a readable PEM"),
    ],
)
def test_certificate_text_that_is_not_a_certificate_is_refused(text, words):
    with pytest.raises(MetadataError, match=words):
        certificate_from_text(text)


def test_certificate_as_bare_base64_with_line_breaks_is_read():
    wrapped = "\n  ".join(CERT_B64[i : i + 64] for i in range(0, len(CERT_B64), 64))
    assert "CN=trial-1022863" in certificate_from_text(wrapped).subject


# --- fetching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://idp.example/metadata", "must start with https://"),
        ("ftp://idp.example/metadata", "must start with https://"),
        ("https://user:secret@idp.example/metadata", "user name or password"),
        ("https://127.0.0.1/metadata", "private, loopback or link-local"),
        ("https://[::1]/metadata", "private, loopback or link-local"),
        ("https://10.1.2.3/metadata", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://[::ffff:127.0.0.1]/metadata", "private, loopback or link-local"),
        ("https://localhost/metadata", "private, loopback or link-local"),
    ],
)
def test_fetcher_refuses_urls_that_are_not_public_https(url, words):
    with pytest.raises(MetadataError, match=words.replace("(", r"\(")):
        fetch_idp_metadata(url)


def test_fetcher_refuses_a_public_name_that_resolves_to_a_private_address(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.10", port)),
        ]

    monkeypatch.setattr(metadata_module.socket, "getaddrinfo", resolve)
    with pytest.raises(MetadataError) as error:
        fetch_idp_metadata("https://idp.example.com/metadata")
    assert error.value.code == "metadata_url_refused"
    assert "192.168.1.10" in error.value.message


@pytest.fixture
def served(tmp_path, settings):
    """Serve routes over real TLS on 127.0.0.1; private addresses allowed for the test only."""
    settings.SAML_METADATA_ALLOW_PRIVATE_URLS = True

    def serve(routes):
        context = metadata_server(tmp_path, Routes(routes))
        base, ca_file = context.__enter__()
        settings.SAML_METADATA_CA_BUNDLE = ca_file
        served.contexts.append(context)
        return base

    served.contexts = []
    yield serve
    for context in served.contexts:
        context.__exit__(None, None, None)


def test_fetcher_downloads_and_parses_metadata_over_https(served):
    okta = sample("okta/okta_metadata_ssoready_2024.xml")
    base = served({"/metadata.xml": (200, {"Content-Type": "application/xml"}, okta)})
    document, metadata = fetch_idp_metadata(f"{base}/metadata.xml")
    assert document == sample("okta/okta_metadata_ssoready_2024.xml")
    assert metadata.entity_id == "http://www.okta.com/exkdoocxa1VmjpXmX697"


def test_fetcher_follows_a_redirect_and_checks_it(served):
    base = served(
        {
            "/old": (302, {"Location": "/metadata.xml"}, b""),
            "/to-http": (302, {"Location": "http://idp.example/metadata.xml"}, b""),
            "/metadata.xml": (200, {}, sample("google/google_metadata_ssoready_2023.xml")),
        }
    )
    assert fetch_idp_metadata(f"{base}/old")[1].entity_id == "https://accounts.google.com/o/saml2?idpid=C029op2ga"
    with pytest.raises(MetadataError, match="must start with https://"):
        fetch_idp_metadata(f"{base}/to-http")


def test_fetcher_refuses_private_addresses_even_with_a_trusted_certificate(served, settings):
    base = served({"/metadata.xml": (200, {}, sample("okta/okta_metadata_ssoready_2024.xml"))})
    settings.SAML_METADATA_ALLOW_PRIVATE_URLS = False
    with pytest.raises(MetadataError, match="private, loopback or link-local"):
        fetch_idp_metadata(f"{base}/metadata.xml")


def test_fetcher_refuses_an_untrusted_certificate(served, settings):
    base = served({"/metadata.xml": (200, {}, sample("okta/okta_metadata_ssoready_2024.xml"))})
    settings.SAML_METADATA_CA_BUNDLE = None  # the public CAs do not know the test server
    with pytest.raises(MetadataError, match=r"TLS certificate of 127\.0\.0\.1 could not be verified"):
        fetch_idp_metadata(f"{base}/metadata.xml")


def test_fetcher_reports_http_errors(served):
    base = served({})
    with pytest.raises(MetadataError, match="answered HTTP 404"):
        fetch_idp_metadata(f"{base}/missing.xml")


def test_fetcher_stops_at_one_megabyte(served):
    big = b"<a>" + b"x" * (MAX_METADATA_BYTES + 10) + b"</a>"
    base = served(
        {
            "/declared.xml": (200, {}, big),
            "/undeclared.xml": (200, {}, unbounded_body(b"x" * 65536, 4 * MAX_METADATA_BYTES)),
        }
    )
    for path in ("/declared.xml", "/undeclared.xml"):
        with pytest.raises(MetadataError) as error:
            fetch_idp_metadata(f"{base}{path}")
        assert error.value.code == "metadata_too_large"


def test_fetcher_gives_up_after_its_timeout(served, settings):
    settings.SAML_METADATA_FETCH_TIMEOUT = 0.5
    base = served({"/slow.xml": (200, {}, slow_body(3))})
    started = time.monotonic()
    with pytest.raises(MetadataError) as error:
        fetch_idp_metadata(f"{base}/slow.xml")
    assert error.value.code == "metadata_fetch_failed"
    assert time.monotonic() - started < 2


def test_fetcher_default_timeout_is_five_seconds():
    assert metadata_module.FETCH_TIMEOUT_SECONDS == 5
