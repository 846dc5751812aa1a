"""The v2 API of the tenant directory: API tokens, organizations and their users."""

import base64
from urllib.parse import unquote

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

from cryptr_sso.api.errors import ApiError
from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, ErrorOutput, deleted_schema, list_schema
from cryptr_sso.api.views import ApiView

from . import selectors, services
from .serializers import (
    OrganizationCreateInput,
    OrganizationOutput,
    OrganizationUpdateInput,
    SessionsRevokedOutput,
    TokenInput,
    TokenOutput,
    UserCreateInput,
    UserListQuery,
    UserOutput,
    UserUpdateInput,
)

NEWEST_FIRST = ("-inserted_at", "-id")
# RFC 6749 5.2: a 401 invalid_client tells the client which authentication scheme to use.
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="api"'}


class TokenRateThrottle(AnonRateThrottle):
    scope = "api_token"

    def get_ident(self, request):
        # DRF trusts X-Forwarded-For when NUM_PROXIES is unset, so a client could pick a fresh
        # identity per request and never be limited. Only a configured proxy count makes it trusted.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or ""
        return super().get_ident(request)


class TokenApi(ApiView):
    """OAuth 2.0 client credentials grant (RFC 6749 4.4) for API keys."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [TokenRateThrottle]

    @extend_schema(
        request=TokenInput,
        responses={200: TokenOutput, 400: ErrorOutput, 401: ErrorOutput, 429: ErrorOutput},
        auth=[],
        summary="Get an access token for an API key",
    )
    def post(self, request):
        data = TokenInput(data=self.body())
        data.is_valid(raise_exception=True)
        if data.validated_data["grant_type"] != "client_credentials":
            raise ApiError("Only grant_type=client_credentials is supported here.", code="unsupported_grant_type")
        client_id = data.validated_data.get("client_id")
        client_secret = data.validated_data.get("client_secret")
        basic = request.META.get("HTTP_AUTHORIZATION", "")
        if basic.lower().startswith("basic "):
            if client_id or client_secret:
                # RFC 6749 2.3: a client must not use more than one authentication method per request.
                raise ApiError(
                    "Send the client credentials either in the body or as HTTP Basic, not both.", code="invalid_request"
                )
            client_id, client_secret = _basic_credentials(basic)
        if not client_id or not client_secret:
            raise ApiError(
                "Send client_id and client_secret, in the body or as HTTP Basic credentials.",
                code="invalid_client",
                status_code=401,
                headers=BASIC_CHALLENGE,
            )
        api_key = services.api_key_authenticate(client_id=client_id, client_secret=client_secret)
        if api_key is None:
            raise ApiError(
                "Unknown client_id, wrong client_secret, or a revoked API key.",
                code="invalid_client",
                status_code=401,
                headers=BASIC_CHALLENGE,
            )
        requested = (data.validated_data.get("scope") or "").split()
        refused = sorted(set(requested) - set(api_key.scopes))
        if refused:
            raise ApiError(f"This API key may not ask for: {', '.join(refused)}.", code="invalid_scope")
        token, access_token = services.api_token_issue(api_key=api_key, scopes=requested)
        return Response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": settings.API_ACCESS_TOKEN_LIFETIME,
                "scope": " ".join(access_token.scopes),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
        client_id, _, client_secret = decoded.partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "The HTTP Basic credentials could not be read.",
            code="invalid_client",
            status_code=401,
            headers=BASIC_CHALLENGE,
        ) from None
    # RFC 6749 2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id), unquote(client_secret)


class OrganizationListCreateApi(ApiView):
    required_scope_resource = "organizations"

    @extend_schema(
        parameters=PAGE_PARAMS,
        responses={200: list_schema(OrganizationOutput, "OrganizationList"), **ERRORS},
        summary="List organizations, newest first",
    )
    def get(self, request):
        number, per_page = read_page_params(request.query_params)
        page = paginate(
            selectors.organization_list(api_key=self.api_key), ordering=NEWEST_FIRST, number=number, per_page=per_page
        )
        return Response(list_envelope(page, OrganizationOutput(page.items, many=True).data))

    @extend_schema(
        request=OrganizationCreateInput, responses={201: OrganizationOutput, **ERRORS}, summary="Create an organization"
    )
    def post(self, request):
        if not self.api_key.all_organizations:
            raise ApiError(
                "This API key is limited to some organizations and cannot create new ones.",
                code="insufficient_scope",
                status_code=status.HTTP_403_FORBIDDEN,
            )
        data = OrganizationCreateInput(data=self.body())
        data.is_valid(raise_exception=True)
        organization = services.organization_create(**data.validated_data, by=self.actor)
        return Response(
            OrganizationOutput(organization).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("organization-detail", args=[organization.domain])},
        )


class OrganizationDetailApi(ApiView):
    required_scope_resource = "organizations"

    @extend_schema(responses={200: OrganizationOutput, **ERRORS}, summary="Get an organization")
    def get(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        return Response(OrganizationOutput(organization).data)

    @extend_schema(
        request=OrganizationUpdateInput,
        responses={200: OrganizationOutput, **ERRORS},
        summary="Update an organization (the fields sent; domain never changes)",
    )
    def put(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        data = OrganizationUpdateInput(data=self.body())
        data.is_valid(raise_exception=True)
        organization = services.organization_update(organization=organization, data=data.validated_data, by=self.actor)
        return Response(OrganizationOutput(organization).data)

    patch = put

    @extend_schema(
        responses={200: deleted_schema(OrganizationOutput, "OrganizationDeleted"), **ERRORS},
        summary="Delete an organization with its users, applications and connections",
    )
    def delete(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        resource = OrganizationOutput(organization).data
        services.organization_delete(organization=organization, by=self.actor)
        return Response({"deleted": True, "resource": resource})


class UserListCreateApi(ApiView):
    required_scope_resource = "users"

    @extend_schema(
        parameters=[*PAGE_PARAMS, UserListQuery],
        responses={200: list_schema(UserOutput, "UserList"), **ERRORS},
        summary="List the users of an organization, newest first",
    )
    def get(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        number, per_page = read_page_params(request.query_params)
        query = UserListQuery(data={"email": request.query_params["email"]} if "email" in request.query_params else {})
        query.is_valid(raise_exception=True)
        users = selectors.user_list(organization=organization, **query.validated_data)
        page = paginate(users, ordering=NEWEST_FIRST, number=number, per_page=per_page)
        data = UserOutput(page.items, many=True, context={"domain": organization.domain}).data
        return Response(list_envelope(page, data, domain=organization.domain))

    @extend_schema(
        request=UserCreateInput,
        responses={201: UserOutput, 409: ErrorOutput, **ERRORS},
        summary="Create a user in an organization",
    )
    def post(self, request, domain):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        data = UserCreateInput(data=self.body())
        data.is_valid(raise_exception=True)
        user = services.user_create(organization=organization, **data.validated_data, by=self.actor)
        return Response(
            UserOutput(user, context={"domain": organization.domain}).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("user-detail", args=[organization.domain, user.id])},
        )


class UserDetailApi(ApiView):
    required_scope_resource = "users"

    @extend_schema(responses={200: UserOutput, **ERRORS}, summary="Get a user")
    def get(self, request, domain, user_id):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        user = selectors.user_get(organization=organization, user_id=user_id)
        return Response(UserOutput(user, context={"domain": organization.domain}).data)

    @extend_schema(
        request=UserUpdateInput,
        responses={200: UserOutput, 409: ErrorOutput, **ERRORS},
        summary="Update a user (the fields sent; profile and meta_data are merged)",
    )
    def put(self, request, domain, user_id):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        user = selectors.user_get(organization=organization, user_id=user_id)
        data = UserUpdateInput(data=self.body())
        data.is_valid(raise_exception=True)
        user = services.user_update(user=user, data=data.validated_data, by=self.actor)
        return Response(UserOutput(user, context={"domain": organization.domain}).data)

    patch = put

    @extend_schema(responses={200: deleted_schema(UserOutput, "UserDeleted"), **ERRORS}, summary="Delete a user")
    def delete(self, request, domain, user_id):
        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        user = selectors.user_get(organization=organization, user_id=user_id)
        resource = UserOutput(user, context={"domain": organization.domain}).data
        services.user_delete(user=user, by=self.actor)
        return Response({"deleted": True, "resource": resource})


class UserRevokeSessionsApi(ApiView):
    required_scope_resource = "users"

    @extend_schema(
        request=None,
        responses={200: SessionsRevokedOutput, **ERRORS},
        summary="Revoke all sessions of a user: their tokens and every gateway sign-in",
    )
    def post(self, request, domain, user_id):
        """Revoke the user's access and refresh tokens and end every sign-in at the gateway (SAML and OIDC
        connections, in every browser): each application must send the person to their IdP again. No body.
        Sign-ins made after this call work as usual; to keep the person out, deactivate the user as well."""
        from applications.oauth.sign_out import end_user_revoke_all_sessions

        organization = selectors.organization_get(api_key=self.api_key, domain=domain)
        user = selectors.user_get(organization=organization, user_id=user_id)
        revoked = end_user_revoke_all_sessions(user=user, by=self.actor)
        return Response(SessionsRevokedOutput({"user": user, **revoked}, context={"domain": organization.domain}).data)
