"""Each step of the wizard through Django's test client: GET renders it, POST saves it and moves on;
resume from the link; back and forth keeps what was typed."""

import pytest
from django.utils.html import escape

from onboarding.models import AdminOnboarding
from onboarding.steps import STEPS, progress

pytestmark = pytest.mark.django_db


def onboarding_of(connection) -> AdminOnboarding:
    return AdminOnboarding.objects.select_related("connection").get(connection=connection)


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.key)
def test_every_step_renders_with_the_progress_list(client, wizard_url, step):
    response = client.get(wizard_url(step.slug))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/onboarding/{wizard_url("")[12:-1]}/{step.slug}" aria-current="step"' in html
    assert html.count('aria-current="step"') == 1
    assert '<meta name="viewport"' in html
    assert escape(str(step.title)) in html


def test_link_opens_the_first_step(client, wizard_url):
    response = client.get(wizard_url())
    assert response.status_code == 302
    assert response["Location"] == wizard_url("choose-provider")


def test_choose_provider_requires_a_choice_and_says_so(client, wizard_url, invited):
    response = client.post(wizard_url("choose-provider"), {})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error-summary" role="alert"' in html
    assert "Choose your identity provider" in html
    assert 'href="#id_provider_type"' in html  # the summary links to the field
    assert "autofocus" in html


def test_choosing_a_provider_sets_the_connection_and_its_default_mapping(client, wizard_url, invited):
    connection, _token = invited
    response = client.post(wizard_url("choose-provider"), {"provider_type": "azure_ad"})
    assert response.status_code == 303
    assert response["Location"] == wizard_url("create-app")
    connection.refresh_from_db()
    assert connection.provider_type == "azure_ad"
    assert connection.attribute_mapping["email"].endswith("/claims/emailaddress")
    onboarding = onboarding_of(connection)
    assert onboarding.provider_type == "azure_ad"
    assert onboarding.state == "in_progress"
    assert progress(onboarding)["steps"][0] == {"key": "choose_provider", "done": True}


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        (
            "azure_ad",
            [
                "Enterprise applications",
                "Create your own application",
                "Reply URL (Assertion Consumer Service URL)",
                "Identifier (Entity ID)",
            ],
        ),
        ("okta", ["Create App Integration", "SAML 2.0", "Single sign-on URL", "Audience URI (SP Entity ID)"]),
        ("google", ["Web and mobile apps", "Add custom SAML app", "ACS URL"]),
        ("adfs", ["Relying Party Trusts", "Add Relying Party Trust", "Federation metadata address"]),
        ("ping_federate", ["SP Connections", "Assertion Consumer Service URL"]),
        ("ping_one", ["Connections", "Applications", "ACS URLs"]),
        ("generic_saml", ["Assertion Consumer Service (ACS) URL"]),
    ],
)
def test_the_guide_is_written_for_the_chosen_provider_with_our_values(client, wizard_url, invited, provider, words):
    connection, _token = invited
    client.post(wizard_url("choose-provider"), {"provider_type": provider})
    html = client.get(wizard_url("create-app")).content.decode()
    for word in words:
        assert word in html
    assert f"http://testserver/sso/sp/consume/{connection.id}" in html
    assert f"http://testserver/sso/sp/metadata/{connection.id}" in html
    assert f"http://testserver/sso/sp/logout/{connection.id}" in html
    assert "-----BEGIN CERTIFICATE-----" in html
    assert "EntityDescriptor" in html  # the metadata XML, shown and downloadable
    assert f"/sso/sp/metadata/{connection.id}?download=1" in html
    assert 'class="copy' in html and " hidden " in html  # copy buttons appear only with JavaScript


def test_certificate_download(client, wizard_url, invited):
    connection, _token = invited
    response = client.get(wizard_url("sp-certificate.pem"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="sp-certificate-{connection.id}.pem"'
    assert response.content.startswith(b"-----BEGIN CERTIFICATE-----")


def test_create_app_step_moves_on(client, wizard_url, invited):
    response = client.post(wizard_url("create-app"), {"nav": "next"})
    assert response.status_code == 303 and response["Location"] == wizard_url("idp-metadata")
    assert "create_app" in onboarding_of(invited[0]).steps_done


def test_attribute_mapping_is_prefilled_with_the_providers_defaults(client, wizard_url, invited):
    client.post(wizard_url("choose-provider"), {"provider_type": "ping_federate"})
    html = client.get(wizard_url("attribute-mapping")).content.decode()
    assert 'name="email" value="email"' in html
    assert 'name="given_name" value="firstname"' in html
    assert 'name="family_name" value="lastname"' in html
    assert "<fieldset>" in html and "<legend>" in html


def test_attribute_mapping_is_saved_on_the_connection(client, wizard_url, invited):
    connection, _token = invited
    client.post(wizard_url("choose-provider"), {"provider_type": "okta"})
    response = client.post(
        wizard_url("attribute-mapping"), {"email": "mail", "given_name": "first", "family_name": "last"}
    )
    assert response.status_code == 303 and response["Location"] == wizard_url("test-login")
    connection.refresh_from_db()
    assert connection.attribute_mapping == {"email": "mail", "given_name": "first", "family_name": "last"}


def test_attribute_mapping_requires_the_email_attribute(client, wizard_url, invited):
    response = client.post(wizard_url("attribute-mapping"), {"email": "", "given_name": "a", "family_name": "b"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert 'aria-describedby="id_email_error"' in response.content.decode()


def test_the_link_resumes_where_the_admin_left(client, wizard_url, invited):
    client.post(wizard_url("choose-provider"), {"provider_type": "okta"})
    client.post(wizard_url("create-app"), {"nav": "next"})
    client.get(wizard_url("idp-metadata"))
    # Another day, another browser.
    client.cookies.clear()
    response = client.get(wizard_url())
    assert response["Location"] == wizard_url("idp-metadata")


def test_going_back_keeps_what_was_typed_without_checking_it(client, wizard_url, invited):
    client.post(wizard_url("choose-provider"), {"provider_type": "okta"})
    response = client.post(
        wizard_url("attribute-mapping"), {"nav": "back", "email": "", "given_name": "prenom", "family_name": "nom"}
    )
    assert response.status_code == 303 and response["Location"] == wizard_url("idp-metadata")
    html = client.get(wizard_url("attribute-mapping")).content.decode()
    assert 'name="given_name" value="prenom"' in html
    assert 'name="family_name" value="nom"' in html
    # ...and the connection did not change until the step is saved.
    connection = invited[0]
    connection.refresh_from_db()
    assert connection.attribute_mapping["given_name"] == "firstName"


def test_metadata_typed_by_hand_is_kept_when_going_back_and_forth(client, wizard_url, invited):
    client.post(
        wizard_url("idp-metadata"),
        {
            "method": "manual",
            "nav": "back",
            "entity_id": "https://idp.example/x",
            "sso_url": "https://idp.example/sso",
            "certificate": "",
        },
    )
    html = client.get(wizard_url("idp-metadata")).content.decode()
    assert 'value="https://idp.example/x"' in html
    assert 'value="https://idp.example/sso"' in html
    assert "<details open>\n    <summary>Type the values by hand" in html


def test_choice_is_shown_again_when_coming_back(client, wizard_url, invited):
    client.post(wizard_url("choose-provider"), {"provider_type": "google"})
    html = client.get(wizard_url("choose-provider")).content.decode()
    assert 'value="google" id="id_provider_type_3" checked' in html or ('value="google"' in html and "checked" in html)
