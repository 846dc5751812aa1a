"""The IdP metadata step: by URL, upload, paste or by hand; what was understood and the warnings are
shown; bad metadata is answered in plain words and nothing is saved."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile

from onboarding.models import AdminOnboarding

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "idp-samples"


def certificate_pem(*, days: int = 365, common_name: str = "idp.example") -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days))
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def metadata(*certificates: str, entity_id: str = "https://idp.example/metadata", slo: bool = True) -> str:
    keys = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        + "".join(pem.strip().splitlines()[1:-1])
        + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for pem in certificates
    )
    logout = (
        (
            '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            'Location="https://idp.example/slo"/>'
        )
        if slo
        else ""
    )
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}{logout}"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
    )


def onboarding_of(connection) -> AdminOnboarding:
    return AdminOnboarding.objects.get(connection=connection)


def assert_nothing_saved(connection):
    connection.refresh_from_db()
    assert connection.idp_entity_id == "" and connection.idp_certificates == [] and connection.idp_metadata_xml == ""
    assert "idp_metadata" not in onboarding_of(connection).steps_done


def test_uploaded_okta_metadata_is_understood_and_shown(client, wizard_url, invited):
    connection, _token = invited
    document = (SAMPLES / "okta" / "okta_metadata_ssoready_2024.xml").read_bytes()
    response = client.post(
        wizard_url("idp-metadata"),
        {"method": "upload", "metadata_file": SimpleUploadedFile("metadata.xml", document, "text/xml")},
    )
    assert response.status_code == 303 and response["Location"] == wizard_url("idp-metadata")
    connection.refresh_from_db()
    assert connection.idp_entity_id.startswith("http://www.okta.com/")
    assert "idp_metadata" in onboarding_of(connection).steps_done
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert "What we understood" in html
    assert connection.idp_entity_id in html and connection.idp_sso_url in html
    assert "SHA-256" in html and ("valid until" in html or "expired on" in html)
    assert f'href="{wizard_url("attribute-mapping")}"' in html  # continue


def test_pasted_metadata_shows_the_certificate_subject_and_expiry(client, wizard_url, invited):
    pem = certificate_pem(days=200, common_name="signing.idp.example")
    response = client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": metadata(pem)})
    assert response.status_code == 303
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert "CN=signing.idp.example" in html
    expiry = (datetime.now(UTC) + timedelta(days=200)).strftime("%Y")
    assert "valid until" in html and expiry in html
    assert "Please check" not in html  # nothing to warn about


@pytest.mark.parametrize(
    ("certificates", "words"),
    [
        ([certificate_pem(days=-3)], "expired on"),
        ([certificate_pem(days=10)], "expires in 9 days"),
        ([(SAMPLES / "okta" / "okta_signing_cert_passport-saml_2014.pem").read_text()], "signed with SHA-1"),
        ([certificate_pem(), certificate_pem(common_name="next.idp.example")], "lists 2 signing certificates"),
    ],
    ids=["expired", "expiring", "sha1", "several"],
)
def test_certificate_warnings_in_plain_words(client, wizard_url, invited, certificates, words):
    response = client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": metadata(*certificates)})
    assert response.status_code == 303
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert "Please check" in html
    assert words in html or words.replace("9 days", "10 days") in html


def test_no_single_logout_binding_is_a_warning(client, wizard_url, invited):
    document = metadata(certificate_pem(), slo=False)
    client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": document})
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert "no single logout endpoint with a binding we can use" in html


XXE = (
    '<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>'
)
NO_CERTIFICATE = metadata()
NO_BINDING = (
    metadata(certificate_pem())
    .replace('HTTP-Redirect" \n', "")
    .replace(
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso',
        'urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example/sso',
    )
)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ("<md:EntityDescriptor", "not well-formed XML"),
        ("this is not xml", "This is not XML"),
        (XXE, "DOCTYPE"),
        (NO_CERTIFICATE, "no signing certificate"),
        (NO_BINDING, "no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding"),
    ],
    ids=["broken", "not-xml", "xxe", "no-certificate", "no-binding"],
)
def test_bad_pasted_metadata_is_explained_and_nothing_is_saved(client, wizard_url, invited, document, words):
    response = client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": document})
    assert response.status_code == 400
    html = response.content.decode()
    assert words in html
    assert 'class="error-summary" role="alert"' in html
    assert "<details open>\n    <summary>Upload or paste" in html
    assert_nothing_saved(invited[0])


def test_xxe_upload_is_refused_and_reads_no_file(client, wizard_url, invited):
    response = client.post(
        wizard_url("idp-metadata"),
        {"method": "upload", "metadata_file": SimpleUploadedFile("evil.xml", XXE.encode(), "text/xml")},
    )
    assert response.status_code == 400
    assert "root:" not in response.content.decode()
    assert "XXE" in response.content.decode()
    assert_nothing_saved(invited[0])


def test_huge_upload_is_refused_before_reading(client, wizard_url, invited):
    huge = b"<x>" + b" " * (1024 * 1024 + 10) + b"</x>"
    response = client.post(
        wizard_url("idp-metadata"),
        {"method": "upload", "metadata_file": SimpleUploadedFile("huge.xml", huge, "text/xml")},
    )
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()
    assert_nothing_saved(invited[0])


def test_huge_paste_is_refused(client, wizard_url, invited):
    document = "<x>" + "a" * (1024 * 1024)
    response = client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": document})
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()
    assert_nothing_saved(invited[0])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://127.0.0.1/metadata", "private, loopback or link-local address"),
        ("https://10.1.2.3/metadata", "private, loopback or link-local address"),
        ("https://[::1]/metadata", "private, loopback or link-local address"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local address"),
        ("http://idp.example.com/metadata", "must start with https://"),
    ],
    ids=["loopback", "private", "ipv6-loopback", "link-local", "http"],
)
def test_metadata_urls_that_are_not_public_https_are_refused(client, wizard_url, invited, url, words):
    response = client.post(wizard_url("idp-metadata"), {"method": "url", "metadata_url": url})
    assert response.status_code == 400
    html = response.content.decode()
    assert words in html
    assert f'value="{url}"' in html  # what was typed stays in the field
    assert "<details open>\n    <summary>Give the metadata URL" in html
    assert_nothing_saved(invited[0])


def test_a_metadata_url_is_required_for_that_method(client, wizard_url, invited):
    response = client.post(wizard_url("idp-metadata"), {"method": "url", "metadata_url": ""})
    assert response.status_code == 400
    assert "Give the metadata URL" in response.content.decode()


def test_values_typed_by_hand_are_saved(client, wizard_url, invited):
    connection, _token = invited
    pem = certificate_pem()
    response = client.post(
        wizard_url("idp-metadata"),
        {
            "method": "manual",
            "entity_id": "https://idp.example/metadata",
            "sso_url": "https://idp.example/sso",
            "certificate": pem,
        },
    )
    assert response.status_code == 303
    connection.refresh_from_db()
    assert connection.idp_entity_id == "https://idp.example/metadata"
    assert connection.idp_sso_url == "https://idp.example/sso"
    assert len(connection.idp_certificates) == 1


def test_values_typed_by_hand_need_all_three_and_a_real_certificate(client, wizard_url, invited):
    response = client.post(
        wizard_url("idp-metadata"), {"method": "manual", "entity_id": "", "sso_url": "", "certificate": ""}
    )
    assert response.status_code == 400
    html = response.content.decode()
    for words in ("Give the entity ID.", "Give the SSO URL.", "Paste the signing certificate."):
        assert words in html
    response = client.post(
        wizard_url("idp-metadata"),
        {
            "method": "manual",
            "entity_id": "https://idp.example/metadata",
            "sso_url": "https://idp.example/sso",
            "certificate": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
        },
    )
    assert response.status_code == 400
    assert "perhaps a private key" in response.content.decode()
    assert_nothing_saved(invited[0])


def test_metadata_url_fetch_uses_the_connection_service(client, wizard_url, invited, monkeypatch):
    """The URL goes through connections.services (SSRF rules, timeout, size cap): here its fetcher
    is replaced, to check what the wizard saves from it."""
    from connections import services

    document = metadata(certificate_pem())
    monkeypatch.setattr(
        services, "fetch_idp_metadata", lambda url: (document.encode(), services.parse_idp_metadata(document))
    )
    response = client.post(wizard_url("idp-metadata"), {"method": "url", "metadata_url": "https://idp.example/md"})
    assert response.status_code == 303
    connection = invited[0]
    connection.refresh_from_db()
    assert connection.idp_metadata_url == "https://idp.example/md"
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert "https://idp.example/md" in html and "What we understood" in html


def test_an_unreachable_metadata_url_is_explained(client, wizard_url, invited, monkeypatch):
    import socket

    def resolve(host, port, *args, **kwargs):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    response = client.post(
        wizard_url("idp-metadata"), {"method": "url", "metadata_url": "https://idp.nowhere.example/md"}
    )
    assert response.status_code == 400
    assert "could not be found" in response.content.decode()
    assert_nothing_saved(invited[0])


@pytest.mark.parametrize(
    ("certificates", "slo", "words"),
    [
        ([certificate_pem(days=-3)], True, "a expiré le"),
        ([certificate_pem(days=10)], True, "expire dans 9 jours"),
        ([(SAMPLES / "okta" / "okta_signing_cert_passport-saml_2014.pem").read_text()], True, "signé en SHA-1"),
        (
            [certificate_pem(), certificate_pem(common_name="next.idp.example")],
            True,
            "indique 2 certificats de signature",
        ),
        ([certificate_pem()], False, "aucun point de déconnexion unique"),
    ],
    ids=["expired", "expiring", "sha1", "several", "no-slo"],
)
def test_the_warnings_are_in_french_on_a_french_wizard(client, wizard_url, invited, certificates, slo, words):
    client.get(wizard_url("idp-metadata"), {"locale": "fr"})
    client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": metadata(*certificates, slo=slo)})
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert '<html lang="fr">' in html and "À vérifier" in html
    assert words in html or words.replace("9 jours", "10 jours") in html
    assert "Please check" not in html and "expired on" not in html and "signing certificates" not in html


@pytest.mark.parametrize(
    ("form", "french", "english"),
    [
        (
            {"method": "upload", "metadata_xml": "<md:EntityDescriptor"},
            "Les métadonnées ne sont pas du XML bien formé",
            "not well-formed XML",
        ),
        ({"method": "upload", "metadata_xml": "this is not xml"}, "Ce n\u2019est pas du XML.", "This is not XML"),
        (
            {"method": "upload", "metadata_xml": XXE},
            "Les métadonnées contiennent une déclaration DOCTYPE",
            "IdP metadata never needs one",
        ),
        (
            {"method": "upload", "metadata_xml": NO_CERTIFICATE},
            "aucun certificat de signature dans leur IDPSSODescriptor",
            "no signing certificate",
        ),
        (
            {"method": "url", "metadata_url": "https://10.1.2.3/metadata"},
            "mène à une adresse privée, de bouclage ou locale au lien (10.1.2.3)",
            "private, loopback or link-local",
        ),
        (
            {"method": "url", "metadata_url": "http://idp.example.com/metadata"},
            "L\u2019URL des métadonnées doit commencer par https://",
            "must start with https://",
        ),
        (
            {
                "method": "manual",
                "entity_id": "https://idp.example/metadata",
                "sso_url": "https://idp.example/sso",
                "certificate": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
            },
            "Ce n\u2019est pas un certificat (peut-être une clé privée)",
            "perhaps a private key",
        ),
    ],
    ids=["broken", "not-xml", "xxe", "no-certificate", "private-url", "http-url", "private-key"],
)
def test_bad_metadata_is_explained_in_french_on_a_french_wizard(client, wizard_url, invited, form, french, english):
    """The refusal of connections/saml/metadata.py reaches the French page as a French sentence (with the
    values involved in it), not as the English one the API answers with."""
    client.get(wizard_url("idp-metadata"), {"locale": "fr"})
    response = client.post(wizard_url("idp-metadata"), form)
    assert response.status_code == 400
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert french in html
    assert english not in html
    assert_nothing_saved(invited[0])


def test_an_unreachable_metadata_url_is_explained_in_french(client, wizard_url, invited, monkeypatch):
    import socket

    def resolve(host, port, *args, **kwargs):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    client.get(wizard_url("idp-metadata"), {"locale": "fr"})
    response = client.post(
        wizard_url("idp-metadata"), {"method": "url", "metadata_url": "https://idp.nowhere.example/md"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "L\u2019hôte « idp.nowhere.example » de l\u2019URL des métadonnées est introuvable." in html
    assert "could not be found" not in html
