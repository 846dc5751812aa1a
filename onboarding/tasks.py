"""The onboarding emails, sent by Celery workers.

Delivery is at-least-once from the broker (acks_late, reject_on_worker_lost: a task whose worker
dies is delivered again) and exactly-once at the row: the task claims the invitation with
`SELECT ... FOR UPDATE` where `sent_at` is null, sends, and records `sent_at` in the same transaction.
A redelivered or duplicated task waits on the lock, then finds `sent_at` set and does nothing.

The one window left: the SMTP server accepted the message and the worker died (or the database
went away) before the COMMIT. The row still says "not sent", so the redelivered task sends a second
copy. No design closes it without two-phase commit with the SMTP server; it is as narrow as the time
between the server's 250 and our COMMIT.
"""

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from cryptr_sso.audit import record_event

from .crypto import decrypt_token
from .models import OnboardingInvitation
from .services import invitation_link

logger = logging.getLogger(__name__)

# Transient failures: the SMTP server refused (4xx, disconnect) or could not be reached.
RETRY_ON = (smtplib.SMTPException, OSError)
MAX_RETRIES = 6


def render_invitation(invitation: OnboardingInvitation, token: str | None) -> EmailMultiAlternatives:
    """The invitation email, in the invitation's language. `token` None renders a placeholder link
    (the admin's preview)."""
    connection = invitation.onboarding.connection
    context = {
        "locale": invitation.locale,
        "organization_name": connection.organization.name,
        "application_name": connection.application.name,
        "link": invitation_link(token) if token else f"{settings.BASE_URL}/onboarding/…/",
        "expires_at": invitation.expires_at,
        "admin_email": invitation.email,
        "base_url": settings.BASE_URL,
    }
    with translation.override(invitation.locale):
        subject = render_to_string("onboarding/email/invitation_subject.txt", context)
        text = render_to_string("onboarding/email/invitation_message.txt", context)
        html = render_to_string("onboarding/email/invitation_message.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
        headers={"Content-Language": invitation.locale},
    )
    message.attach_alternative(html, "text/html")
    return message


def _describe(error: Exception) -> str:
    """What went wrong, for the operators: the SMTP code and reply, never the message or a secret."""
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"SMTP {error.smtp_code}: {reply}"[:500]
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(code) for code, _reply in error.recipients.values())
        return f"SMTP recipient refused ({codes})"[:500]
    return f"{type(error).__name__}: {error}"[:500]


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RETRY_ON,
    retry_backoff=5,  # 5 s, 10 s, 20 s ... with full jitter
    retry_backoff_max=600,  # under the Redis visibility_timeout (settings), or the broker redelivers early
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def send_invitation(self, *, invitation_id: int) -> str:
    """Send one invitation's email, once. Returns what happened ("sent", "already_sent", "revoked",
    "expired", "unknown", "unreadable"), for the logs and the tests."""
    failure: Exception | None = None
    with transaction.atomic():
        # The claim: the row lock is held while the SMTP server answers (EMAIL_TIMEOUT bounds it), so a
        # second delivery of this task waits here and then sees sent_at.
        invitation = (
            OnboardingInvitation.objects.select_for_update(of=("self",))
            .select_related("onboarding", "onboarding__connection__organization", "onboarding__connection__application")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None:
            return "unknown"
        if invitation.sent_at is not None:
            return "already_sent"
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.expires_at <= timezone.now():
            return "expired"
        token = decrypt_token(invitation.token_encrypted)
        if token is None:
            invitation.last_error = "The link could not be decrypted (SECRET_KEY changed?): send a new invitation."
            invitation.save(update_fields=["last_error"])
            return "unreadable"
        message = render_invitation(invitation, token)
        invitation.send_attempts += 1
        try:
            message.send(fail_silently=False)
        except RETRY_ON as error:
            # Record the attempt (committed below), then let autoretry schedule the next one.
            invitation.last_error = _describe(error)
            invitation.save(update_fields=["send_attempts", "last_error"])
            failure = error
        else:
            now = timezone.now()
            invitation.sent_at, invitation.last_error, invitation.token_encrypted = now, "", ""
            invitation.save(update_fields=["sent_at", "send_attempts", "last_error", "token_encrypted"])
            onboarding = invitation.onboarding
            onboarding.invitation_sent_at = now
            onboarding.save(update_fields=["invitation_sent_at", "updated_at"])
            connection = onboarding.connection
            record_event(
                type="invitation.sent",
                organization=connection.organization,
                actor="system",
                connection_id=connection.id,
                data={
                    "email": invitation.email,
                    "invitation_id": invitation.pk,
                    "locale": invitation.locale,
                    "attempts": invitation.send_attempts,
                    "expires_at": invitation.expires_at.isoformat(),
                },
            )
    if failure is not None:
        logger.warning(
            "Onboarding invitation %s: delivery attempt %s failed (%s); retrying",
            invitation_id,
            self.request.retries + 1,
            invitation.last_error,
        )
        raise failure
    logger.info("Onboarding invitation %s sent", invitation_id)
    return "sent"
