"""Invitation links: expiry, revocation, re-issue, and what invitation_by_token says about each."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from onboarding import selectors, services
from onboarding.exceptions import InvitationInvalid
from onboarding.models import OnboardingInvitation
from onboarding.tasks import send_invitation


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(send_invitation, "delay", lambda **kwargs: None)


def reason_of(token):
    with pytest.raises(InvitationInvalid) as error:
        selectors.invitation_by_token(token)
    return error.value.reason


def test_a_fresh_link_opens_its_onboarding(connection):
    invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    found = selectors.invitation_by_token(token)
    assert found == invitation
    assert found.onboarding.connection == connection
    assert services.invitation_link(token).endswith(f"/onboarding/{token}/")


def test_the_link_expires_after_the_configured_lifetime(connection, settings):
    settings.ONBOARDING_LINK_LIFETIME = timedelta(days=7)
    with freeze_time("2026-03-02 10:00:00"):
        _invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    with freeze_time("2026-03-09 09:59:59"):
        assert selectors.invitation_by_token(token)
    with freeze_time("2026-03-09 10:00:00"):
        assert reason_of(token) == "expired"


def test_the_lifetime_comes_from_the_settings(connection, settings):
    settings.ONBOARDING_LINK_LIFETIME = timedelta(days=2)
    invitation, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    assert abs((invitation.expires_at - timezone.now()) - timedelta(days=2)) < timedelta(minutes=1)


def test_a_new_invitation_makes_the_older_link_stop_working(connection):
    _first, first_token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    _second, second_token = services.onboarding_invite(connection=connection)
    assert reason_of(first_token) == "revoked"
    assert selectors.invitation_by_token(second_token)


def test_a_link_that_is_not_the_newest_never_opens_even_if_not_marked_revoked(connection):
    _first, first_token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    services.onboarding_invite(connection=connection)
    OnboardingInvitation.objects.update(revoked_at=None)
    assert reason_of(first_token) == "revoked"


def test_revoking_stops_every_link_until_a_new_invitation(connection):
    _invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    assert services.onboarding_revoke_invitations(connection=connection) == 1
    assert reason_of(token) == "revoked"
    assert OnboardingInvitation.objects.get().token_encrypted == ""
    assert services.onboarding_revoke_invitations(connection=connection) == 0
    _again, new_token = services.onboarding_invite(connection=connection)
    assert selectors.invitation_by_token(new_token)


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "a" * 5000, "abc\x00def"])
def test_unknown_or_malformed_tokens_are_unknown(connection, token):
    services.onboarding_invite(connection=connection, email="it@misapret.fr")
    assert reason_of(token) == "unknown"


def test_only_the_hash_of_the_token_is_stored(connection):
    invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    row = OnboardingInvitation.objects.filter(pk=invitation.pk).values().get()
    assert all(token not in str(value) for value in row.values())


def test_the_reasons_have_sentences_for_the_admin():
    for reason in ("expired", "revoked", "unknown"):
        assert InvitationInvalid(reason).message.endswith(".")
