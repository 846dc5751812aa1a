"""Writes of the onboarding: invitations (issue, re-send, revoke) and the onboarding row itself.

Each service owns its transaction; the invitation email is queued only once the transaction has
committed (`transaction.on_commit`), so a worker never looks for a row it cannot see yet, and a
rolled-back invitation sends nothing."""

import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections.models import SSOConnection
from cryptr_sso import audit
from cryptr_sso.api.errors import StateError
from cryptr_sso.audit import Actor
from cryptr_sso.hashing import hash_secret

from .crypto import encrypt_token
from .models import STATE_ORDER, AdminOnboarding, OnboardingInvitation, OnboardingState

TOKEN_BYTES = 32


def invitation_link(token: str) -> str:
    """The wizard's entry (routed by onboarding/urls.py)."""
    return f"{settings.BASE_URL}/onboarding/{token}/"


def _language(locale: str | None) -> str:
    known = {code for code, _name in settings.LANGUAGES}
    if locale and locale.split("-")[0].lower() in known:
        return locale.split("-")[0].lower()
    return settings.LANGUAGE_CODE


def _raise_state(onboarding: AdminOnboarding, state: str) -> None:
    """Move the state forward, never back (an admin half-way through who gets a new link stays there)."""
    if STATE_ORDER.index(state) > STATE_ORDER.index(onboarding.state):
        onboarding.state = state


def onboarding_get_or_create(*, connection: SSOConnection) -> AdminOnboarding:
    """The connection's onboarding, created on first use (one per connection)."""
    onboarding, _created = AdminOnboarding.objects.get_or_create(
        connection=connection, defaults={"it_admin_email": connection.sso_admin_email}
    )
    return onboarding


def _issue(
    *, connection: SSOConnection, email: str | None, locale: str | None, by: Actor | None, resend: bool
) -> tuple[OnboardingInvitation, str]:
    """Inside the caller's transaction: lock the connection, revoke the older links, create a new one,
    record invitation.created (who asked for it; the email's own sending is invitation.sent) and queue its
    email after the commit."""
    from .tasks import send_invitation

    locked = SSOConnection.objects.select_for_update(of=("self",)).get(pk=connection.pk)
    if email:
        if email != locked.sso_admin_email:
            locked.sso_admin_email = email
            locked.save(update_fields=["sso_admin_email", "updated_at"])
        connection.sso_admin_email, connection.updated_at = locked.sso_admin_email, locked.updated_at
    if not locked.sso_admin_email:
        raise StateError(
            "no IT admin email set: use invite-admin with an email",
            code="no_admin_email",
            fields={"sso_admin_email": ["Set the IT admin's email address first (POST .../invite-admin)."]},
        )
    onboarding = onboarding_get_or_create(connection=locked)
    now = timezone.now()
    previous = onboarding.invitations.order_by("-id").first()
    if locale is None and previous is not None:
        locale = previous.locale
    replaced = onboarding.invitations.filter(revoked_at__isnull=True).update(revoked_at=now, token_encrypted="")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = OnboardingInvitation.objects.create(
        onboarding=onboarding,
        token_hash=hash_secret(token),
        token_encrypted=encrypt_token(token),
        email=locked.sso_admin_email,
        locale=_language(locale),
        expires_at=now + settings.ONBOARDING_LINK_LIFETIME,
    )
    onboarding.it_admin_email = locked.sso_admin_email
    _raise_state(onboarding, OnboardingState.INVITED)
    onboarding.save(update_fields=["it_admin_email", "state", "updated_at"])
    audit.record(
        "invitation.created",
        by=by,
        organization=locked.organization,
        connection_id=locked.pk,
        data={
            "invitation_id": invitation.pk,
            "email": invitation.email,
            "locale": invitation.locale,
            "expires_at": invitation.expires_at.isoformat(),
            "resend": resend,
            "links_revoked": replaced,
        },
    )
    invitation_id = invitation.id
    # robust: the invitation is committed by then; a broker that is down (or, in the embedded eager
    # mode, an SMTP failure) is logged, the row stays unsent (the admin shows it) and can be re-sent,
    # instead of turning the committed request into a 500.
    transaction.on_commit(lambda: send_invitation.delay(invitation_id=invitation_id), robust=True)
    return invitation, token


def onboarding_invite(
    *, connection: SSOConnection, email: str | None = None, locale: str | None = None, by: Actor | None = None
) -> tuple[OnboardingInvitation, str]:
    """Set or replace the IT admin's email (when given), revoke every older link and email a fresh one.

    Returns the invitation and its token (the only moment the token exists in clear: the database
    keeps its SHA-256). 422 when neither `email` nor the connection has an admin email."""
    with transaction.atomic():
        return _issue(connection=connection, email=email, locale=locale, by=by, resend=False)


def onboarding_resend(
    *, connection: SSOConnection, locale: str | None = None, by: Actor | None = None
) -> tuple[OnboardingInvitation, str]:
    """Send the onboarding email again to the admin already set. Links are stored hashed, so a
    re-send carries a fresh link (the older ones stop working), exactly like an invitation."""
    if not connection.sso_admin_email:
        raise StateError(
            "no IT admin email set: use invite-admin with an email",
            code="no_admin_email",
            fields={"sso_admin_email": ["Set the IT admin's email address first (POST .../invite-admin)."]},
        )
    with transaction.atomic():
        return _issue(connection=connection, email=None, locale=locale, by=by, resend=True)


def onboarding_revoke_invitations(*, connection: SSOConnection, by: Actor | None = None) -> int:
    """Make every link of the connection stop working; returns how many were still valid (recorded as
    invitation.revoked when there were any)."""
    with transaction.atomic():
        revoked = OnboardingInvitation.objects.filter(
            onboarding__connection=connection, revoked_at__isnull=True
        ).update(revoked_at=timezone.now(), token_encrypted="")
        if revoked:
            audit.record(
                "invitation.revoked",
                by=by,
                organization=connection.organization,
                connection_id=connection.pk,
                data={"links_revoked": revoked},
            )
        return revoked
