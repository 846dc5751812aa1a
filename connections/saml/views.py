"""The SAML SP endpoints of a connection: SP metadata, AuthnRequest, ACS.

pysaml2 builds and signs the AuthnRequest with the connection's shared client; djangosaml2 keeps the
outstanding request ids in its `saml_session` cookie; the response checks live in SamlResponseProcessor
and the sign-in in connections.sign_in. These views only wire them together and turn errors into pages.
"""

import base64
import logging
import secrets

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.utils import get_fallback_login_redirect_url, get_idp_sso_supported_bindings, get_location
from djangosaml2.views import get_namespace_prefixes
from oauth2_provider.http import OAuth2ResponseRedirect
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from connections.admin_test_login import armed_return_path, finish_admin_test, is_admin_test
from connections.exceptions import SsoConnectionError
from connections.login_session import end_user_login
from connections.pages import connection_for_sign_in, inactive_connection_page, sso_error_page
from connections.selectors import saml_settings_for
from connections.sign_in import AssertedIdentity, record_sign_in, sso_sign_in

from .response import SamlResponseProcessor, sp_client
from .sp import sp_config_for, sp_metadata_xml

logger = logging.getLogger(__name__)

RELAY_STATE_BYTES = 16  # 22 characters of base64url: far under the 80 bytes the bindings allow


class SpMetadataView(View):
    def get(self, request, idp_id):
        connection, error = connection_for_sign_in(request, idp_id, require_active=False)
        if error:
            return error
        response = HttpResponse(sp_metadata_xml(connection), content_type="application/samlmetadata+xml")
        if request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="sp-metadata-{connection.id}.xml"'
        return response


class SamlLoginView(View):
    """Sends the browser to the IdP with a signed AuthnRequest; `next` is where it comes back to.

    Not djangosaml2's LoginView: that one builds a new pysaml2 client for every request, which loads and
    validates the SP's RSA key (about 110 ms of CPU per login, measured by benchmarks/saml_logins.py).
    The connection's client is built once with its SPConfig (response.sp_client)."""

    post_binding_form_template = "connections/post_binding_form.html"

    def dispatch(self, request, *args, idp_id, **kwargs):
        # An inactive connection only for the IT admin's test login (connections/admin_test_login.py).
        connection, error = connection_for_sign_in(
            request, idp_id, test_return_path=request.GET.get("next") or request.GET.get("RelayState")
        )
        if error:
            return error
        self.connection = connection
        next_path = request.GET.get("next") or request.GET.get("RelayState")
        if next_path and not is_gateway_path(next_path):
            return sso_error_page(request, InvalidNextUrl(), connection=connection, status=400)
        landing = idp_initiated_landing(connection)
        if not next_path and is_gateway_path(landing):
            # Started at the gateway (no authorize request to return to): land like an IdP-initiated login.
            # (A public client's landing is the application itself, not a gateway path: `next` stays empty
            # and the ACS lands the same way.)
            request.GET = request.GET.copy()
            request.GET["next"] = landing
        try:
            self.sp_config = sp_config_for(connection)
        except SsoConnectionError as exc:
            return sso_error_page(request, exc, connection=connection)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        # Checked (or set) by dispatch; empty for a public client's login started at the gateway, which the
        # ACS then lands like an IdP-initiated one.
        next_path = request.GET.get("next") or request.GET.get("RelayState") or ""
        # The ACS finds where to go back to from the request it answers (djangosaml2's outstanding-request
        # cache, keyed by the AuthnRequest id), never from the RelayState the IdP echoes. So the IdP gets an
        # opaque value: the SAML bindings cap RelayState at 80 bytes (SAMLBind 3.4.3, 3.5.3), which an
        # authorize URL exceeds, and the wizard's test path holds the onboarding link's secret token, which
        # has no business in the IdP's logs.
        relay_state = secrets.token_urlsafe(RELAY_STATE_BYTES)
        client = sp_client(self.sp_config)
        idp = self.sp_config.cryptr_idp_entity_id
        # HTTP-Redirect where the IdP takes it, else HTTP-POST (the connection's metadata lists its bindings).
        supported = get_idp_sso_supported_bindings(idp, config=self.sp_config)
        binding = BINDING_HTTP_REDIRECT if BINDING_HTTP_REDIRECT in supported else BINDING_HTTP_POST
        options = {"sigalg": SIG_RSA_SHA256, "digest_alg": DIGEST_SHA256, "nsprefix": get_namespace_prefixes()}
        if binding == BINDING_HTTP_REDIRECT:
            request_id, http_info = client.prepare_for_authenticate(
                entityid=idp, relay_state=relay_state, binding=binding, sign=True, **options
            )
            response = HttpResponseRedirect(get_location(http_info))
        else:
            location = client.sso_location(idp, binding)
            request_id, request_xml = client.create_authn_request(location, binding=binding, sign=True, **options)
            response = render(
                request,
                self.post_binding_form_template,
                {
                    "target_url": location,
                    "params": {
                        "SAMLRequest": base64.b64encode(str(request_xml).encode()).decode(),
                        "RelayState": relay_state,
                    },
                },
            )
        OutstandingQueriesCache(request.saml_session).set(request_id, next_path)
        return response


@method_decorator(csrf_exempt, name="dispatch")  # the IdP posts cross-site; the signed response is the proof
class AssertionConsumerView(View):
    def post(self, request, idp_id):
        connection, error = connection_for_sign_in(request, idp_id, test_return_path=armed_return_path(request, idp_id))
        if error:
            return error
        outstanding = OutstandingQueriesCache(request.saml_session)
        try:
            processor = SamlResponseProcessor(
                saml_settings_for(connection), outstanding_requests=outstanding.outstanding_queries()
            )
            login = processor.parse(request.POST.get("SAMLResponse", ""), BINDING_HTTP_POST)
            if is_admin_test(request, connection.id, login.came_from):
                # Verified, but nobody is signed in or provisioned: the wizard shows what arrived.
                outstanding.delete(login.in_response_to)
                return finish_admin_test(request, connection=connection, login=login)
            if not connection.active:
                record_sign_in(request, connection=connection, error="connection_inactive")
                return inactive_connection_page(request, connection)
            user = sso_sign_in(
                connection=connection,
                identity=AssertedIdentity(
                    subject=login.name_id,
                    attributes=login.attributes,
                    name_id_format=login.name_id_format,
                    authenticated_at=login.authn_instant,
                ),
                request=request,
            )
        except SsoConnectionError as exc:
            logger.warning("SSO sign-in refused on %s: %s", connection.id, exc.code)
            if armed_return_path(request, connection.id):
                return finish_admin_test(request, connection=connection, error=exc)
            record_sign_in(request, connection=connection, error=exc)
            return sso_error_page(request, exc, connection=connection)
        record_sign_in(request, connection=connection, user=user)
        if login.in_response_to:
            outstanding.delete(login.in_response_to)
        end_user_login(
            request,
            user=user,
            idp_id=connection.id,
            provider_type=connection.provider_type,
            authenticated_at=login.authn_instant,
            sso_session={
                "protocol": "saml",
                "name_id": login.name_id,
                "name_id_format": login.name_id_format,
                "session_index": login.session_index,
            },
        )
        from .logout import remember_sso_session

        remember_sso_session(idp_id=connection.id, name_id=login.name_id, session_key=request.session.session_key)
        came_from = login.came_from if login.came_from and is_gateway_path(login.came_from) else ""
        if came_from == get_fallback_login_redirect_url():
            came_from = ""  # djangosaml2's default when the login had no `next`: not a place to land
        landing = came_from or idp_initiated_landing(connection)
        if is_gateway_path(landing):
            return HttpResponseRedirect(landing)
        # A public client's landing is the application's own URI, which may use a custom scheme.
        return OAuth2ResponseRedirect(landing, connection.application.get_allowed_schemes())


class InvalidNextUrl(SsoConnectionError):
    code = "invalid_next_url"
    hint = gettext_lazy(
        "The sign-in link asks to return to an address outside the gateway. Start the sign-in from "
        "the application again; if this keeps happening, tell the application's developers."
    )


def is_gateway_path(url: str) -> bool:
    """Only a path on the gateway itself may follow a login (an authorize request, the wizard):
    anything else would make /sso/start an open redirect."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url and "\n" not in url


IDP_INITIATED_HINT = "idp_initiated"


def idp_initiated_landing(connection) -> str:
    """Where a login with no authorize request to return to lands (IdP-initiated, or started at the gateway).

    A confidential client: an authorize request for the connection's application towards its default
    redirect, which finds the user signed in and issues a code (the client authenticates at the token
    endpoint, so no PKCE is needed).

    A public client (SPA, native) must use PKCE, and only the application holds the code_verifier: the
    browser lands on the application's default redirect URI with no code, with the hint
    `?idp_initiated=1&idp_id=<idp_id>`. The application then starts its normal authorization request
    (with PKCE, and `idp_id` to skip the connection choice); the gateway finds the user signed in and
    returns the code at once, without the user seeing the IdP again.
    """
    from urllib.parse import urlencode

    from oauthlib.common import add_params_to_uri

    application = connection.application
    if application.client_type == application.CLIENT_PUBLIC:
        return add_params_to_uri(
            application.default_redirect_uri_after_login, [(IDP_INITIATED_HINT, "1"), ("idp_id", connection.id)]
        )
    query = {
        "response_type": "code",
        "client_id": application.client_id,
        "scope": "openid email profile",
        "redirect_uri": application.default_redirect_uri_after_login,
        "idp_id": connection.id,
    }
    return f"/t/{connection.organization.domain}/oauth2/authorize?{urlencode(query)}"


# --- single logout ----------------------------------------------------------------------------------------


def _logout_error_page(request, error: SsoConnectionError, *, connection, status: int = 403, continue_url: str = ""):
    from django.shortcuts import render
    from django.utils.translation import gettext as _

    return render(
        request,
        "connections/sso_error.html",
        {
            "title": _("Single sign-out could not be completed"),
            "message": _(
                "A sign-out message from your company's identity provider could not be accepted, so it "
                "changed nothing. Give the details below to your IT administrator."
            ),
            "hint": error.hint,
            "code": error.code,
            "idp_id": connection.id,
            "organization": connection.organization,
            "who_can_fix": _(
                "Your IT administrator can fix this in your identity provider or in the SSO connection's "
                "settings. To make sure you are signed out, close the browser."
            ),
            "continue_url": continue_url,
        },
        status=status,
    )


def _send(request, outgoing) -> HttpResponse:
    """Carry a SAML message to the IdP: a redirect, or an auto-submitting form with a Continue button."""
    from django.shortcuts import render

    if outgoing.location:
        response = HttpResponseRedirect(outgoing.location)
    else:
        response = render(
            request,
            "connections/post_binding_logout_form.html",
            {"target_url": outgoing.form_action, "params": outgoing.form_fields},
        )
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")  # the IdP posts cross-site; the signed message is the proof
class SingleLogoutView(View):
    """`GET, POST /sso/sp/logout/{idp_id}`: the connection's SAML SLO endpoint.

    - a LogoutRequest (IdP-initiated single logout): verified (connections.saml.logout), the gateway
      sessions the connection opened for that NameID are ended and the user's tokens in the organization
      revoked, then a signed LogoutResponse goes back to the IdP;
    - a LogoutResponse (the end of a logout the application started at /t/{domain}/oauth2/logout):
      verified, matched to the LogoutRequest this browser sent, then the browser goes on to the
      application's post_logout_redirect_uri kept with that request.
    """

    def get(self, request, idp_id):
        return self._handle(request, idp_id, request.GET, BINDING_HTTP_REDIRECT)

    def post(self, request, idp_id):
        return self._handle(request, idp_id, request.POST, BINDING_HTTP_POST)

    def _handle(self, request, idp_id, data, binding):
        from .logout import LogoutMalformed, SamlLogout

        # Ending sessions is allowed even when the connection was switched off since they were opened.
        connection, error = connection_for_sign_in(request, idp_id, require_active=False)
        if error:
            return error
        raw_query = request.META.get("QUERY_STRING", "") if binding == BINDING_HTTP_REDIRECT else ""
        try:
            slo = SamlLogout(saml_settings_for(connection))
            if "SAMLRequest" in data:
                return self._logout_request(request, connection, slo, data, binding, raw_query)
            if "SAMLResponse" in data:
                return self._logout_response(request, connection, slo, data, binding, raw_query)
            raise LogoutMalformed(detail="neither SAMLRequest nor SAMLResponse")
        except SsoConnectionError as exc:
            return _logout_error_page(
                request, exc, connection=connection, status=400 if isinstance(exc, LogoutMalformed) else 403
            )

    def _logout_request(self, request, connection, slo, data, binding, raw_query):
        from .logout import end_sso_sessions

        incoming = slo.parse_request(data, binding, raw_query)
        ended = end_sso_sessions(request, connection=connection, request_in=incoming)
        logger.info("SAML single logout from the IdP of %s: %d gateway session(s) ended", connection.id, ended)
        # Success also when nothing was open here: the person has no session at the gateway any more.
        return _send(request, slo.logout_response(incoming, success=True))

    def _logout_response(self, request, connection, slo, data, binding, raw_query):
        from django.shortcuts import render

        from .logout import LogoutRefusedByIdp, claim_logout_request

        incoming = slo.parse_response(data, binding, raw_query)
        entry = claim_logout_request(
            request.saml_session,
            in_response_to=incoming.in_response_to,
            idp_id=connection.id,
            relay_state=incoming.relay_state,
        )
        if not incoming.status_ok:
            logger.warning("SAML LogoutResponse of %s: status %s", connection.id, incoming.status_code)
            # Signed out of the gateway already: say so, and let the person go on to the application.
            return _logout_error_page(
                request,
                LogoutRefusedByIdp(detail=incoming.status_code),
                connection=connection,
                status=200,
                continue_url=entry["next"],
            )
        if entry["next"]:
            return OAuth2ResponseRedirect(entry["next"], entry["schemes"])
        return render(request, "applications/oauth/signed_out.html", {"organization": connection.organization})


def start_saml_logout(request, *, end_user, next_url: str, schemes: list[str]) -> HttpResponse | None:
    """After the gateway's own logout: a signed LogoutRequest for the end user's IdP session, when the
    sign-in came from a SAML connection whose IdP has an SLO endpoint; None otherwise (or when the
    request cannot be made: the gateway logout is done, the application gets its user back)."""
    from connections.selectors import connection_get_for_login

    from .logout import SamlLogout, remember_logout_request

    sso = end_user.sso_session if end_user else {}
    if sso.get("protocol") != "saml" or not sso.get("name_id"):
        return None
    connection = connection_get_for_login(idp_id=end_user.idp_id)
    if connection is None or connection.protocol != "saml" or not connection.idp_slo_url:
        return None
    try:
        slo = SamlLogout(saml_settings_for(connection))
        request_id, relay_state, outgoing = slo.logout_request(
            name_id=sso["name_id"],
            name_id_format=sso.get("name_id_format", ""),
            session_index=sso.get("session_index", ""),
        )
    except SsoConnectionError as exc:
        logger.warning("SAML LogoutRequest not sent for %s: %s %s", connection.id, exc.code, exc.detail)
        return None
    remember_logout_request(
        request.saml_session,
        request_id=request_id,
        relay_state=relay_state,
        idp_id=connection.id,
        next_url=next_url,
        schemes=list(schemes),
        domain=connection.organization.domain,
    )
    return _send(request, outgoing)
