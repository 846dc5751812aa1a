"""The end of every SSO login, whatever the protocol: from a verified subject and its attributes to a
user of the organization's directory (just-in-time provisioning) signed in at the gateway.

The SAML ACS (and later the OIDC callback) calls `sso_sign_in` once the protocol checks have passed.
Users are keyed on (connection, subject), never on the email alone: an IdP can only ever reach the
users of its own organization, and a subject it asserted once keeps pointing at the same user even
when the email changes.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cryptr_sso import audit
from cryptr_sso.queries import one_by_key
from organizations.models import Identity, User

from .exceptions import SsoConnectionError
from .models import SSOConnection, UsersProvisioning
from .providers import MAPPED_CLAIMS, default_attribute_mapping

logger = logging.getLogger(__name__)


class SignInRefused(SsoConnectionError):
    code = "sign_in_refused"
    hint = _("The identity provider signed this person in, but the gateway's policy refuses them.")


class MissingEmail(SignInRefused):
    code = "missing_email"
    hint = _(
        "The identity provider sent no email address for this person. Send the email as the NameID "
        "(format emailAddress) or as the attribute mapped to 'email' in the connection's attribute mapping."
    )


class EmailDomainNotAllowed(SignInRefused):
    code = "email_domain_not_allowed"
    hint = _(
        "The email address's domain is not one of the organization's allowed email domains. Ask the "
        "operator of the gateway to add the domain to the organization, or fix the email in the IdP."
    )


class UserNotProvisioned(SignInRefused):
    code = "user_not_provisioned"
    hint = _(
        "This connection only lets in people already in the organization's directory, and this person "
        "is not. Ask the application's administrators to add them, or allow new users on the connection."
    )


class UserDeactivated(SignInRefused):
    code = "user_deactivated"
    hint = _(
        "This person's account is deactivated in the organization's directory. Ask the application's administrators."
    )


@dataclass(frozen=True)
class AssertedIdentity:
    """What the IdP asserted, protocol-neutral."""

    subject: str
    attributes: dict[str, list[str]]
    authenticated_at: datetime
    name_id_format: str = ""


def mapped_claims(connection: SSOConnection, identity: AssertedIdentity) -> dict[str, str]:
    """email, given_name, family_name read through the connection's attribute mapping (or its
    provider's defaults). The email falls back to the subject when the subject is an email address."""
    mapping = {**default_attribute_mapping(connection.provider_type), **(connection.attribute_mapping or {})}
    claims: dict[str, str] = {}
    for claim in MAPPED_CLAIMS:
        values = identity.attributes.get(mapping.get(claim, ""), [])
        value = next((str(v).strip() for v in values if str(v).strip()), "")
        if value:
            claims[claim] = value
    if (
        "email" not in claims
        and "@" in identity.subject
        and (
            not identity.name_id_format
            or identity.name_id_format.endswith(":emailAddress")
            or identity.name_id_format.endswith(":unspecified")
        )
    ):
        claims["email"] = identity.subject
    return claims


def _check_email(connection: SSOConnection, email: str) -> None:
    allowed = [domain.lower() for domain in connection.organization.allowed_email_domains or []]
    if allowed and email.rsplit("@", 1)[-1].lower() not in allowed:
        raise EmailDomainNotAllowed(detail=f"domain {email.rsplit('@', 1)[-1]!r}")


def _updated_profile(user: User, claims: dict[str, str]) -> dict:
    """The user's profile with the IdP's names in it (a new dict; the user is not changed)."""
    profile = dict(user.profile)
    for claim in ("given_name", "family_name"):
        if claims.get(claim):
            profile[claim] = claims[claim]
    full_name = " ".join(part for part in (profile.get("given_name"), profile.get("family_name")) if part)
    if full_name:
        profile["name"] = full_name
    return profile


def _profile_update(user: User, claims: dict[str, str]) -> bool:
    profile = _updated_profile(user, claims)
    changed = profile != user.profile
    user.profile = profile
    return changed


def _find_or_create_user(
    connection: SSOConnection, identity: AssertedIdentity, claims: dict[str, str]
) -> tuple[Identity, bool]:
    """The identity of this subject (created when new) and whether its user was provisioned just now."""
    existing = (
        Identity.objects.select_for_update()
        .select_related("user")
        .filter(idp_id=connection.id, subject=identity.subject, user__organization=connection.organization)
        .first()
    )
    if existing is not None:
        return existing, False
    email = claims.get("email")
    if not email:
        raise MissingEmail()
    _check_email(connection, email)
    user = (
        User.objects.annotate(email_lower=Lower("email"))
        .filter(organization=connection.organization, email_lower=email.lower())
        .first()
    )
    provisioned = user is None
    if provisioned:
        if connection.users_provisioning == UsersProvisioning.EXISTING_USERS_ONLY:
            raise UserNotProvisioned()
        user = User.objects.create(organization=connection.organization, email=email, email_verified=True)
    return Identity.objects.create(
        user=user,
        idp_id=connection.id,
        provider=f"{connection.protocol}.{connection.provider_type}",
        subject=identity.subject,
    ), provisioned


def _identity_data(identity: AssertedIdentity) -> dict:
    return {"attributes": identity.attributes, "name_id_format": identity.name_id_format}


def _returning_user_unchanged(
    connection: SSOConnection, identity: AssertedIdentity, claims: dict[str, str]
) -> User | None:
    """The common login: a known subject whose directory entry the IdP's attributes leave as it is. One
    SELECT and one UPDATE of the identity's login stamp, no transaction. None when anything else is to be
    done (new subject, profile or email verification to write, identity gone meanwhile): the caller then
    takes the locked path, which decides again from scratch."""
    linked = one_by_key(
        Identity.objects.select_related("user").filter(
            idp_id=connection.id, subject=identity.subject, user__organization=connection.organization
        )
    )
    if linked is None:
        return None
    user = linked.user
    if not user.active:
        raise UserDeactivated()
    if not user.email_verified or _updated_profile(user, claims) != user.profile:
        return None
    updated = Identity.objects.filter(pk=linked.pk, user=user).update(
        authenticated_at=identity.authenticated_at or timezone.now(),
        data=_identity_data(identity),
        updated_at=timezone.now(),
    )
    return user if updated else None


def sso_sign_in(*, connection: SSOConnection, identity: AssertedIdentity, request=None) -> User:
    """The directory user this verified identity signs in as: created at the first login when the
    connection provisions new users, its profile and identity refreshed at every login. Its provisioning
    or profile change is recorded with the end user as the actor (and the request's IP and user agent)."""
    claims = mapped_claims(connection, identity)
    user = _returning_user_unchanged(connection, identity, claims)
    if user is not None:
        return user
    for attempt in range(2):
        try:
            with transaction.atomic():
                linked, provisioned = _find_or_create_user(connection, identity, claims)
                user = linked.user
                if not user.active:
                    raise UserDeactivated()
                before = audit.snapshot(user, ("email", "profile", "email_verified"))
                changed = _profile_update(user, claims)
                if not user.email_verified:
                    user.email_verified, changed = True, True
                if changed:
                    user.save(update_fields=["profile", "email_verified", "updated_at"])
                by = audit.Actor.end_user(user, request)
                if provisioned:  # just in time, at the first login through this connection
                    audit.record(
                        "user.provisioned",
                        by=by,
                        organization=connection.organization,
                        user=user,
                        connection_id=connection.id,
                        data={"changes": audit.changes({}, user)},
                    )
                elif changed:  # the IdP's attributes changed the profile
                    audit.record(
                        "user.updated",
                        by=by,
                        organization=connection.organization,
                        user=user,
                        connection_id=connection.id,
                        data={"changes": audit.changes(before, user)},
                    )
                linked.authenticated_at = identity.authenticated_at or timezone.now()
                linked.data = _identity_data(identity)
                linked.save(update_fields=["authenticated_at", "data", "updated_at"])
                return user
        except IntegrityError:
            # Two first logins of the same person at once: the other one created the rows; read them.
            if attempt:
                raise
    raise AssertionError("unreachable")


def record_sign_in(
    request, *, connection: SSOConnection, user: User | None = None, error: SsoConnectionError | str | None = None
) -> None:
    """The audit trail's line for one sign-in through a connection: succeeded with its user, or failed with
    the error's code and the hint an IT admin can act on (never the assertion or a token)."""
    data = {"protocol": connection.protocol, "provider_type": connection.provider_type}
    if error is None:
        audit.record_event(
            type="sso.login.succeeded",
            organization=connection.organization,
            actor=f"end_user:{user.pk}",
            connection_id=connection.id,
            user=user,
            data={**data, "email": user.email},
            **audit.request_context(request),
        )
        return
    if isinstance(error, SsoConnectionError):
        data.update(error=error.code, reason=error.english_hint, detail=str(error.detail or "")[:300])
    else:
        data.update(error=error, reason=INACTIVE_REASON if error == "connection_inactive" else "")
    audit.record_event(
        type="sso.login.failed",
        organization=connection.organization,
        actor="end_user:anonymous",
        connection_id=connection.id,
        data=data,
        **audit.request_context(request),
    )


INACTIVE_REASON = "The connection is not active: end users cannot sign in through it until it is activated."
