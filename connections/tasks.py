"""Periodic work on SSO connections, run by Celery beat (settings.CELERY_BEAT_SCHEDULE).

- `refresh_idp_metadata` (daily): every SAML connection configured by a metadata URL is fetched again, with
  the wizard's SSRF rules (https only, public addresses, 5 s, 1 MB, connections/saml/metadata.py). The new
  configuration replaces the old only when the document is usable: it parses, describes one SAML IdP with a
  signing certificate, keeps the same entity id, has a certificate still valid and is not past its
  validUntil. A change is recorded as "connection.metadata_refreshed" (old and new certificate
  fingerprints); a refusal as "connection.metadata_refresh_failed", and the old configuration stays.
  OIDC connections read their issuer's discovery document again under the rules of a save
  (connections/oidc/discovery.py): endpoints that moved (a new jwks_uri, an end_session_endpoint the IdP now
  offers) are taken when the document is valid and names the same issuer; same events.
- `warn_expiring_certificates` (daily): 60, 30 and 7 days before an IdP signing certificate or the SP
  certificate expires, one warning per certificate, threshold and audience (CertificateExpiryNotice):
  an email to the operators (staff users with an email, in settings.LANGUAGE_CODE) and to the customer's IT
  admin (in the language of their latest onboarding invitation), and a "certificate.expiring" event (which
  the webhooks deliver).

Each connection and each warning is its own task, so one slow IdP or one refused email holds up nothing
else, and each is idempotent: the refresh compares before writing, a warning row is made once (unique
constraint) and its emails are sent by a task that claims the row like onboarding/tasks.py.
"""

import logging
import math
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import pgettext

from cryptr_sso.audit import record_event

from .models import CertificateExpiryNotice, SSOConnection
from .providers import OIDC, SAML
from .saml.keys import sp_certificate_pem
from .saml.metadata import IdpMetadata, MetadataError, certificate_from_text, fetch_idp_metadata
from .services import _from_metadata

logger = logging.getLogger(__name__)

EXPIRY_THRESHOLDS_DAYS = (7, 30, 60)  # smallest first: a certificate first seen at 20 days gets the 30-day one
RETRY_ON = (smtplib.SMTPException, OSError)


# --- metadata refresh ----------------------------------------------------------------------------


@shared_task(acks_late=True)
def refresh_idp_metadata() -> int:
    """Beat: queue one refresh per SAML connection configured by a metadata URL, and one per OIDC connection
    with an issuer."""
    ids = list(SSOConnection.objects.filter(protocol=SAML).exclude(idp_metadata_url="").values_list("pk", flat=True))
    for connection_id in ids:
        refresh_connection_metadata.delay(connection_id=connection_id)
    oidc_ids = list(SSOConnection.objects.filter(protocol=OIDC).exclude(oidc_issuer="").values_list("pk", flat=True))
    for connection_id in oidc_ids:
        refresh_connection_discovery.delay(connection_id=connection_id)
    return len(ids) + len(oidc_ids)


# What a discovery refresh may change; the issuer itself is never changed by a refresh.
DISCOVERED_ENDPOINTS = {
    "oidc_authorization_endpoint": "authorization_endpoint",
    "oidc_token_endpoint": "token_endpoint",
    "oidc_userinfo_endpoint": "userinfo_endpoint",
    "oidc_jwks_uri": "jwks_uri",
    "oidc_token_endpoint_auth_method": "token_endpoint_auth_method",
    "oidc_end_session_endpoint": "end_session_endpoint",
}


def _lock_for_refresh(connection_id: str) -> SSOConnection | None:
    """The connection's row, locked until the refresh's transaction ends (None when deleted meanwhile)."""
    return (
        SSOConnection.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(pk=connection_id)
        .first()
    )


def _refresh_failed(connection: SSOConnection, code: str, data: dict) -> str:
    """A refresh that changes nothing: recorded (with the reason, in English) and logged; the old configuration
    stays."""
    record_event(
        type="connection.metadata_refresh_failed",
        organization=connection.organization,
        actor="system",
        connection_id=connection.id,
        data={**data, "error": code},
    )
    logger.warning("IdP refresh of %s failed (%s); the configuration is kept", connection.id, code)
    return "failed"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def refresh_connection_discovery(*, connection_id: str) -> str:
    """Read one OIDC connection's discovery document again. Returns "changed", "unchanged", "failed" or
    "skipped". A document that fails the checks of a save, or now names another issuer, changes nothing."""
    from .exceptions import OidcDiscoveryError, OidcError
    from .oidc.discovery import discover

    connection = SSOConnection.objects.select_related("organization").filter(pk=connection_id).first()
    if connection is None or connection.protocol != OIDC or not connection.oidc_issuer:
        return "skipped"
    issuer = connection.oidc_issuer
    try:
        found = discover(issuer, provider_type=connection.provider_type)
        if connection.oidc_discovered_issuer and found.issuer != connection.oidc_discovered_issuer:
            raise OidcDiscoveryError(
                f"The discovery document now names the issuer '{found.issuer}' instead of "
                f"'{connection.oidc_discovered_issuer}': a different issuer is not taken automatically."
            )
    except OidcError as error:
        return _refresh_failed(connection, error.code, {"issuer": issuer, "reason": error.english_hint})

    with transaction.atomic():
        locked = _lock_for_refresh(connection_id)
        if locked is None or locked.oidc_issuer != issuer:
            return "skipped"  # deleted or reconfigured while we were fetching
        changes = {
            name: {"old": getattr(locked, name), "new": getattr(found, attribute)}
            for name, attribute in DISCOVERED_ENDPOINTS.items()
            if getattr(locked, name) != getattr(found, attribute)
        }
        for name, change in changes.items():
            setattr(locked, name, change["new"])
        locked.oidc_discovery_fetched_at = timezone.now()
        locked.save()
        if changes:
            record_event(
                type="connection.metadata_refreshed",
                organization=locked.organization,
                actor="system",
                connection_id=locked.id,
                data={"issuer": issuer, "changed": sorted(changes), "changes": changes},
            )
    logger.info("Discovery refresh of %s: %s", connection_id, ", ".join(sorted(changes)) or "unchanged")
    return "changed" if changes else "unchanged"


def _fingerprints(pems: list[str]) -> list[str]:
    found = []
    for pem in pems:
        try:
            found.append(certificate_from_text(pem).sha256_fingerprint)
        except MetadataError:
            found.append("unreadable")
    return found


def _refusal(connection: SSOConnection, metadata: IdpMetadata) -> str:
    """Why fetched metadata, although it parses, must not replace the configuration (or "")."""
    if metadata.entity_id != connection.idp_entity_id and connection.idp_entity_id:
        return (
            f"The metadata now describes the entity '{metadata.entity_id}' instead of "
            f"'{connection.idp_entity_id}': a different identity provider is not taken automatically. "
            "Give the metadata again in the wizard or the API if this is intended."
        )
    now = timezone.now()
    if metadata.valid_until is not None and metadata.valid_until <= now:
        return f"The metadata says it expired on {metadata.valid_until:%Y-%m-%d}."
    if all(certificate.not_valid_after <= now for certificate in metadata.certificates):
        return "Every signing certificate in the metadata has expired."
    return ""


@shared_task(acks_late=True, reject_on_worker_lost=True)
def refresh_connection_metadata(*, connection_id: str) -> str:
    """Fetch one connection's metadata URL again. Returns "changed", "unchanged", "failed" or "skipped"."""
    connection = SSOConnection.objects.select_related("organization").filter(pk=connection_id).first()
    if connection is None or connection.protocol != SAML or not connection.idp_metadata_url:
        return "skipped"
    url = connection.idp_metadata_url
    # The network read happens before the transaction: no row lock waits on a remote server.
    try:
        document, metadata = fetch_idp_metadata(url)
        refusal = _refusal(connection, metadata)
        if refusal:
            raise MetadataError(refusal, code="metadata_refused")
    except MetadataError as error:
        return _refresh_failed(
            connection,
            error.code,
            {
                "url": url,
                "reason": error.message,
                "certificate_fingerprints": _fingerprints(connection.idp_certificates),
            },
        )

    fields = {**_from_metadata(metadata), "idp_metadata_xml": document.decode("utf-8", "replace")}
    with transaction.atomic():
        locked = _lock_for_refresh(connection_id)
        if locked is None or locked.idp_metadata_url != url:
            return "skipped"  # deleted or reconfigured while we were fetching
        old_pems = list(locked.idp_certificates)
        changed = sorted(
            name for name, value in fields.items() if name != "idp_metadata_xml" and getattr(locked, name) != value
        )
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.idp_metadata_fetched_at = timezone.now()
        locked.save()
        if changed:
            record_event(
                type="connection.metadata_refreshed",
                organization=locked.organization,
                actor="system",
                connection_id=locked.id,
                data={
                    "url": url,
                    "changed": changed,
                    "old_certificate_fingerprints": _fingerprints(old_pems),
                    "new_certificate_fingerprints": [c.sha256_fingerprint for c in metadata.certificates],
                },
            )
    logger.info("Metadata refresh of %s: %s", connection_id, ", ".join(changed) or "unchanged")
    return "changed" if changed else "unchanged"


# --- certificate expiry warnings -----------------------------------------------------------------


@dataclass(frozen=True)
class _Certificate:
    kind: str
    fingerprint: str
    subject: str
    not_valid_after: datetime


def threshold_for(not_valid_after: datetime, now: datetime) -> int | None:
    """The warning due for a certificate: the smallest threshold it is within, none once expired."""
    left = not_valid_after - now
    if left <= timedelta(0):
        return None
    for days in EXPIRY_THRESHOLDS_DAYS:
        if left <= timedelta(days=days):
            return days
    return None


def operators_recipients() -> list[dict[str, str]]:
    emails = (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return [{"email": email, "role": "operator"} for email in dict.fromkeys(emails)]


def it_admin_email(connection: SSOConnection) -> str:
    if connection.sso_admin_email:
        return connection.sso_admin_email
    onboarding = getattr(connection, "admin_onboarding", None)
    return getattr(onboarding, "it_admin_email", "") or ""


def days_until(moment: datetime, now: datetime) -> int:
    """Whole days left, counting a started day: 59 days and 1 hour is "60 days"."""
    return max(0, math.ceil((moment - now).total_seconds() / 86400))


def _event_data(certificate: _Certificate, threshold: int, now: datetime) -> dict:
    return {
        "certificate": certificate.kind,
        "fingerprint": certificate.fingerprint,
        "subject": certificate.subject,
        "not_valid_after": certificate.not_valid_after.isoformat(),
        "days_left": days_until(certificate.not_valid_after, now),
        "threshold_days": threshold,
    }


def _warn(
    *,
    certificate: _Certificate,
    threshold: int,
    scope: str,
    connection: SSOConnection | None,
    recipients: list[dict[str, str]],
    now: datetime,
) -> bool:
    """Make the warning once (the unique constraint decides), record its event and queue its emails."""
    with transaction.atomic():
        notice, created = CertificateExpiryNotice.objects.get_or_create(
            kind=certificate.kind,
            fingerprint=certificate.fingerprint,
            threshold_days=threshold,
            scope=scope,
            defaults={
                "connection": connection,
                "subject": certificate.subject[:500],
                "not_valid_after": certificate.not_valid_after,
                "recipients": recipients,
            },
        )
        if not created:
            return False
        record_event(
            type="certificate.expiring",
            organization=connection.organization if connection else None,
            actor="system",
            connection_id=connection.id if connection else "",
            data=_event_data(certificate, threshold, now),
        )
        if recipients:
            send_certificate_expiry_notice.delay_on_commit(notice_id=notice.pk)
    return True


@shared_task(acks_late=True)
def warn_expiring_certificates() -> int:
    """Beat: make the warnings due today. Returns how many were made."""
    now = timezone.now()
    made = 0
    operators = operators_recipients()
    saml = list(SSOConnection.objects.filter(protocol=SAML).select_related("organization", "admin_onboarding"))
    for connection in saml:
        admin = it_admin_email(connection)
        for pem in connection.idp_certificates:
            try:
                described = certificate_from_text(pem)
            except MetadataError:
                continue
            certificate = _Certificate(
                CertificateExpiryNotice.IDP, described.sha256_fingerprint, described.subject, described.not_valid_after
            )
            threshold = threshold_for(certificate.not_valid_after, now)
            if threshold:
                recipients = operators + ([{"email": admin, "role": "it_admin"}] if admin else [])
                made += _warn(
                    certificate=certificate,
                    threshold=threshold,
                    scope=connection.id,
                    connection=connection,
                    recipients=recipients,
                    now=now,
                )

    described = certificate_from_text(sp_certificate_pem())
    sp = _Certificate(
        CertificateExpiryNotice.SP, described.sha256_fingerprint, described.subject, described.not_valid_after
    )
    threshold = threshold_for(sp.not_valid_after, now)
    if threshold:
        made += _warn(
            certificate=sp,
            threshold=threshold,
            scope=CertificateExpiryNotice.OPERATORS,
            connection=None,
            recipients=operators,
            now=now,
        )
        # Each customer whose IdP was given our certificate must be told too (their IdP pins it).
        for connection in saml:
            if connection.idp_entity_id:
                admin = it_admin_email(connection)
                made += _warn(
                    certificate=sp,
                    threshold=threshold,
                    scope=connection.id,
                    connection=connection,
                    recipients=[{"email": admin, "role": "it_admin"}] if admin else [],
                    now=now,
                )
    return made


def recipient_language(notice: CertificateExpiryNotice, role: str, to: str) -> str:
    """Operators read settings.LANGUAGE_CODE; the customer's IT admin reads the language of the latest
    onboarding invitation sent to that address for the connection (else of its latest invitation)."""
    supported = {code for code, _name in settings.LANGUAGES}
    onboarding = getattr(notice.connection, "admin_onboarding", None) if role == "it_admin" else None
    if onboarding is not None:
        invitations = list(onboarding.invitations.order_by("-created_at", "-id").values_list("email", "locale"))
        chosen = next((locale for email, locale in invitations if email.lower() == to.lower()), None)
        if chosen is None and invitations:
            chosen = invitations[0][1]
        if chosen in supported:
            return chosen
    return settings.LANGUAGE_CODE


def render_notice(notice: CertificateExpiryNotice, role: str, to: str) -> EmailMultiAlternatives:
    """One warning email, in the recipient's language (text and HTML, with Content-Language)."""
    connection = notice.connection
    language = recipient_language(notice, role, to)
    context = {
        "notice": notice,
        "role": role,
        "language": language,
        "is_sp": notice.kind == CertificateExpiryNotice.SP,
        "connection_id": connection.id if connection else "",
        "organization_name": connection.organization.name if connection else "",
        "application_name": connection.application.name if connection else "",
        "metadata_url": connection.idp_metadata_url if connection else "",
        "it_admin_email": it_admin_email(connection) if connection else "",
        "days_left": days_until(notice.not_valid_after, timezone.now()),
        "sp_metadata_url": f"{settings.BASE_URL}/sso/sp/metadata/{connection.id}" if connection else "",
        "admin_url": f"{settings.BASE_URL}/admin/connections/ssoconnection/{connection.id}/change/"
        if connection
        else f"{settings.BASE_URL}/admin/",
        "base_url": settings.BASE_URL,
    }
    expires = notice.not_valid_after.astimezone(UTC)
    with translation.override(language):
        # Date formats are translatable strings: "F j, Y" reads "j F Y" in French.
        context["expires_on"] = date_format(expires, pgettext("email date", "F j, Y"))
        context["expires_at"] = date_format(expires, pgettext("email date and time", "F j, Y, H:i"))
        subject = render_to_string("connections/email/certificate_expiring_subject.txt", context)
        text = render_to_string("connections/email/certificate_expiring_message.txt", context)
        html = render_to_string("connections/email/certificate_expiring_message.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        to=[to],
        from_email=settings.DEFAULT_FROM_EMAIL,
        body=text,
        headers={"Content-Language": language},
    )
    message.attach_alternative(html, "text/html")
    return message


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RETRY_ON,
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
)
def send_certificate_expiry_notice(self, *, notice_id: int) -> str:
    """Email one warning to each of its recipients, once (the claim of onboarding/tasks.py; the addresses
    already sent to are kept, so a retry sends only to the others)."""
    failure: Exception | None = None
    with transaction.atomic():
        notice = (
            CertificateExpiryNotice.objects.select_for_update(of=("self",))
            .select_related("connection__organization", "connection__application")
            .filter(pk=notice_id)
            .first()
        )
        if notice is None:
            return "unknown"
        if notice.sent_at is not None:
            return "already_sent"
        notice.send_attempts += 1
        for recipient in notice.recipients:
            if recipient["email"] in notice.sent_to:
                continue
            try:
                render_notice(notice, recipient["role"], recipient["email"]).send(fail_silently=False)
            except RETRY_ON as error:
                failure = error
                notice.last_error = f"{recipient['email']}: {type(error).__name__}: {error}"[:500]
                break
            notice.sent_to = [*notice.sent_to, recipient["email"]]
        if failure is None:
            notice.sent_at, notice.last_error = timezone.now(), ""
        notice.save(update_fields=["sent_to", "sent_at", "send_attempts", "last_error"])
    if failure is not None:
        raise failure
    return "sent"
