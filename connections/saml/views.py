"""The SAML SP endpoints of a connection: SP metadata, AuthnRequest, ACS.

djangosaml2 builds and sends the AuthnRequest and keeps the outstanding request ids in its
`saml_session` cookie; the response checks live in SamlResponseProcessor and the sign-in in
connections.sign_in. These views only wire them together and turn errors into pages.
"""

import logging

from django.http import HttpResponse, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.views import LoginView
from saml2 import BINDING_HTTP_POST

from connections.exceptions import SsoConnectionError
from connections.login_session import end_user_login
from connections.pages import connection_for_sign_in, sso_error_page
from connections.selectors import saml_settings_for
from connections.sign_in import AssertedIdentity, sso_sign_in

from .response import SamlResponseProcessor
from .sp import sp_config_for, sp_metadata_xml

logger = logging.getLogger(__name__)


class SpMetadataView(View):
    def get(self, request, idp_id):
        connection, error = connection_for_sign_in(request, idp_id, require_active=False)
        if error:
            return error
        response = HttpResponse(sp_metadata_xml(connection), content_type="application/samlmetadata+xml")
        if request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="sp-metadata-{connection.id}.xml"'
        return response


class SamlLoginView(LoginView):
    """Sends the browser to the IdP with a signed AuthnRequest; `next` is where it comes back to."""

    post_binding_form_template = "connections/post_binding_form.html"

    def dispatch(self, request, *args, idp_id, **kwargs):
        connection, error = connection_for_sign_in(request, idp_id)
        if error:
            return error
        self.connection = connection
        next_path = request.GET.get("next") or request.GET.get("RelayState")
        if next_path and not is_gateway_path(next_path):
            return sso_error_page(request, InvalidNextUrl(), connection=connection, status=400)
        if not next_path:
            # Started at the gateway (no authorize request to return to): land like an IdP-initiated login.
            request.GET = request.GET.copy()
            request.GET["next"] = idp_initiated_landing(connection)
        try:
            self.sp_config = sp_config_for(connection)
        except SsoConnectionError as exc:
            return sso_error_page(request, exc, connection=connection)
        return super().dispatch(request, *args, **kwargs)

    def get_sp_config(self, request):
        return self.sp_config

    def should_prevent_auth(self, request) -> bool:
        # request.user is the operator's Django account (if any): it never stands for an end user.
        return False


@method_decorator(csrf_exempt, name="dispatch")  # the IdP posts cross-site; the signed response is the proof
class AssertionConsumerView(View):
    def post(self, request, idp_id):
        connection, error = connection_for_sign_in(request, idp_id)
        if error:
            return error
        outstanding = OutstandingQueriesCache(request.saml_session)
        try:
            processor = SamlResponseProcessor(
                saml_settings_for(connection), outstanding_requests=outstanding.outstanding_queries()
            )
            login = processor.parse(request.POST.get("SAMLResponse", ""), BINDING_HTTP_POST)
            user = sso_sign_in(connection=connection, identity=AssertedIdentity(
                subject=login.name_id, attributes=login.attributes, name_id_format=login.name_id_format,
                authenticated_at=login.authn_instant,
            ))
        except SsoConnectionError as exc:
            logger.warning("SSO sign-in refused on %s: %s", connection.id, exc.code)
            return sso_error_page(request, exc, connection=connection)
        if login.in_response_to:
            outstanding.delete(login.in_response_to)
        end_user_login(request, user=user, idp_id=connection.id, provider_type=connection.provider_type,
                       authenticated_at=login.authn_instant)
        came_from = login.came_from if login.came_from and is_gateway_path(login.came_from) else ""
        return HttpResponseRedirect(came_from or idp_initiated_landing(connection))


class InvalidNextUrl(SsoConnectionError):
    code = "invalid_next_url"
    hint = ("The sign-in link asks to return to an address outside the gateway. Start the sign-in from the "
            "application again; if this keeps happening, tell the application's developers.")


def is_gateway_path(url: str) -> bool:
    """Only a path on the gateway itself may follow a login (an authorize request, the wizard):
    anything else would make /sso/start an open redirect."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url and "\n" not in url


def idp_initiated_landing(connection) -> str:
    """An IdP-initiated login has no authorize request to return to: start one for the connection's
    application towards its default redirect, which then finds the user signed in and issues a code."""
    from urllib.parse import urlencode

    application = connection.application
    query = {
        "response_type": "code", "client_id": application.client_id, "scope": "openid email profile",
        "redirect_uri": application.default_redirect_uri_after_login, "idp_id": connection.id,
    }
    return f"/t/{connection.organization.domain}/oauth2/authorize?{urlencode(query)}"
