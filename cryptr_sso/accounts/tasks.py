"""Delivery of the operators' account emails (password reset, MFA notifications)."""

import logging
import random
import smtplib

from celery import shared_task

from .mail import open_message

logger = logging.getLogger(__name__)

RETRY_ON = (smtplib.SMTPException, OSError)


@shared_task(bind=True, max_retries=6, acks_late=True)
def send_account_email(self, *, sealed: str) -> None:
    message = open_message(sealed)
    if message is None:
        logger.warning("account email dropped: it could not be decrypted (expired, or SECRET_KEY changed)")
        return
    try:
        message.send()
    except RETRY_ON as exc:
        # Backoff with jitter: 30 s, 1 min, 2 min, ... (never log the message: it may hold a reset link).
        countdown = min(30 * 2**self.request.retries, 3600) + random.randint(0, 15)  # noqa: S311
        raise self.retry(exc=exc, countdown=countdown) from exc
