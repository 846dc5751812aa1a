"""Where the authorize endpoint sends an end user who is not signed in to the organization yet.

One function, `start_sso_login`: the SAML/OIDC login work fills in the connection choice
(`login_hint` matched on `allowed_email_domains`, a picker when the organization has several).
"""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.shortcuts import render

from connections.models import SSOConnection


def connection_belongs_to(organization, idp_id: str) -> bool:
    # Another organization's connection looks exactly like a missing one.
    return SSOConnection.objects.filter(pk=idp_id, organization=organization).exists()


def start_sso_login(request, *, organization, idp_id: str | None, login_hint: str | None, next_url: str):
    """Send the user to the SSO connection that signs them in, then back to `next_url` (the
    authorize request, which then finds them signed in)."""
    if idp_id and connection_belongs_to(organization, idp_id):
        return HttpResponseRedirect(f"/sso/start/{idp_id}?{urlencode({'next': next_url})}")
    return render(
        request,
        "applications/oauth/no_connection.html",
        {"organization": organization, "idp_id": idp_id, "login_hint": login_hint},
        status=400,
    )
