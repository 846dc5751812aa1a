"""The wizard's "create the application in your IdP" step of the OpenID Connect path shows our sign-out
(post-logout) redirect URI beside the redirect URI, with the same copy button, and the consoles' field for
it; not for Google, which has no sign-out for other applications."""

import pytest


def choose(client, wizard_url, provider_type):
    response = client.post(wizard_url("choose-provider"), {"provider_type": provider_type})
    assert response.status_code == 303, response.content[:2000]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "their_field"),
    [
        ("okta_oidc", "Sign-out redirect URIs"),
        ("entra_id_oidc", "Redirect URIs (Web)"),
        ("ping_one_oidc", "Signoff URLs"),
        ("generic_oidc", "Post-logout redirect URI (if there is one)"),
    ],
)
def test_create_app_shows_our_post_logout_redirect_uri_to_copy(client, wizard_url, invited, provider, their_field):
    connection, _token = invited
    choose(client, wizard_url, provider)
    html = client.get(wizard_url("create-app")).content.decode()
    logout_uri = f"http://testserver/sso/oidc/logout/callback/{connection.id}"
    value = f'<code class="copy-source">{logout_uri}</code>'
    # In the "our values" box with its label and copy button, and in the console's table.
    assert html.count(value) == 2, html
    box = html.split('id="redirect-title"', 1)[1].split("</section>", 1)[0]
    assert value in box and "Sign-out redirect URI" in box and 'Copy<span class="sr-only"> Sign-out' in box
    assert their_field in html


@pytest.mark.django_db
def test_google_has_no_post_logout_redirect_uri_to_register(client, wizard_url, invited):
    connection, _token = invited
    choose(client, wizard_url, "google_oidc")
    html = client.get(wizard_url("create-app")).content.decode()
    assert f"/sso/oidc/callback/{connection.id}" in html
    assert "/sso/oidc/logout/callback/" not in html and "Sign-out redirect URI" not in html


@pytest.mark.django_db
def test_the_post_logout_redirect_uri_is_explained_in_french(client, wizard_url, invited):
    choose(client, wizard_url, "okta_oidc")
    html = client.get(wizard_url("create-app") + "?locale=fr").content.decode()
    assert "URI de redirection après déconnexion" in html
    assert "Sign-out redirect URI" not in html.split('id="redirect-title"', 1)[1].split("</section>", 1)[0]
