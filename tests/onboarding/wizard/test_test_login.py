"""The live test login: the wizard arms a test for this browser, /sso/start accepts the inactive
connection for it, the ACS checks the IdP's response like any other but signs nobody in, and the
wizard shows what arrived (or exactly why it was refused). Then activation."""

from importlib import import_module
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from connections.login_session import SESSION_KEY
from cryptr_sso.models import AuditEvent
from onboarding.models import AdminOnboarding
from organizations.models import Identity, User
from tests.connections.saml.idp import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(client, wizard_url, invited, test_idp):
    """A connection with the test IdP's metadata, through the wizard, not active."""
    connection, token = invited
    client.post(wizard_url("choose-provider"), {"provider_type": "okta"})
    response = client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": test_idp.metadata()})
    assert response.status_code == 303
    connection.refresh_from_db()
    assert not connection.active
    return connection, token


def saml_session(client):
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return store(session_key=client.cookies["saml_session"].value)


def start_test(client, wizard_url) -> str:
    """Press "Start the test login", follow to /sso/start; returns the AuthnRequest id we sent."""
    response = client.post(wizard_url("test-login"), {"nav": "next"})
    assert response.status_code == 303
    location = response["Location"]
    parts = urlsplit(location)
    assert parts.path.startswith("/sso/start/")
    assert parse_qs(parts.query)["next"] == [wizard_url("test-result")]
    response = client.get(location)
    assert response.status_code == 200  # the test IdP takes HTTP-POST: an auto-submitting form to it
    outstanding = saml_session(client)["_saml2_outstanding_queries"]
    [(request_id, came_from)] = outstanding.items()
    assert came_from == wizard_url("test-result")
    return request_id


def idp_answer(test_idp, connection, request_id, **changes) -> str:
    values = {
        "audience": f"http://testserver/sso/sp/metadata/{connection.id}",
        "recipient": f"http://testserver/sso/sp/consume/{connection.id}",
        "destination": f"http://testserver/sso/sp/consume/{connection.id}",
        "in_response_to": request_id,
    }
    values.update(changes)
    return post(test_idp.response(**values))


def test_a_test_login_shows_the_attributes_and_signs_nobody_in(client, wizard_url, configured, test_idp):
    connection, _token = configured
    request_id = start_test(client, wizard_url)
    response = client.post(
        f"/sso/sp/consume/{connection.id}", {"SAMLResponse": idp_answer(test_idp, connection, request_id)}
    )
    assert response.status_code == 302
    assert response["Location"] == wizard_url("test-result")

    html = client.get(wizard_url("test-result")).content.decode()
    assert "The test login worked" in html
    assert "jane.doe@acme.test" in html  # the NameID
    for name, value in (("firstName", "Jane"), ("lastName", "Doe"), ("groups", "admins, staff")):
        assert f"<code>{name}</code>" in html and value in html
    assert "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" in html

    connection.refresh_from_db()
    assert connection.last_successful_test_at is not None
    onboarding = AdminOnboarding.objects.get(connection=connection)
    assert "test_login" in onboarding.steps_done and onboarding.state == "tested"
    # Nobody was provisioned or signed in.
    assert not User.objects.exists() and not Identity.objects.exists()
    assert SESSION_KEY not in client.session
    # The result stays on the page (a reload, or coming back later).
    assert "The test login worked" in client.get(wizard_url("test-result")).content.decode()


def test_a_refused_test_login_says_exactly_why_and_what_to_change(client, wizard_url, configured, test_idp):
    connection, _token = configured
    request_id = start_test(client, wizard_url)
    answer = idp_answer(test_idp, connection, request_id, audience="https://wrong.example/sp")
    response = client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": answer})
    assert response["Location"] == wizard_url("test-result")
    html = client.get(wizard_url("test-result")).content.decode()
    assert "The test login was refused" in html
    assert "saml_wrong_audience" in html
    assert "Audience URI" in html  # the hint, from connections.exceptions
    assert f"http://testserver/sso/sp/metadata/{connection.id}" in html  # the value to put in the IdP
    connection.refresh_from_db()
    assert connection.last_successful_test_at is None
    # The activation is still refused.
    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 400
    connection.refresh_from_db()
    assert not connection.active


def test_a_response_without_email_fails_the_test_like_it_would_fail_a_sign_in(client, wizard_url, configured, test_idp):
    connection, _token = configured
    request_id = start_test(client, wizard_url)
    answer = idp_answer(test_idp, connection, request_id, name_id="opaque-123", attributes={"firstName": ["Jane"]})
    client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": answer})
    html = client.get(wizard_url("test-result")).content.decode()
    assert "missing_email" in html
    assert f'href="{wizard_url("attribute-mapping")}"' in html


def test_an_inactive_connection_refuses_a_login_that_is_not_the_wizards_test(client, configured, wizard_url):
    connection, _token = configured
    response = client.get(f"/sso/start/{connection.id}", {"next": "/t/misapret/oauth2/authorize"})
    assert response.status_code == 403
    assert "not active" in response.content.decode()
    # Even with a test armed in this browser, another return path does not pass.
    client.post(wizard_url("test-login"), {"nav": "next"})
    response = client.get(f"/sso/start/{connection.id}", {"next": "/t/misapret/oauth2/authorize"})
    assert response.status_code == 403


def test_the_test_marker_expires(client, configured, wizard_url, settings, monkeypatch):
    connection, _token = configured
    client.post(wizard_url("test-login"), {"nav": "next"})
    from connections import admin_test_login

    monkeypatch.setattr(admin_test_login, "MARKER_MAX_AGE", -1)
    response = client.get(f"/sso/start/{connection.id}", {"next": wizard_url("test-result")})
    assert response.status_code == 403


def test_a_response_to_another_request_on_an_inactive_connection_signs_nobody_in(
    client, wizard_url, configured, test_idp
):
    """A marker is armed, but the response answers a request sent for an ordinary sign-in: refused,
    nobody provisioned (the marker alone never opens an inactive connection)."""
    connection, _token = configured
    start_test(client, wizard_url)
    store = saml_session(client)
    store["_saml2_outstanding_queries"] = {**store["_saml2_outstanding_queries"], "id-other": "/t/misapret/x"}
    store.save()
    answer = idp_answer(test_idp, connection, "id-other")
    response = client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": answer})
    assert response.status_code == 403
    assert not User.objects.exists()


def test_activation_is_refused_before_a_test_login_and_allowed_after(client, wizard_url, configured, test_idp):
    connection, _token = configured
    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 400
    assert "Run a successful test login first" in response.content.decode()
    connection.refresh_from_db()
    assert not connection.active

    request_id = start_test(client, wizard_url)
    client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": idp_answer(test_idp, connection, request_id)})
    client.get(wizard_url("test-result"))
    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 303 and response["Location"] == wizard_url("done")
    connection.refresh_from_db()
    assert connection.active
    html = client.get(wizard_url("done")).content.decode()
    assert "Done: single sign-on is on" in html
    onboarding = AdminOnboarding.objects.get(connection=connection)
    assert onboarding.state == "completed"
    assert set(onboarding.steps_done) >= {"test_login", "activate"}
    # The link now opens the "done" page.
    assert client.get(wizard_url())["Location"] == wizard_url("done")


def test_activation_without_test_when_the_operator_bypassed_it(client, wizard_url, configured):
    connection, _token = configured
    type(connection).objects.filter(pk=connection.pk).update(bypass_it_admin_test=True)
    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 303
    connection.refresh_from_db()
    assert connection.active


def test_activation_needs_the_idp_metadata(client, wizard_url, invited):
    connection, _token = invited
    type(connection).objects.filter(pk=connection.pk).update(bypass_it_admin_test=True)
    response = client.post(wizard_url("activate"), {"nav": "next"})
    assert response.status_code == 400
    assert "metadata first" in response.content.decode()


def test_the_test_step_asks_for_the_metadata_first(client, wizard_url, invited):
    response = client.post(wizard_url("test-login"), {"nav": "next"})
    assert response.status_code == 400
    assert "metadata first" in response.content.decode()


def test_a_test_login_on_an_active_connection_still_signs_nobody_in(client, wizard_url, configured, test_idp):
    connection, _token = configured
    type(connection).objects.filter(pk=connection.pk).update(active=True, bypass_it_admin_test=True)
    request_id = start_test(client, wizard_url)
    response = client.post(
        f"/sso/sp/consume/{connection.id}", {"SAMLResponse": idp_answer(test_idp, connection, request_id)}
    )
    assert response["Location"] == wizard_url("test-result")
    assert not User.objects.exists()
    assert SESSION_KEY not in client.session


def test_a_person_the_organization_refuses_fails_the_test_with_what_arrived(client, wizard_url, configured, test_idp):
    connection, _token = configured
    type(connection.organization).objects.filter(pk=connection.organization_id).update(
        allowed_email_domains=["misapret.example"]
    )
    request_id = start_test(client, wizard_url)
    client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": idp_answer(test_idp, connection, request_id)})
    html = client.get(wizard_url("test-result")).content.decode()
    assert "The test login was refused" in html and "email_domain_not_allowed" in html
    assert "jane.doe@acme.test" in html  # what the IdP sent, to see why
    assert "Run the test login again" in html
    assert not User.objects.exists()


# --- in the wizard's language: French on a French wizard (?locale=fr) even when the browser that came back
# through the ACS asked for nothing, English again when the admin switches; the audit trail stays English.


def test_a_refused_test_login_shows_the_french_hint_on_a_french_wizard(client, wizard_url, configured, test_idp):
    connection, _token = configured
    client.get(wizard_url("test-login"), {"locale": "fr"})  # the admin picks French; the browser says nothing
    request_id = start_test(client, wizard_url)
    answer = idp_answer(test_idp, connection, request_id, audience="https://wrong.example/sp")
    response = client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": answer})
    assert response["Location"] == wizard_url("test-result")

    html = client.get(wizard_url("test-result")).content.decode()
    assert '<html lang="fr">' in html
    assert "La connexion de test a été refusée" in html
    assert (
        "L\u2019Audience de l\u2019assertion n\u2019est pas l\u2019entity ID SP de cette connexion SSO. Dans "
        "l\u2019IdP, réglez l\u2019Audience URI (SP Entity ID / Identifier)"
    ) in html
    assert "saml_wrong_audience" in html
    assert "The assertion's Audience" not in html and "The assertion&#x27;s Audience" not in html

    # The admin switches the wizard to English: the same result, in English.
    html = client.get(wizard_url("test-result"), {"locale": "en"}).content.decode()
    assert "The assertion&#x27;s Audience is not this connection&#x27;s SP entity ID" in html
    assert "L\u2019Audience" not in html

    event = AuditEvent.objects.get(type="connection.tested")
    assert event.data["error"] == "saml_wrong_audience"
    assert event.data["reason"].startswith("The assertion's Audience is not this connection's SP entity ID.")


def test_the_idps_refusal_is_explained_in_french_around_its_own_words(client, wizard_url, configured, test_idp):
    connection, _token = configured
    client.get(wizard_url("test-login"), {"locale": "fr"})
    request_id = start_test(client, wizard_url)
    answer = test_idp.error_response(message="User is not assigned to this application", in_response_to=request_id)
    client.post(f"/sso/sp/consume/{connection.id}", {"SAMLResponse": post(answer)})
    html = client.get(wizard_url("test-result")).content.decode()
    assert (
        "L\u2019IdP a refusé la connexion (RequestDenied) : « User is not assigned to this application ». "
        "Vérifiez que la personne est affectée à cette application dans l\u2019IdP."
    ) in html
    assert "saml_idp_status" in html
