"""Logout at the customer's OpenID provider when an application signs a user out through the gateway
(OpenID Connect RP-Initiated Logout 1.0, the gateway being the relying party).

The OIDC callback keeps the IdP's ID token of the sign-in under its own session key, encrypted with the
field encryption key (connections.crypto): it is the `id_token_hint` the IdP needs to know whose session
to end, and it never reaches a log. `/t/{domain}/oauth2/logout` signs the person out of the gateway, then
`start_oidc_logout` sends the browser to the IdP's end_session_endpoint with the hint, our client_id, our
post-logout callback and a `state` kept in this browser's session with where the application wants the
browser afterwards. The callback takes that state once and sends the browser on to the application's
post_logout_redirect_uri (already checked against the application's registered URIs).
"""

import logging
import secrets
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from oauth2_provider.http import OAuth2ResponseRedirect

from connections.crypto import DecryptionError, decrypt_text, encrypt_text
from connections.exceptions import OidcError
from connections.models import SSOConnection
from connections.providers import OIDC

from .config import post_logout_redirect_uri_for
from .pending import PendingRequests

logger = logging.getLogger(__name__)

ID_TOKEN_SESSION_KEY = "oidc_rp_id_token"
LOGOUTS_SESSION_KEY = "oidc_rp_logouts"
MAX_PENDING = 5  # logouts started in this browser and not back yet; the oldest is dropped
LOGOUT_LIFETIME_SECONDS = 15 * 60


class OidcLogoutStateInvalid(OidcError):
    code = "oidc_logout_state_invalid"
    hint = gettext_lazy(
        "The identity provider sent the browser back from a sign-out this browser did not start here (its state "
        "is missing, unknown, already used or for another connection), or the sign-out took too long. You are "
        "signed out of the gateway; to be sure you are signed out of your company's identity provider too, close "
        "the browser."
    )


# --- the IdP's ID token of the sign-in, kept for id_token_hint ------------------------------------------


def remember_id_token(request, *, connection: SSOConnection, user_id: str, id_token: str) -> None:
    """After a sign-in through `connection` (and after the session key was cycled by end_user_login)."""
    request.session[ID_TOKEN_SESSION_KEY] = {
        "idp_id": connection.id,
        "user_id": str(user_id),
        "id_token": encrypt_text(id_token),
    }


def take_id_token(request, *, idp_id: str, user_id: str) -> str:
    """The ID token of this browser's sign-in through `idp_id` by `user_id`, removed from the session
    (any kept ID token is removed, whoever it belongs to); "" when there is none."""
    kept = request.session.pop(ID_TOKEN_SESSION_KEY, None)
    if not isinstance(kept, dict) or kept.get("idp_id") != idp_id or kept.get("user_id") != str(user_id):
        return ""
    try:
        return decrypt_text(kept.get("id_token", ""))
    except DecryptionError:
        return ""  # the encryption key changed since the sign-in: logout without the hint


# --- the logout request and its callback ---------------------------------------------------------------

LOGOUTS = PendingRequests(LOGOUTS_SESSION_KEY, MAX_PENDING, LOGOUT_LIFETIME_SECONDS)


def start_oidc_logout(request, *, end_user, next_url: str, schemes: list[str]) -> HttpResponse | None:
    """After the gateway's own logout: the redirect to the IdP's end_session_endpoint when the sign-in
    came from an OIDC connection whose IdP advertises one (and the connection has not opted out); None
    otherwise, and the application gets its browser back at once."""
    from connections.selectors import connection_get_for_login

    sso = end_user.sso_session if end_user else {}
    if sso.get("protocol") != "oidc":
        return None
    id_token = take_id_token(request, idp_id=end_user.idp_id, user_id=str(end_user.user.pk))
    connection = connection_get_for_login(idp_id=end_user.idp_id)
    if (
        connection is None
        or connection.protocol != OIDC
        or not connection.oidc_logout_at_idp
        or not connection.oidc_end_session_endpoint
        or not connection.oidc_client_id
    ):
        return None
    state = secrets.token_urlsafe(32)
    LOGOUTS.add(request, state, idp_id=connection.id, next=next_url, schemes=list(schemes))
    # RP-Initiated Logout 1.0, section 2: id_token_hint RECOMMENDED; client_id lets the IdP check the
    # post_logout_redirect_uri when it has no hint (an ID token lost to a key change, a sign-in before
    # the gateway kept them).
    params = {
        "client_id": connection.oidc_client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri_for(connection),
        "state": state,
    }
    if id_token:
        params = {"id_token_hint": id_token, **params}
    endpoint = connection.oidc_end_session_endpoint
    separator = "&" if "?" in endpoint else "?"
    response = HttpResponseRedirect(f"{endpoint}{separator}{urlencode(params)}")
    response["Cache-Control"] = "no-store"
    logger.info(
        "Logout at the OIDC IdP of %s started (id_token_hint %s)",
        connection.id,
        "sent" if id_token else "not available",
    )
    return response


def _take_logout(request, idp_id: str) -> dict:
    return LOGOUTS.take(request, idp_id=idp_id, invalid=OidcLogoutStateInvalid)


class OidcLogoutCallbackView(View):
    """`GET /sso/oidc/logout/callback/{idp_id}`: the IdP's end of a logout the gateway started; the
    state is checked, then the browser goes on to the application's post_logout_redirect_uri."""

    def get(self, request, idp_id):
        from connections.pages import connection_for_sign_in

        # Like SAML single logout: ending a session is fine after the connection was switched off.
        connection, error = connection_for_sign_in(request, idp_id, require_active=False)
        if error:
            return error
        try:
            started = _take_logout(request, connection.id)
        except OidcLogoutStateInvalid as exc:
            logger.warning("OIDC logout callback refused on %s: %s %s", connection.id, exc.code, exc.detail)
            return render(
                request,
                "connections/sso_error.html",
                {
                    "title": _("Sign-out could not be completed"),
                    "message": _(
                        "Your company's identity provider sent you back here from a sign-out this browser "
                        "did not start, so the gateway did not send you on to the application."
                    ),
                    "hint": exc.hint,
                    "code": exc.code,
                    "idp_id": connection.id,
                    "organization": connection.organization,
                    "who_can_fix": _(
                        "Sign out again from the application. If this keeps happening, your IT "
                        "administrator can check the identity provider's sign-out settings."
                    ),
                },
                status=400,
            )
        if started.get("next"):
            return OAuth2ResponseRedirect(started["next"], started.get("schemes") or [])
        return render(request, "applications/oauth/signed_out.html", {"organization": connection.organization})
