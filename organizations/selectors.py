"""Reads of the tenant directory. Every fetch is scoped: another tenant's row looks exactly like a missing one."""

import contextlib
import re
import uuid

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from cryptr_sso.api.errors import NotFound

from .models import ApiKey, Identity, Organization, User

DOMAIN_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _visible_organizations(api_key: ApiKey | None) -> QuerySet[Organization]:
    organizations = Organization.objects.all()
    if api_key is not None and not api_key.all_organizations:
        # A join in the same query, not one more query for the key's organization ids on every request.
        organizations = organizations.filter(api_keys=api_key)
    return organizations


def organization_list(*, api_key: ApiKey | None) -> QuerySet[Organization]:
    return _visible_organizations(api_key)


def organization_get(*, api_key: ApiKey | None, domain: str) -> Organization:
    """By domain, or by id (the API accepts both where the design says "id or domain")."""
    not_found = NotFound(f"There is no organization '{domain[:100]}', or your API key cannot see it.")
    # Only a string that could be a domain is looked up as one: anything else (a NUL byte, which
    # PostgreSQL refuses, or 10 kB of junk) is simply not found, without a query.
    # A domain may itself read as a UUID (a name such as "deadbeefdeadbeefdeadbeefdeadbeef"): match either.
    lookup = Q(domain=domain) if DOMAIN_RE.fullmatch(domain) else Q()
    with contextlib.suppress(ValueError):
        lookup = (lookup | Q(id=uuid.UUID(domain))) if lookup else Q(id=uuid.UUID(domain))
    if not lookup:
        raise not_found
    organization = _visible_organizations(api_key).filter(lookup).first()
    if organization is None:
        raise not_found
    return organization


def user_queryset(*, organization: Organization) -> QuerySet[User]:
    return User.objects.filter(organization=organization).prefetch_related(
        # to_attr: a plain list per user. Without it Django clones and filters a queryset for every user
        # of the page, which cost more than all the SQL of a 100-user page.
        Prefetch("identities", queryset=Identity.objects.order_by("inserted_at"), to_attr="identity_list")
    )


def user_list(*, organization: Organization, email: str | None = None) -> QuerySet[User]:
    users = user_queryset(organization=organization)
    if email:
        # lower(email) is what the per-organization unique index holds, so this is an index lookup.
        users = users.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
    return users


def user_get(*, organization: Organization, user_id: str) -> User:
    try:
        uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound(f"There is no user '{user_id}' in '{organization.domain}'.") from None
    user = user_queryset(organization=organization).filter(id=user_id).first()
    if user is None:
        raise NotFound(f"There is no user '{user_id}' in '{organization.domain}'.")
    return user
