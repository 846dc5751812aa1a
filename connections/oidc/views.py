"""The OIDC relying-party endpoints of a connection: the authentication request and the callback.

mozilla-django-oidc's views read one global configuration and keep `state` in the session without
saying which IdP it was sent to; these subclasses take the connection from the URL and bind every
`state` (with its `nonce`, PKCE verifier and `next`) to the idp_id it was sent for. The protocol
work is in ConnectionOidcBackend; these views only wire it to the session and the error pages, like
the SAML views.
"""

import logging
import secrets
from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from mozilla_django_oidc.utils import generate_code_challenge
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from connections.admin_test_login import armed_return_path, finish_admin_test, is_admin_test
from connections.exceptions import OidcIdpRefused, OidcStateInvalid, SsoConnectionError
from connections.login_session import end_user_login
from connections.pages import connection_for_sign_in, inactive_connection_page, sso_error_page
from connections.saml.views import InvalidNextUrl, idp_initiated_landing, is_gateway_path
from connections.sign_in import MissingEmail, record_sign_in, sso_sign_in

from .backend import ConnectionOidcBackend, asserted_identity, oidc_login
from .config import oidc_settings_for
from .logout import remember_id_token
from .pending import PendingRequests

logger = logging.getLogger(__name__)

OIDC_MISSING_EMAIL = (
    "The identity provider sent no email address for this person. Ask for the 'email' scope (it is in the "
    "connection's scopes by default) and map 'email' to the claim that carries it; in Entra ID, add the optional "
    "claim 'email' to the ID token, or map email to 'preferred_username'."
)
SESSION_KEY = "oidc_rp_requests"
MAX_PENDING = 10  # sign-ins started and not finished in one browser (tabs); the oldest is dropped
REQUEST_LIFETIME_SECONDS = 15 * 60


SIGN_INS = PendingRequests(SESSION_KEY, MAX_PENDING, REQUEST_LIFETIME_SECONDS)


class OidcLoginView(OIDCAuthenticationRequestView):
    """/sso/start/<idp_id> for an OIDC connection: the authorization request (code flow, PKCE S256)."""

    def __init__(self, *args, **kwargs):  # not super().__init__: it reads the global OIDC_OP_* settings
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request, idp_id):
        next_path = request.GET.get("next")
        # An inactive connection only for the IT admin's test login (connections/admin_test_login.py).
        connection, error = connection_for_sign_in(request, idp_id, test_return_path=next_path)
        if error:
            return error
        if next_path and not is_gateway_path(next_path):
            return sso_error_page(request, InvalidNextUrl(), connection=connection, status=400)
        try:
            settings = oidc_settings_for(connection)
        except SsoConnectionError as exc:
            return sso_error_page(request, exc, connection=connection)
        self.OIDC_OP_AUTH_ENDPOINT, self.OIDC_RP_CLIENT_ID = settings.authorization_endpoint, settings.client_id
        self.oidc_settings = settings

        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        code_verifier = secrets.token_urlsafe(64)  # RFC 7636 4.1: 43 to 128 characters
        params = {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": settings.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": generate_code_challenge(code_verifier, "S256"),
            "code_challenge_method": "S256",
            **self.get_extra_params(request),
        }
        SIGN_INS.add(
            request,
            state,
            idp_id=connection.id,
            nonce=nonce,
            code_verifier=code_verifier,
            next=next_path or idp_initiated_landing(connection),
        )
        separator = "&" if "?" in settings.authorization_endpoint else "?"
        return HttpResponseRedirect(f"{settings.authorization_endpoint}{separator}{urlencode(params)}")

    def get_extra_params(self, request) -> dict:
        settings = self.oidc_settings
        extra = {}
        if settings.profile == "google" and len(settings.hosted_domains) == 1:
            extra["hd"] = settings.hosted_domains[0]  # a hint for Google's account chooser; checked in the token
        login_hint = request.GET.get("login_hint", "")
        if login_hint and len(login_hint) <= 254:
            extra["login_hint"] = login_hint
        return extra


class OidcCallbackView(OIDCAuthenticationCallbackView):
    """/sso/oidc/callback/<idp_id>: state -> code exchange -> ID token checks -> sign-in -> next."""

    def get(self, request, idp_id):
        connection, error = connection_for_sign_in(request, idp_id, test_return_path=armed_return_path(request, idp_id))
        if error:
            return error
        try:
            started = self._take_state(request, connection.id)
            claims, id_token = self._verified_claims(request, connection, started)
            if is_admin_test(request, connection.id, started.get("next")):
                # Verified, but nobody is signed in or provisioned: the wizard shows what arrived.
                return finish_admin_test(request, connection=connection, login=oidc_login(claims))
            if not connection.active:
                record_sign_in(request, connection=connection, error="connection_inactive")
                return inactive_connection_page(request, connection)
            identity = asserted_identity(claims)
            try:
                user = sso_sign_in(connection=connection, identity=identity, request=request)
            except MissingEmail:
                raise MissingEmail(OIDC_MISSING_EMAIL) from None
        except SsoConnectionError as exc:
            logger.warning("OIDC sign-in refused on %s: %s", connection.id, exc.code)
            if armed_return_path(request, connection.id):
                return finish_admin_test(request, connection=connection, error=exc)
            record_sign_in(request, connection=connection, error=exc)
            return sso_error_page(request, exc, connection=connection)
        record_sign_in(request, connection=connection, user=user)
        end_user_login(
            request,
            user=user,
            idp_id=connection.id,
            provider_type=connection.provider_type,
            authenticated_at=identity.authenticated_at,
            sso_session={"protocol": "oidc", "sub": identity.subject, "sid": str(claims.get("sid", ""))},
        )
        remember_id_token(request, connection=connection, user_id=str(user.pk), id_token=id_token)
        next_path = started.get("next") or ""
        return HttpResponseRedirect(next_path if is_gateway_path(next_path) else idp_initiated_landing(connection))

    @staticmethod
    def _verified_claims(request, connection, started: dict) -> tuple[dict, str]:
        """The ID token's verified claims (with userinfo where needed) and the ID token itself."""
        if request.GET.get("error"):
            raise OidcIdpRefused(
                error=request.GET["error"][:64], description=request.GET.get("error_description", "")[:200]
            )
        code = request.GET.get("code")
        if not code:
            raise OidcIdpRefused(error="no code")
        backend = ConnectionOidcBackend(oidc_settings_for(connection))
        claims = backend.verified_claims(
            request, connection=connection, code=code, nonce=started["nonce"], code_verifier=started["code_verifier"]
        )
        return claims, backend.id_token

    @staticmethod
    def _take_state(request, idp_id: str) -> dict:
        """The pending request this answer belongs to, used once; refused when missing, unknown, sent
        for another connection or too old."""
        return SIGN_INS.take(request, idp_id=idp_id, invalid=OidcStateInvalid)
