"""The v2 API of SSO connections: `/api/v2/sso-connections[/{idp_id}]`."""

import re

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from applications.models import Application
from applications.selectors import application_get
from cryptr_sso.api.errors import ApiError, NotFound
from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, ErrorOutput, deleted_schema, list_schema
from cryptr_sso.api.views import ApiView
from onboarding.services import onboarding_invite
from organizations.models import Organization
from organizations.selectors import organization_get

from . import selectors, services
from .serializers import ConnectionCreateInput, ConnectionOutput, ConnectionUpdateInput

NEWEST_FIRST = ("-inserted_at", "-id")
_NESTED_FORM_KEY = re.compile(r"^(?P<outer>\w+)\[(?P<inner>\w+)\]$")


def _nest_form_keys(body: dict) -> dict:
    """Form bodies send `saml_config[idp_entity_id]=...`; JSON bodies send the nested object."""
    nested: dict = {}
    for key, value in body.items():
        match = _NESTED_FORM_KEY.match(key)
        if match and not isinstance(body.get(match["outer"]), str):
            nested.setdefault(match["outer"], {})[match["inner"]] = value
        else:
            nested[key] = value
    return nested


def _application_of(organization: Organization, client_id: str) -> Application:
    try:
        return application_get(organization=organization, client_id=client_id)
    except NotFound:
        message = f"There is no application '{client_id}' in the organization '{organization.domain}'."
        raise ApiError(message, fields={"application_id": [message]}) from None


class ConnectionListCreateApi(ApiView):
    required_scope_resource = "sso_connections"

    @extend_schema(
        parameters=[
            *PAGE_PARAMS,
            OpenApiParameter("organization_id", str, description="Only this organization's (id or domain)."),
        ],
        responses={200: list_schema(ConnectionOutput, "SSOConnectionList"), **ERRORS},
        summary="List SSO connections, newest first",
    )
    def get(self, request):
        organization = None
        if request.query_params.get("organization_id"):
            organization = organization_get(api_key=self.api_key, domain=request.query_params["organization_id"])
        number, per_page = read_page_params(request.query_params)
        # admin_onboarding: the `onboarding` object of each connection, in the same query.
        connections = selectors.connection_list(api_key=self.api_key, organization=organization)
        page = paginate(
            connections.select_related("admin_onboarding"), ordering=NEWEST_FIRST, number=number, per_page=per_page
        )
        data = ConnectionOutput(page.items, many=True).data
        return Response(list_envelope(page, data, domain=organization.domain if organization else None))

    @extend_schema(
        request=ConnectionCreateInput,
        responses={201: ConnectionOutput, **ERRORS},
        summary="Create an SSO connection between an organization's IdP and one of its applications",
    )
    def post(self, request):
        data = ConnectionCreateInput(data=self.body())
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        organization = organization_get(api_key=self.api_key, domain=values.pop("organization_id"))
        application = _application_of(organization, values.pop("application_id"))
        with transaction.atomic():
            connection = services.connection_create(
                organization=organization, application=application, **values, by=self.actor
            )
            if connection.sso_admin_email:
                # Created with its IT admin's email: the admin is invited at once (the email leaves after
                # the commit).
                onboarding_invite(connection=connection, by=self.actor)
        return Response(
            ConnectionOutput(connection).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("sso-connection-detail", args=[connection.id])},
        )


class ConnectionDetailApi(ApiView):
    required_scope_resource = "sso_connections"

    @extend_schema(responses={200: ConnectionOutput, **ERRORS}, summary="Get an SSO connection")
    def get(self, request, idp_id):
        connection = selectors.connection_get(api_key=self.api_key, idp_id=idp_id)
        return Response(ConnectionOutput(connection).data)

    @extend_schema(
        request=ConnectionUpdateInput,
        responses={200: ConnectionOutput, 422: ErrorOutput, **ERRORS},
        summary="Update an SSO connection: IdP metadata (XML, URL or typed values), mapping, activation",
    )
    def put(self, request, idp_id):
        connection = selectors.connection_get(api_key=self.api_key, idp_id=idp_id)
        data = ConnectionUpdateInput(data=_nest_form_keys(self.body()))
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        application = None
        if "application_id" in values:
            application = _application_of(connection.organization, values.pop("application_id"))
        connection = services.connection_update(
            connection=connection, data=values, application=application, by=self.actor
        )
        return Response(ConnectionOutput(connection).data)

    patch = put

    @extend_schema(
        responses={200: deleted_schema(ConnectionOutput, "SSOConnectionDeleted"), **ERRORS},
        summary="Delete an SSO connection",
    )
    def delete(self, request, idp_id):
        connection = selectors.connection_get(api_key=self.api_key, idp_id=idp_id)
        resource = ConnectionOutput(connection).data
        services.connection_delete(connection=connection, by=self.actor)
        return Response({"deleted": True, "resource": resource})
