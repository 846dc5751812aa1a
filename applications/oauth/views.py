"""django-oauth-toolkit's views, made tenant-aware (see tenancy.py) and enterprise-SSO shaped.

The end user is an organizations.User signed in by an SSO login (connections.login_session), never
a Django auth user: each view puts that user (or an anonymous one) on `request.user` before DOT
looks, so an operator's admin session can never authorize anything here.
"""

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import get_script_prefix
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import InvalidIDTokenError, InvalidOIDCClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import add_params_to_uri

from applications.oauth.keys import published_jwks
from applications.oauth.login import start_sso_login
from applications.oauth.sign_out import sign_out_end_user
from applications.oauth.tenancy import META_END_USER_ID, request_issuer
from applications.oauth.tokens import SsoSignIn
from connections.login_session import end_user_from_session
from connections.logout import start_idp_logout
from connections.models import SSOConnection


def _sign_in_end_user(request):
    end_user = end_user_from_session(request, organization_id=request.organization.pk)
    request.user = end_user.user if end_user else AnonymousUser()
    if end_user:
        request.META[META_END_USER_ID] = str(end_user.user.pk)
    return end_user


def _without_prompt(full_path: str) -> str:
    parts = urlsplit(full_path)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "prompt"]
    return parts._replace(query=urlencode(query)).geturl()


class AuthorizationView(dot_views.AuthorizationView):
    """`GET /t/{domain}/oauth2/authorize`. No consent screen: the organization connected the
    application for its users, so a valid request from a signed-in user gets its code at once."""

    # GET only: a HEAD (link prefetchers) must not mint a code, and there is no consent form to POST.
    http_method_names = ["get"]
    template_name = "applications/oauth/authorize_error.html"  # only errors: there is no consent form

    def dispatch(self, request, *args, **kwargs):
        self.end_user = _sign_in_end_user(request)
        return super().dispatch(request, *args, **kwargs)

    def validate_authorization_request(self, request):
        self._scopes, self._credentials = super().validate_authorization_request(request)
        return self._scopes, self._credentials

    def create_authorization_response(self, request, scopes, credentials, allow):
        end_user = self.end_user
        credentials["cryptr_sso"] = SsoSignIn(
            idp_id=end_user.idp_id, provider_type=end_user.provider_type, auth_time=end_user.authenticated_at
        )
        return super().create_authorization_response(request, scopes, credentials, allow)

    def render_to_response(self, context, **response_kwargs):
        if context.get("error") or "form" not in context:
            return super().render_to_response(context, **response_kwargs)
        # DOT would now show its consent form (the application's skip_authorization is off): the
        # gateway grants instead, with the credentials DOT validated for this very request.
        application = context["application"]
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=self.request, scopes=" ".join(self._scopes), credentials=self._credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def handle_no_permission(self):
        prompt = set(self.request.GET.get("prompt", "").split())
        if prompt & {"none", "create"}:
            return super().handle_no_permission()
        # Check the client and its redirect_uri before sending anybody to sign in for it.
        try:
            self.validate_authorization_request(self.request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        return self._start_sso_login()

    def handle_prompt_login(self):
        # OIDC Core 3.1.2.1 prompt=login: sign in again at the IdP, then come back without it.
        return self._start_sso_login()

    def _start_sso_login(self):
        return start_sso_login(
            self.request,
            organization=self.request.organization,
            idp_id=self.request.GET.get("idp_id") or None,
            login_hint=self.request.GET.get("login_hint") or None,
            next_url=_without_prompt(self.request.get_full_path()),
            client_id=self.request.GET.get("client_id") or None,
        )


class JwksInfoView(dot_views.JwksInfoView):
    """DOT's JWKS reads only the settings' keys: this one publishes the rotation's keys too
    (applications.oauth.keys.published_jwks), with DOT's headers."""

    def get(self, request, *args, **kwargs):
        keys = [
            {"alg": "RS256", "use": "sig", "kid": key.thumbprint(), **json.loads(key.export_public())}
            for key in published_jwks()
        ]
        response = JsonResponse({"keys": keys})
        max_age = oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = (
            f"public, max-age={max_age}, stale-while-revalidate={max_age}, stale-if-error={max_age}"
        )
        return response


class ConnectDiscoveryInfoView(dot_views.ConnectDiscoveryInfoView):
    """`GET /t/{domain}/.well-known/openid-configuration`, with the tenant's issuer from BASE_URL."""

    def _get_endpoint_url(self, request, view_name, required=False):
        url = super()._get_endpoint_url(request, view_name, required)
        if url is None:
            return None
        path = urlsplit(url).path.removeprefix(get_script_prefix())
        return f"{request_issuer(request)}/{path}"

    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        data.update(
            issuer=request_issuer(request),
            revocation_endpoint=self._get_endpoint_url(request, "revoke-token", required=True),
            grant_types_supported=["authorization_code", "refresh_token"],
            response_modes_supported=["query"],
            # The gateway signs ID tokens with its RSA key only (see validators.finalize_id_token).
            id_token_signing_alg_values_supported=["RS256"],
            revocation_endpoint_auth_methods_supported=data["token_endpoint_auth_methods_supported"],
        )
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class UserInfoView(dot_views.UserInfoView):
    """`GET, POST /t/{domain}/oauth2/userinfo`."""

    def dispatch(self, request, *args, **kwargs):
        # RFC 9700 4.3.2: never an access token in the URL (it ends up in logs and Referer headers).
        # oauthlib's userinfo endpoint would read one from the query string.
        if "access_token" in request.GET:
            response = JsonResponse(
                {"error": "invalid_request", "error_description": "Send the access token in the Authorization header."},
                status=400,
            )
            response["WWW-Authenticate"] = 'Bearer error="invalid_request"'
            return response
        return super().dispatch(request, *args, **kwargs)


class RPInitiatedLogoutView(dot_views.RPInitiatedLogoutView):
    """`GET /t/{domain}/oauth2/logout`: OIDC RP-Initiated Logout 1.0, to a post_logout_redirect_uri the
    client registered; clears the end user's sign-in at the gateway and revokes their tokens."""

    template_name = "applications/oauth/logout.html"

    def dispatch(self, request, *args, **kwargs):
        self.end_user = _sign_in_end_user(request)
        return super().dispatch(request, *args, **kwargs)

    def get_request_application(self, id_token, client_id):
        organization = self.request.organization
        if client_id:
            application = get_application_model().objects.filter(client_id=client_id, organization=organization).first()
            if application is None:
                raise InvalidOIDCClientError()
            return application
        if id_token:
            if id_token.application is None or id_token.application.organization_id != organization.pk:
                raise InvalidIDTokenError()
            return id_token.application
        return None

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        """The gateway's logout (applications.oauth.sign_out), then SAML single logout at the IdP when the
        sign-in came from a SAML connection whose IdP has an SLO endpoint; the browser ends on the
        post_logout_redirect_uri (validated above against the client's registered URIs) either way."""
        request = self.request
        user = token_user or (request.user if request.user.is_authenticated else None)
        sign_out_end_user(request, organization=request.organization, user=user)
        request.user = AnonymousUser()
        if post_logout_redirect_uri and state:
            post_logout_redirect_uri = add_params_to_uri(post_logout_redirect_uri, [("state", state)])
        schemes = application.get_allowed_schemes() if application else []
        idp_logout = start_idp_logout(
            request, end_user=self.end_user, next_url=post_logout_redirect_uri or "", schemes=schemes
        )
        if idp_logout is not None:
            return idp_logout
        if post_logout_redirect_uri:
            return OAuth2ResponseRedirect(post_logout_redirect_uri, schemes)
        return render(request, "applications/oauth/signed_out.html", {"organization": request.organization})


def enterprise_login(request, idp_id: str):
    """`GET /enterprise/{idp_id}/login?<authorize query>`: the seed-era entry. Goes to the authorize
    endpoint of the connection's organization with that connection chosen."""
    connection = SSOConnection.objects.select_related("organization").filter(pk=idp_id).first()
    if connection is None:
        raise Http404("Unknown SSO connection.")
    query = [(key, value) for key, values in request.GET.lists() if key != "idp_id" for value in values]
    query.append(("idp_id", idp_id))
    domain = connection.organization.domain
    return HttpResponseRedirect(f"/t/{domain}/oauth2/authorize?{urlencode(query)}")
