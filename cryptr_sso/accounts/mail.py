"""Rendered account emails as they cross the Celery broker: sealed with Fernet, because a password
reset email carries a link that signs its holder in as the operator."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives

# Longer than any retry schedule of the task; a message older than this is dropped, not sent.
SEALED_MESSAGE_TTL_SECONDS = 24 * 3600


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"cryptr_sso.accounts.sealed-email:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal_message(message: EmailMessage) -> str:
    data = {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "headers": dict(message.extra_headers),
        "alternatives": [[content, mimetype] for content, mimetype in getattr(message, "alternatives", [])],
        "content_subtype": message.content_subtype,
    }
    return _fernet().encrypt(json.dumps(data).encode()).decode()


def open_message(sealed: str) -> EmailMultiAlternatives | None:
    """None when it cannot be read (SECRET_KEY changed, or older than the TTL)."""
    try:
        data = json.loads(_fernet().decrypt(sealed.encode(), ttl=SEALED_MESSAGE_TTL_SECONDS))
    except InvalidToken:
        return None
    message = EmailMultiAlternatives(
        subject=data["subject"],
        body=data["body"],
        from_email=data["from_email"],
        to=data["to"],
        headers=data["headers"],
    )
    message.content_subtype = data["content_subtype"]
    for content, mimetype in data["alternatives"]:
        message.attach_alternative(content, mimetype)
    return message
