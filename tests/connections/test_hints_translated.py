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
