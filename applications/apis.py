"""The v2 API of applications: `/api/v2/org/{domain}/applications[/{client_id}]`."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from cryptr_sso.api.pagination import list_envelope, paginate, read_page_params
from cryptr_sso.api.schema import ERRORS, PAGE_PARAMS, ErrorOutput, deleted_schema, list_schema
from cryptr_sso.api.views import ApiView
from organizations.selectors import organization_get

from . import selectors, services
from .serializers import ApplicationCreatedOutput, ApplicationCreateInput, ApplicationOutput, ApplicationUpdateInput

NEWEST_FIRST = ("-created", "-id")


# Schema helpers shared by the applications and SSO connections APIs.
class ApplicationListCreateApi(ApiView):
    required_scope_resource = "applications"

    @extend_schema(
        parameters=PAGE_PARAMS,
        responses={200: list_schema(ApplicationOutput, "ApplicationList"), **ERRORS},
        summary="List the applications of an organization, newest first",
    )
    def get(self, request, domain):
        organization = organization_get(api_key=self.api_key, domain=domain)
        number, per_page = read_page_params(request.query_params)
        page = paginate(
            selectors.application_list(organization=organization),
            ordering=NEWEST_FIRST,
            number=number,
            per_page=per_page,
        )
        data = ApplicationOutput(page.items, many=True, context={"domain": organization.domain}).data
        return Response(list_envelope(page, data, domain=organization.domain))

    @extend_schema(
        request=ApplicationCreateInput,
        responses={201: ApplicationCreatedOutput, **ERRORS},
        summary="Create an application (the client secret is in this response only)",
    )
    def post(self, request, domain):
        organization = organization_get(api_key=self.api_key, domain=domain)
        data = ApplicationCreateInput(data=self.body())
        data.is_valid(raise_exception=True)
        application, secret = services.application_create(
            organization=organization, **data.validated_data, by=self.actor
        )
        application.client_secret = secret  # the plain secret, for this one response; None for public clients
        body = ApplicationCreatedOutput(application, context={"domain": organization.domain}).data
        location = reverse("application-detail", args=[organization.domain, application.client_id])
        return Response(
            body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store", "Location": location}
        )


class ApplicationDetailApi(ApiView):
    required_scope_resource = "applications"

    @extend_schema(responses={200: ApplicationOutput, **ERRORS}, summary="Get an application")
    def get(self, request, domain, client_id):
        organization = organization_get(api_key=self.api_key, domain=domain)
        application = selectors.application_get(organization=organization, client_id=client_id)
        return Response(ApplicationOutput(application, context={"domain": organization.domain}).data)

    @extend_schema(
        request=ApplicationUpdateInput,
        responses={200: ApplicationOutput, 422: ErrorOutput, **ERRORS},
        summary="Update an application (the fields sent)",
    )
    def put(self, request, domain, client_id):
        organization = organization_get(api_key=self.api_key, domain=domain)
        application = selectors.application_get(organization=organization, client_id=client_id)
        data = ApplicationUpdateInput(data=self.body())
        data.is_valid(raise_exception=True)
        application = services.application_update(application=application, data=data.validated_data, by=self.actor)
        return Response(ApplicationOutput(application, context={"domain": organization.domain}).data)

    patch = put

    @extend_schema(
        responses={200: deleted_schema(ApplicationOutput, "ApplicationDeleted"), 409: ErrorOutput, **ERRORS},
        summary="Delete an application (refused while SSO connections use it)",
    )
    def delete(self, request, domain, client_id):
        organization = organization_get(api_key=self.api_key, domain=domain)
        application = selectors.application_get(organization=organization, client_id=client_id)
        resource = ApplicationOutput(application, context={"domain": organization.domain}).data
        services.application_delete(application=application, by=self.actor)
        return Response({"deleted": True, "resource": resource})
