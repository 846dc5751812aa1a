"""Writes to the tenant directory. Each service owns its transaction; callers pass keyword arguments."""

import json
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from cryptr_sso import audit
from cryptr_sso.api.errors import ApiError, Conflict
from cryptr_sso.audit import Actor
from cryptr_sso.hashing import hash_secret

from .models import ApiAccessToken, ApiKey, Organization, User
from .scopes import ALL_SCOPES
from .slugs import domain_slug

# --- organizations -------------------------------------------------------------------------------


def _free_domain(base: str) -> str:
    taken = set(Organization.objects.filter(domain__regex=rf"^{base}(-[0-9]+)?$").values_list("domain", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _distinct(values: list[str]) -> list[str]:
    """Email domains once each, in the order given (they arrive lowercased from the input serializer)."""
    return list(dict.fromkeys(values))


def organization_create(
    *,
    name: str,
    locality: str,
    country_name: str = "",
    state: str = "",
    allowed_email_domains: list[str] | None = None,
    by: Actor | None = None,
) -> Organization:
    base = domain_slug(name)
    for attempt in range(8):
        # Requests racing for one name all compute the same next number, so the k-th of them would need
        # k attempts: after a few collisions, a random short suffix instead.
        domain = _free_domain(base) if attempt < 3 else f"{base}-{secrets.randbelow(900_000) + 100_000}"
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name,
                    domain=domain,
                    locality=locality,
                    country_name=country_name,
                    state=state,
                    allowed_email_domains=_distinct(allowed_email_domains or []),
                )
                audit.record(
                    "organization.created",
                    by=by,
                    organization=organization,
                    data={"changes": audit.changes({}, organization)},
                )
                return organization
        except IntegrityError:
            continue  # another request took the same domain between the read and the insert
    raise Conflict("Could not give this organization a unique domain; try again.", code="domain_taken")


def organization_update(*, organization: Organization, data: dict[str, Any], by: Actor | None = None) -> Organization:
    before = audit.snapshot(organization)
    for field in ("name", "locality", "country_name", "state"):
        if field in data:
            setattr(organization, field, data[field])
    if "allowed_email_domains" in data:
        organization.allowed_email_domains = _distinct(data["allowed_email_domains"])
    with transaction.atomic():
        organization.save()
        audit.record(
            "organization.updated",
            by=by,
            organization=organization,
            data={"changes": audit.changes(before, organization)},
        )
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, by: Actor | None = None) -> None:
    # Recorded first: the event keeps the domain when the row (and the foreign key) is gone.
    audit.record(
        "organization.deleted",
        by=by,
        organization=organization,
        data={"name": organization.name, "domain": organization.domain},
    )
    organization.delete()


# --- users ---------------------------------------------------------------------------------------

MAX_META_DATA_KEYS = 50
MAX_META_DATA_BYTES = 16_000


def _checked_meta_data(meta_data: dict) -> dict:
    """The limits hold for what is stored: updates merge into the existing keys, so a series of
    small updates must not grow meta_data past them."""
    problem = None
    if len(meta_data) > MAX_META_DATA_KEYS:
        problem = f"meta_data holds at most {MAX_META_DATA_KEYS} keys; this would make {len(meta_data)}."
    elif len(json.dumps(meta_data)) > MAX_META_DATA_BYTES:
        problem = f"meta_data must stay smaller than {MAX_META_DATA_BYTES // 1000} kB as JSON."
    if problem:
        raise ApiError(problem, code="invalid_request", fields={"meta_data": [problem]})
    return meta_data


def _without_nulls(values: dict) -> dict:
    # In profile and meta_data a null value means "no such key", as the seed's API does.
    return {key: value for key, value in values.items() if value is not None}


def _email_taken(*, organization: Organization, email: str, exclude: User | None = None) -> bool:
    users = User.objects.annotate(email_lower=Lower("email")).filter(
        organization=organization, email_lower=email.lower()
    )
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.exists()


def _email_conflict(email: str, organization: Organization) -> Conflict:
    return Conflict(
        f"A user with the email '{email}' already exists in '{organization.domain}'.",
        code="email_taken",
        fields={"email": ["A user with this email already exists in this organization."]},
    )


def user_create(
    *,
    organization: Organization,
    email: str,
    email_verified: bool = False,
    active: bool = True,
    profile: dict | None = None,
    meta_data: dict | None = None,
    by: Actor | None = None,
) -> User:
    meta_data = _checked_meta_data(_without_nulls(meta_data or {}))
    if _email_taken(organization=organization, email=email):
        raise _email_conflict(email, organization)
    try:
        with transaction.atomic():
            user = User.objects.create(
                organization=organization,
                email=email,
                email_verified=email_verified,
                active=active,
                profile=_without_nulls(profile or {}),
                meta_data=meta_data,
            )
            audit.record(
                "user.created", by=by, organization=organization, user=user, data={"changes": audit.changes({}, user)}
            )
            return user
    except IntegrityError:
        raise _email_conflict(email, organization) from None


def user_update(*, user: User, data: dict[str, Any], by: Actor | None = None) -> User:
    organization = user.organization
    try:
        with transaction.atomic():
            # Lock the row: profile and meta_data are read, merged and written back, and two concurrent
            # updates must not lose each other's keys.
            user = User.objects.select_for_update().get(pk=user.pk)
            before = audit.snapshot(user)
            email_changes = "email" in data and data["email"].lower() != user.email.lower()
            if email_changes and _email_taken(organization=organization, email=data["email"], exclude=user):
                raise _email_conflict(data["email"], organization)
            if user.active and data.get("active") is False:
                # A deactivated user's sign-ins end for good: reactivating them later signs nobody back in.
                user.sessions_revoked_at = timezone.now()
            for field in ("email", "email_verified", "active"):
                if field in data:
                    setattr(user, field, data[field])
            # profile and meta_data are merged key by key, as the seed's API does; a null value removes a key.
            if "profile" in data:
                user.profile = _without_nulls({**user.profile, **data["profile"]})
            if "meta_data" in data:
                user.meta_data = _checked_meta_data(_without_nulls({**user.meta_data, **data["meta_data"]}))
            user.save()
            audit.record(
                "user.updated",
                by=by,
                organization=organization,
                user=user,
                data={"changes": audit.changes(before, user)},
            )
    except IntegrityError:
        raise _email_conflict(data.get("email", user.email), organization) from None
    user.organization = organization
    return user


@transaction.atomic
def user_delete(*, user: User, by: Actor | None = None) -> None:
    audit.record("user.deleted", by=by, organization=user.organization, user=user, data={"email": user.email})
    user.delete()


# --- API keys and their access tokens ------------------------------------------------------------


def api_key_create(
    *,
    name: str,
    organizations: list[Organization] | None = None,
    scopes: list[str] | None = None,
    by: Actor | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key and its secret. The secret is not stored and cannot be shown again.

    `organizations=None` makes a key that sees every organization; a list limits it to those."""
    # None means every scope; an empty list is a mistake, not a request for every scope.
    scopes = list(ALL_SCOPES) if scopes is None else list(dict.fromkeys(scopes))
    if not scopes:
        raise ApiError("An API key needs at least one scope.", code="invalid_scope")
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ApiError(
            f"Unknown scopes: {', '.join(unknown)}. Known scopes: {', '.join(ALL_SCOPES)}.", code="invalid_scope"
        )
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name,
            client_id=f"key_{secrets.token_hex(12)}",
            secret_hash=hash_secret(secret),
            scopes=scopes,
            all_organizations=organizations is None,
        )
        if organizations:
            api_key.organizations.set(organizations)
        # One event per organization the key is limited to, so each tenant's trail shows it; else one.
        for organization in organizations or [None]:
            audit.record(
                "api_key.created",
                by=by,
                organization=organization,
                data={
                    "client_id": api_key.client_id,
                    "name": name,
                    "scopes": scopes,
                    "all_organizations": organizations is None,
                },
            )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by: Actor | None = None) -> ApiKey:
    api_key.active = False
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["active", "revoked_at", "updated_at"])
    api_key.access_tokens.all().delete()
    for organization in (None,) if api_key.all_organizations else api_key.organizations.all() or (None,):
        audit.record(
            "api_key.revoked",
            by=by,
            organization=organization,
            data={"client_id": api_key.client_id, "name": api_key.name},
        )
    return api_key


def api_key_authenticate(*, client_id: str, client_secret: str) -> ApiKey | None:
    # Client ids are short ASCII; anything else (a NUL byte, which PostgreSQL refuses) is unknown.
    usable = len(client_id) <= 64 and client_id.isascii() and "\x00" not in client_id
    api_key = ApiKey.objects.filter(client_id=client_id, active=True).first() if usable else None
    expected = api_key.secret_hash if api_key else hash_secret("")
    # Compare even when the key is unknown, so timing does not tell which client ids exist.
    if not secrets.compare_digest(expected, hash_secret(client_secret)) or api_key is None:
        return None
    return api_key


def api_token_issue(*, api_key: ApiKey, scopes: list[str] | None = None) -> tuple[str, ApiAccessToken]:
    granted = [scope for scope in dict.fromkeys(scopes or api_key.scopes) if scope in api_key.scopes]
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        access_token = ApiAccessToken.objects.create(
            token_hash=hash_secret(token),
            api_key=api_key,
            scopes=granted,
            expires_at=now + timedelta(seconds=settings.API_ACCESS_TOKEN_LIFETIME),
        )
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        # Expired tokens of this key are of no use to anyone; drop them as new ones are issued.
        ApiAccessToken.objects.filter(api_key=api_key, expires_at__lt=now).delete()
    return token, access_token
