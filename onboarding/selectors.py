"""Reads of onboardings and invitations."""

from django.db.models import QuerySet
from django.utils import timezone

from connections.models import SSOConnection
from cryptr_sso.hashing import hash_secret

from .exceptions import InvitationInvalid
from .models import AdminOnboarding, OnboardingInvitation

MAX_TOKEN_LENGTH = 200


def invitation_by_token(token: str) -> OnboardingInvitation:
    """The invitation a link opens, with its onboarding, connection, organization and application
    loaded; raises InvitationInvalid (expired, revoked or unknown) otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH or "\x00" in token:
        raise InvitationInvalid(InvitationInvalid.UNKNOWN)
    invitation = (
        OnboardingInvitation.objects.select_related(
            "onboarding",
            "onboarding__connection",
            "onboarding__connection__organization",
            "onboarding__connection__application",
        )
        .filter(token_hash=hash_secret(token))
        .first()
    )
    if invitation is None:
        raise InvitationInvalid(InvitationInvalid.UNKNOWN)
    if invitation.revoked_at is not None:
        raise InvitationInvalid(InvitationInvalid.REVOKED)
    # Belt and braces: a new invitation revokes the older ones in the same transaction, but a link
    # that is not the newest of its onboarding never opens it.
    newer = OnboardingInvitation.objects.filter(onboarding_id=invitation.onboarding_id, id__gt=invitation.id).exists()
    if newer:
        raise InvitationInvalid(InvitationInvalid.REVOKED)
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid(InvitationInvalid.EXPIRED)
    return invitation


def onboarding_of(connection: SSOConnection) -> AdminOnboarding | None:
    """The connection's onboarding, or None before it starts (uses a select_related cache when there)."""
    try:
        return connection.admin_onboarding
    except AdminOnboarding.DoesNotExist:
        return None


def invitation_list(*, onboarding: AdminOnboarding) -> QuerySet[OnboardingInvitation]:
    return onboarding.invitations.all()
