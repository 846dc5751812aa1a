"""The refusal hints of connections/exceptions.py (and of every other SsoConnectionError: sign-in rules,
SAML views, single logout) speak the reader's language: every one has a French translation (a new hint
without one fails here), a hint made with the IdP's own words is translated around them, and the
end-user error page follows the browser's Accept-Language. The code, str(error) and the audit trail stay
in English."""

import re

import pytest
from django.urls import get_resolver
from django.utils import translation
from django.utils.functional import Promise

from applications.services import application_create
from connections import exceptions, sign_in
from connections.saml import logout as saml_logout
from connections.saml import views as saml_views
from connections.services import connection_create, connection_update
from cryptr_sso.models import AuditEvent
from tests.connections.saml.idp import TestIdp, post


def _every_error() -> list[type[exceptions.SsoConnectionError]]:
    """SsoConnectionError and every subclass the gateway defines, wherever: loading the URLconf imports
    each view module, and with them each module that defines an error."""
    get_resolver().url_patterns  # noqa: B018 (imports the views)
    found, todo = {exceptions.SsoConnectionError}, [exceptions.SsoConnectionError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if not sub.__module__.startswith("tests.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted(found, key=lambda klass: f"{klass.__module__}.{klass.__name__}")


ERRORS = _every_error()
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_the_errors_this_test_walks_include_every_module_that_defines_one():
    assert len(ERRORS) > 55
    for klass in (
        exceptions.SsoConnectionError,
        exceptions.WrongAudience,
        exceptions.EmailNotVerified,
        sign_in.MissingEmail,
        saml_views.InvalidNextUrl,
        saml_logout.LogoutExpired,
    ):
        assert klass in ERRORS


@pytest.mark.parametrize("klass", ERRORS, ids=lambda klass: f"{klass.__module__}.{klass.__name__}")
def test_every_hint_is_translated_into_french(klass):
    assert isinstance(klass.hint, Promise), f"{klass.__name__}.hint must be gettext_lazy(...), not a plain string"
    with translation.override("en"):
        english = str(klass.hint)
    with translation.override("fr"):
        french = str(klass.hint)
    assert french != english, f"{klass.__name__}.hint has no French translation in locale/fr"
    assert PLACEHOLDER.findall(french) == PLACEHOLDER.findall(english)


@pytest.mark.parametrize("klass", ERRORS, ids=lambda klass: f"{klass.__module__}.{klass.__name__}")
def test_the_code_and_the_exception_text_do_not_change_with_the_language(klass):
    with translation.override("fr"):
        error = klass(detail="technical reason")
        assert error.code == klass.code
        assert str(error) == f"{error.english_hint} (technical reason)"
        assert str(error.hint) != error.english_hint
    with translation.override("en"):
        assert error.english_hint == str(error.hint)


def test_the_idps_own_status_message_is_kept_inside_the_french_sentence():
    error = exceptions.IdpStatusError(status_code="RequestDenied", status_message="User is not assigned")
    with translation.override("fr"):
        assert str(error.hint) == (
            "L\u2019IdP a refusé la connexion (RequestDenied) : « User is not assigned ». "
            "Vérifiez que la personne est affectée à cette application dans l\u2019IdP."
        )
    assert error.english_hint == (
        "The IdP refused the sign-in (RequestDenied): “User is not assigned”. Check that "
        "the user is assigned to this application in the IdP."
    )
    with translation.override("fr"):
        assert "aucun code de statut" in str(exceptions.IdpStatusError().hint)
        # A value that looks like a format string is shown as it came, never interpreted.
        odd = exceptions.IdpStatusError(status_code="%(said)s", status_message="100% %(status)s")
        assert "(%(said)s) : « 100% %(status)s »" in str(odd.hint)


def test_the_oidc_providers_error_is_kept_inside_the_french_sentence():
    error = exceptions.OidcIdpRefused(error="access_denied", description="The user canceled")
    with translation.override("fr"):
        hint = str(error.hint)
    assert hint.startswith(
        "Le fournisseur d\u2019identité a refusé la connexion (access_denied) : « The user canceled »."
    )
    assert error.english_hint.startswith("The identity provider refused the sign-in (access_denied): “The user")
    with translation.override("fr"):
        assert "(aucun code d\u2019erreur)" in str(exceptions.OidcIdpRefused().hint)


# --- the end user's error page ------------------------------------------------------------------------------


@pytest.fixture
def active_connection(org, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.BASE_URL = "http://testserver"
    application, _secret = application_create(
        organization=org,
        name="Misapret Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.misapret.example/callback"],
    )
    connection = connection_create(organization=org, application=application, provider_type="okta")
    return connection_update(
        connection=connection,
        data={
            "saml_config": {"idp_metadata_xml": TestIdp("a").metadata()},
            "bypass_it_admin_test": True,
            "active": True,
            "allow_idp_initiated": True,
        },
    )


def _refused_by_the_idp(client, connection, **headers):
    answer = TestIdp("a").error_response(message="User is not assigned to this application", in_response_to=None)
    return client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": post(answer)}, **headers)


@pytest.mark.django_db
def test_the_sso_error_page_is_in_french_for_a_french_browser(client, active_connection):
    response = _refused_by_the_idp(client, active_connection, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    assert response.status_code == 403
    assert response["Content-Language"] == "fr"
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Votre connexion n\u2019a pas pu aboutir" in html
    assert "Pour votre administrateur informatique" in html
    # The hint, translated around the IdP's own words, and the code unchanged.
    assert "L\u2019IdP a refusé la connexion (RequestDenied) : « User is not assigned to this application »" in html
    assert "Vérifiez que la personne est affectée à cette application dans l\u2019IdP." in html
    assert "<code>saml_idp_status</code>" in html
    assert "The IdP refused" not in html
    # The audit trail keeps the English sentence, whatever the reader's language.
    event = AuditEvent.objects.filter(data__error="saml_idp_status").latest("inserted_at")
    assert "The IdP refused the sign-in (RequestDenied)" in str(event.data)


@pytest.mark.django_db
def test_the_sso_error_page_stays_english_for_an_english_browser(client, active_connection):
    for headers in ({"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}, {}):
        response = _refused_by_the_idp(client, active_connection, **headers)
        assert response.status_code == 403
        html = response.content.decode()
        assert '<html lang="en">' in html
        assert "The IdP refused the sign-in (RequestDenied): “User is not assigned to this application”" in html
        assert "L\u2019IdP" not in html


# --- hints made at the raise: SAML configuration, OIDC fetch and discovery, IdP metadata ---------------------

RUNTIME_MODULES = (
    "connections/saml/config.py",
    "connections/saml/metadata.py",
    "connections/oidc/http.py",
    "connections/oidc/discovery.py",
)
RAISED = {"SamlConfigurationError", "OidcFetchError", "OidcDiscoveryError", "OidcError", "MetadataError"}


def _calls(path: str):
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[2] / path).read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]


@pytest.mark.parametrize("path", RUNTIME_MODULES)
def test_no_hint_is_raised_as_a_plain_english_string(path):
    """A sentence given at the raise is a gettext_lazy (filled in after translation), never an f-string or a
    literal: those would reach a French page in English."""
    import ast

    plain = [
        f"{path}:{call.lineno}"
        for call in _calls(path)
        if call.func.id in RAISED and call.args and isinstance(call.args[0], ast.JoinedStr | ast.Constant)
    ]
    assert plain == []


@pytest.mark.parametrize("path", RUNTIME_MODULES)
def test_every_sentence_of_these_modules_has_a_french_translation(path):
    import ast

    sentences = [
        call.args[0].value
        for call in _calls(path)
        if call.func.id == "_" and call.args and isinstance(call.args[0], ast.Constant)
    ]
    assert len(sentences) >= 5
    for english in sentences:
        with translation.override("fr"):
            french = translation.gettext(english)
        assert french != english, f"no French for {english!r} ({path})"
        assert sorted(PLACEHOLDER.findall(french)) == sorted(PLACEHOLDER.findall(english)), english


def test_an_oidc_fetch_refusal_names_the_document_in_french_and_stays_english_for_the_logs():
    from connections.oidc.http import check_https_url

    with pytest.raises(exceptions.OidcFetchError) as refused:
        check_https_url("https://user:secret@idp.example/token", "token endpoint")
    with translation.override("fr"):
        assert str(refused.value.hint) == (
            "L\u2019adresse (point de terminaison de jeton (token endpoint)) ne doit "
            "contenir ni nom d\u2019utilisateur ni mot de passe."
        )
        assert refused.value.english_hint == "The token endpoint must not contain a user name or password."
        assert str(refused.value) == "The token endpoint must not contain a user name or password. (userinfo)"


def test_a_discovery_refusal_keeps_the_values_inside_the_french_sentence():
    from connections.oidc.discovery import _endpoint

    with pytest.raises(exceptions.OidcDiscoveryError) as refused:
        _endpoint({"jwks_uri": "http://idp.example/keys"}, "jwks_uri", required=True)
    with translation.override("fr"):
        assert str(refused.value.hint) == (
            "L\u2019adresse « http://idp.example/keys » (jwks_uri du document de "
            "découverte) doit être une URL https://."
        )
    assert refused.value.english_hint == (
        "The jwks_uri of the discovery document 'http://idp.example/keys' must be an https:// URL."
    )


def test_a_saml_configuration_refusal_is_french_on_a_french_page():
    from connections.saml.config import build_sp_config
    from tests.connections.saml.idp import sp_settings

    settings = sp_settings(idp_entity_id="https://another-idp.example", idp_metadata_xml=TestIdp("a").metadata())
    with translation.override("fr"), pytest.raises(exceptions.SamlConfigurationError) as refused:
        build_sp_config(settings)
    with translation.override("fr"):
        assert str(refused.value.hint).startswith("L\u2019entity ID de l\u2019IdP configuré sur la connexion")
    assert refused.value.english_hint.startswith("The IdP entity ID of the connection does not match")


def test_a_metadata_refusal_is_french_in_its_hint_and_english_in_its_message():
    from connections.saml.metadata import MetadataError, parse_idp_metadata

    document = (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        + "".join(
            f'<md:EntityDescriptor entityID="https://idp-{n}.example"><md:IDPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>'
            for n in (1, 2)
        )
        + "</md:EntitiesDescriptor>"
    )
    with translation.override("fr"), pytest.raises(MetadataError) as refused:
        parse_idp_metadata(document)
    error = refused.value
    assert error.code == "several_idps"
    with translation.override("fr"):
        assert str(error.hint).startswith(
            "Les métadonnées décrivent 2 fournisseurs d\u2019identité (https://idp-1.example, https://idp-2.example)."
        )
        assert error.message.startswith("The metadata describes 2 identity providers (https://idp-1.example, ")
        assert str(error) == error.message


@pytest.mark.django_db
def test_the_discovery_refresh_records_its_refusal_in_english_whatever_the_language(org, settings):
    from applications.services import application_create
    from connections import tasks
    from connections.models import SSOConnection

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = settings.SAML_METADATA_ALLOW_PRIVATE_URLS = False
    application, _secret = application_create(
        organization=org,
        name="Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.misapret.example/cb"],
    )
    connection = connection_create(organization=org, application=application, protocol="oidc")
    SSOConnection.objects.filter(pk=connection.pk).update(oidc_issuer="https://10.1.2.3/realms/acme")
    with translation.override("fr"):
        assert tasks.refresh_connection_discovery(connection_id=connection.id) == "failed"
    event = AuditEvent.objects.get(type="connection.metadata_refresh_failed")
    assert event.data["error"] == "oidc_idp_unreachable"
    assert event.data["reason"] == (
        "The discovery document points to a private, loopback or link-local address (10.1.2.3), which the gateway "
        "does not call. Give the IdP's public https URL."
    )
