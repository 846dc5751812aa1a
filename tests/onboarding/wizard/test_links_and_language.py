"""Links that no longer open the wizard say what to do; the wizard speaks English and French."""

from datetime import timedelta

import pytest
from django.utils import timezone

from onboarding.models import OnboardingInvitation
from onboarding.services import onboarding_invite

pytestmark = pytest.mark.django_db


def test_an_expired_link_says_to_ask_the_application_for_a_new_one(client, invited):
    connection, token = invited
    OnboardingInvitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    for page in ("", "choose-provider", "test-result", "done", "sp-certificate.pem"):
        response = client.get(f"/onboarding/{token}/{page}")
        assert response.status_code == 410
        html = response.content.decode()
        assert "This setup link has expired" in html
        assert f"Ask {connection.application.name} for a new link" in html


def test_a_revoked_link_says_a_newer_one_was_sent(client, invited):
    connection, token = invited
    _invitation, new_token = onboarding_invite(connection=connection)
    response = client.get(f"/onboarding/{token}/")
    assert response.status_code == 410
    html = response.content.decode()
    assert "no longer valid" in html and "only the most recent one works" in html
    assert f"Ask {connection.application.name} for a new link" in html
    assert client.get(f"/onboarding/{new_token}/").status_code == 302


def test_a_revoked_link_cannot_save_anything(client, invited):
    connection, token = invited
    onboarding_invite(connection=connection)
    response = client.post(f"/onboarding/{token}/choose-provider", {"provider_type": "okta"})
    assert response.status_code == 410
    connection.refresh_from_db()
    assert connection.provider_type == "unset"


def test_an_unknown_link_names_nobody(client, invited):
    response = client.get("/onboarding/not-a-real-token/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This setup link is not valid" in html
    assert "whole link" in html
    assert invited[0].application.name not in html


def test_french_from_the_locale_parameter_is_kept_for_the_next_pages(client, wizard_url, invited):
    response = client.get(wizard_url("choose-provider"), {"locale": "fr"})
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Choisissez votre fournisseur d\u2019identité" in html
    assert response["Content-Language"] == "fr"
    html = client.get(wizard_url("create-app")).content.decode()
    assert '<html lang="fr">' in html and "Nos valeurs" in html
    html = client.get(wizard_url("create-app"), {"locale": "en"}).content.decode()
    assert '<html lang="en">' in html and "Our values" in html


def test_french_from_the_browser(client, wizard_url, invited):
    html = client.get(wizard_url("idp-metadata"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="fr">' in html
    assert "Donnez-nous les métadonnées de votre fournisseur d\u2019identité" in html


def test_french_errors_and_guides(client, wizard_url, invited):
    client.get(wizard_url("choose-provider"), {"locale": "fr"})
    html = client.post(wizard_url("choose-provider"), {}).content.decode()
    assert "Il y a un problème" in html
    client.post(wizard_url("choose-provider"), {"provider_type": "okta"})
    html = client.get(wizard_url("create-app")).content.decode()
    assert "Dans la console d\u2019administration Okta" in html
    assert "Create App Integration" in html  # the console's own words stay as the console shows them


def test_french_link_pages(client, invited):
    connection, token = invited
    OnboardingInvitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    html = client.get(f"/onboarding/{token}/", {"locale": "fr"}).content.decode()
    assert "Ce lien de configuration a expiré" in html
    assert f"Demandez un nouveau lien à {connection.application.name}" in html


def test_the_language_links_are_on_every_page(client, wizard_url, invited):
    html = client.get(wizard_url("activate")).content.decode()
    assert 'href="' + wizard_url("activate") + '?locale=fr" lang="fr" hreflang="fr"' in html
