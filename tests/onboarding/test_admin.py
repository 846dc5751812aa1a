"""Operators see each connection's onboarding state and progress in the admin, and can re-send or
revoke the invitation links (through the same services as the API)."""

import pytest
from django.contrib.auth.models import User as Operator

from onboarding import selectors, services
from onboarding.exceptions import InvitationInvalid
from onboarding.models import AdminOnboarding, OnboardingInvitation
from onboarding.tasks import send_invitation

from .conftest import CALLBACK


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(send_invitation, "delay", lambda **kwargs: calls.append(kwargs["invitation_id"]))
    return calls


@pytest.fixture
def operator_client(client, db):
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client


def test_the_connection_list_shows_onboarding_state_and_progress_without_a_query_per_row(
    operator_client, org, make_connection, django_assert_max_num_queries
):
    invited = make_connection(org)
    services.onboarding_invite(connection=invited, email="it@misapret.fr")
    make_connection(org)
    with django_assert_max_num_queries(12) as captured:
        page = operator_client.get("/admin/connections/ssoconnection/").content.decode()
    assert "invited" in page and "not initialized" in page and "0% (step 1/6)" in page
    baseline = len(captured.captured_queries)
    for index in range(4):
        services.onboarding_invite(connection=make_connection(org), email=f"it{index}@misapret.fr")
    with django_assert_max_num_queries(baseline):
        operator_client.get("/admin/connections/ssoconnection/")


def test_the_resend_action_issues_a_fresh_link_and_queues_the_email(
    operator_client, org, make_connection, queued, django_capture_on_commit_callbacks
):
    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    _first, first_token = services.onboarding_invite(connection=connection)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/connections/ssoconnection/",
            {"action": "resend_onboarding_invitation", "_selected_action": [connection.pk]},
            follow=True,
        )
    assert "Invitation queued for 1 connection(s)" in response.content.decode()
    newest = OnboardingInvitation.objects.order_by("-id").first()
    assert queued == [newest.id]
    with pytest.raises(InvitationInvalid):
        selectors.invitation_by_token(first_token)


def test_the_resend_action_says_why_when_there_is_no_admin_email(operator_client, org, make_connection):
    connection = make_connection(org)
    response = operator_client.post(
        "/admin/connections/ssoconnection/",
        {"action": "resend_onboarding_invitation", "_selected_action": [connection.pk]},
        follow=True,
    )
    assert "no IT admin email set" in response.content.decode()
    assert not OnboardingInvitation.objects.exists()


def test_the_revoke_action_stops_the_links(operator_client, org, make_connection):
    connection = make_connection(org)
    _invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    onboarding = AdminOnboarding.objects.get()
    response = operator_client.post(
        "/admin/onboarding/adminonboarding/",
        {"action": "revoke_invitation_links", "_selected_action": [onboarding.pk]},
        follow=True,
    )
    assert "1 onboarding link(s) revoked." in response.content.decode()
    with pytest.raises(InvitationInvalid):
        selectors.invitation_by_token(token)


def test_the_onboarding_page_lists_invitations_without_their_tokens(operator_client, org, make_connection):
    connection = make_connection(org)
    invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    onboarding = AdminOnboarding.objects.get()
    page = operator_client.get(f"/admin/onboarding/adminonboarding/{onboarding.pk}/change/").content.decode()
    assert "it@misapret.fr" in page
    assert token not in page and invitation.token_hash not in page and invitation.token_encrypted not in page
    detail = operator_client.get(f"/admin/connections/ssoconnection/{connection.pk}/change/").content.decode()
    assert "invited" in detail and f"/admin/onboarding/adminonboarding/{onboarding.pk}/change/" in detail


def test_creating_a_connection_in_the_admin_with_an_admin_email_invites(
    operator_client, org, queued, django_capture_on_commit_callbacks
):
    from applications.services import application_create

    application, _secret = application_create(
        organization=org, name="App", application_type="regular_web", allowed_redirect_uris_after_login=[CALLBACK]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/connections/ssoconnection/add/",
            {
                "organization": org.pk,
                "application": application.pk,
                "provider_type": "okta",
                "sso_admin_email": "it@misapret.fr",
            },
        )
    assert response.status_code == 302
    invitation = OnboardingInvitation.objects.get()
    assert invitation.email == "it@misapret.fr" and queued == [invitation.id]
