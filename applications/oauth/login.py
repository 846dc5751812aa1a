"""Where the authorize endpoint sends an end user who is not signed in to the organization yet.

The connection is, in order: the `idp_id` of the request (only one of this organization's); the
connection a `login_hint` email already signed in through (or the only one, when its domain is one
of the organization's `allowed_email_domains`); the only active connection; otherwise a picker.
Connections of the requesting client's application come first; the others of the organization
are offered when that application has none.
"""

from urllib.parse import urlencode

from django.db.models.functions import Lower
from django.http import HttpResponseRedirect
from django.shortcuts import render

from connections.models import SSOConnection
from connections.providers import provider_get
from organizations.models import Identity


def connection_belongs_to(organization, idp_id: str) -> bool:
    # Another organization's connection looks exactly like a missing one.
    return SSOConnection.objects.filter(pk=idp_id, organization=organization).exists()


def _active_connections(organization, client_id: str | None) -> list[SSOConnection]:
    connections = list(
        SSOConnection.objects.filter(organization=organization, active=True)
        .select_related("application")
        .order_by("inserted_at")
    )
    of_client = [c for c in connections if client_id and c.application.client_id == client_id]
    return of_client or connections


def _by_login_hint(organization, connections: list[SSOConnection], login_hint: str) -> SSOConnection | None:
    email = login_hint.strip().lower()
    if "@" not in email:
        return None
    used = set(
        Identity.objects.annotate(email_lower=Lower("user__email"))
        .filter(user__organization=organization, email_lower=email, idp_id__in=[c.id for c in connections])
        .values_list("idp_id", flat=True)
    )
    matching = [c for c in connections if c.id in used]
    if len(matching) == 1:
        return matching[0]
    domain = email.rsplit("@", 1)[1]
    if len(connections) == 1 and domain in [d.lower() for d in organization.allowed_email_domains or []]:
        return connections[0]
    return None


def sso_start_url(idp_id: str, next_url: str) -> str:
    return f"/sso/start/{idp_id}?{urlencode({'next': next_url})}"


def start_sso_login(
    request, *, organization, idp_id: str | None, login_hint: str | None, next_url: str, client_id: str | None = None
):
    """Send the user to the SSO connection that signs them in, then back to `next_url` (the
    authorize request, which then finds them signed in)."""
    if idp_id:
        if connection_belongs_to(organization, idp_id):
            return HttpResponseRedirect(sso_start_url(idp_id, next_url))
        return render(
            request,
            "applications/oauth/no_connection.html",
            {"organization": organization, "idp_id": idp_id},
            status=400,
        )
    connections = _active_connections(organization, client_id)
    chosen = _by_login_hint(organization, connections, login_hint) if login_hint else None
    if chosen is None and len(connections) == 1:
        chosen = connections[0]
    if chosen is not None:
        return HttpResponseRedirect(sso_start_url(chosen.id, next_url))
    if not connections:
        return render(
            request,
            "applications/oauth/no_connection.html",
            {"organization": organization, "idp_id": None, "none_active": True},
            status=400,
        )
    choices = [
        {
            "url": sso_start_url(c.id, next_url),
            "label": provider_get(c.provider_type).label,
            "application": c.application.name,
            "idp_id": c.id,
        }
        for c in connections
    ]
    return render(
        request,
        "applications/oauth/choose_connection.html",
        {"organization": organization, "choices": choices, "login_hint": login_hint},
    )
