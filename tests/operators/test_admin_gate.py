"""No admin page without the second factor, and no way around allauth's sign-in."""

import pytest
from django.core import mail
from django.urls import reverse

from .helpers import (
    PASSWORD,
    give_totp,
    is_signed_in,
    make_operator,
    page_text,
    second_factors,
    sign_in_proving_email,
    sign_in_with_password,
    submit_mfa_code,
    totp_code,
)

ADMIN_URLS = [
    ("admin:index", []),
    ("admin:organizations_organization_changelist", []),
    ("admin:organizations_apikey_add", []),
    ("admin:connections_ssoconnection_changelist", []),
    ("admin:auth_user_changelist", []),
    ("admin:auth_user_change", ["{pk}"]),
    ("admin:password_change", []),
    ("admin:jsi18n", []),
]


def admin_urls(user):
    return [reverse(name, args=[arg.format(pk=user.pk) for arg in args]) for name, args in ADMIN_URLS]


def test_the_admin_login_page_sends_to_allauths_login(client, db):
    response = client.get(reverse("admin:login"), {"next": "/admin/organizations/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2Forganizations%2F"


@pytest.mark.parametrize("with_totp", [True, False])
def test_posting_a_good_password_to_the_admin_login_signs_nobody_in(client, operator, with_totp):
    if with_totp:
        give_totp(operator)
    response = client.post(
        reverse("admin:login"), {"username": operator.username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not is_signed_in(client)
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))


def test_the_admin_login_refuses_an_offsite_next(client, db):
    response = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2F"


def test_after_the_password_alone_every_admin_url_leads_to_the_mfa_step(client, totp_operator):
    response = sign_in_with_password(client, "alice", next_url="/admin/")
    assert response["Location"] == reverse("mfa_authenticate")
    assert not is_signed_in(client)
    for url in admin_urls(totp_operator):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("mfa_authenticate"), url
    # The admin login, GET or POST, leads there too.
    assert client.get(reverse("admin:login"))["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("admin:login"), {"username": "alice", "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert not is_signed_in(client)


def test_the_totp_code_opens_the_admin(client, totp_operator):
    sign_in_with_password(client, "alice", next_url="/admin/organizations/")
    response = submit_mfa_code(client, totp_code(totp_operator.totp_secret))
    assert response.status_code == 302 and response["Location"] == "/admin/organizations/"
    for url in admin_urls(totp_operator):
        assert client.get(url).status_code == 200, url


@pytest.mark.force_login_without_mfa
def test_a_session_signed_in_without_allauth_is_sent_to_the_mfa_step(client, totp_operator):
    # force_login stands for any login that skipped allauth's MFA stage.
    client.force_login(totp_operator)
    for url in admin_urls(totp_operator):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("mfa_reauthenticate") + "?next="), url
    # Nor can it manage its account (add a passkey, change the password) before the second factor.
    for name in ("mfa_index", "account_change_password", "usersessions_list"):
        assert client.get(reverse(name))["Location"].startswith(reverse("mfa_reauthenticate")), name
    response = client.post(
        reverse("mfa_reauthenticate") + "?next=/admin/", {"code": totp_code(totp_operator.totp_secret)}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.force_login_without_mfa
def test_a_staff_user_without_mfa_is_sent_to_set_it_up_before_anything_else(
    client, transactional_db, eager_celery, django_capture_on_commit_callbacks
):
    # Transactional: allauth announces the new authenticator after the commit, as in production.
    operator = make_operator()
    # By email this time; no second factor yet, so the code emailed to the operator comes first.
    response = sign_in_proving_email(client, "alice@ops.example", django_capture_on_commit_callbacks)
    assert is_signed_in(client)
    assert response["Location"] == "/admin/"
    mail.outbox.clear()
    for url in [
        *admin_urls(operator),
        reverse("account_change_password"),
        reverse("account_email"),
        reverse("usersessions_list"),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_index"), url
    page = client.get(reverse("mfa_index"), follow=True)
    assert page.status_code == 200
    assert "Set up a second factor" in page_text(page)

    # Setting up TOTP: allauth first asks for the password again (its secure default for MFA
    # changes), then the page holds the secret; a code from it activates TOTP and opens the admin.
    confirm = client.get(reverse("mfa_activate_totp"))
    assert confirm["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(confirm["Location"], {"password": PASSWORD})
    assert response["Location"] == reverse("mfa_activate_totp")
    activate = client.get(reverse("mfa_activate_totp"))
    assert activate.status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert second_factors(operator) == {"totp", "recovery_codes"}
    # The security notification, through the adapter's Celery path.
    assert [m.to for m in mail.outbox] == [["alice@ops.example"]]
    assert mail.outbox[0].subject.startswith("[SSO gateway] ")
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.force_login_without_mfa
def test_setting_up_a_second_authenticator_requires_the_first(client, totp_operator):
    # Only the first enrolment counts as giving the second factor (cryptr_sso/accounts/signals.py).
    client.force_login(totp_operator)
    assert client.get(reverse("mfa_add_webauthn"))["Location"].startswith(reverse("mfa_reauthenticate"))


def test_mfa_can_be_made_optional(client, operator, settings):
    settings.OPERATOR_MFA_REQUIRED = False
    sign_in_with_password(client, "alice")
    assert client.get(reverse("admin:index")).status_code == 200


def test_an_operator_with_mfa_gives_it_even_when_mfa_is_optional(client, totp_operator, settings):
    settings.OPERATOR_MFA_REQUIRED = False
    assert sign_in_with_password(client, "alice")["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_authenticate")


def test_non_staff_users_cannot_reach_the_admin(client, db):
    user = make_operator("bob", "bob@ops.example", is_staff=False, is_superuser=False)
    sign_in_with_password(client, "bob")
    assert is_signed_in(client)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    refused = client.get(response["Location"])
    assert refused.status_code == 403
    assert "not an operator account" in page_text(refused)
    for url in admin_urls(user):
        assert client.get(url, follow=True).status_code == 403, url


def test_nobody_signs_up(client, db):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    assert "closed" in page_text(response).lower()
    client.post(
        reverse("account_signup"),
        {"username": "mallory", "email": "m@evil.example", "password1": PASSWORD, "password2": PASSWORD},
    )
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="mallory").exists()


def test_signing_out_closes_the_admin(client, totp_operator):
    sign_in_with_password(client, "alice")
    submit_mfa_code(client, totp_code(totp_operator.totp_secret))
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
