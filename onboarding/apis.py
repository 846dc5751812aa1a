"""The v2 API of the IT admin's onboarding: `/api/v2/sso-connections/{idp_id}/invite-admin` and
`/api/v2/sso-connections/{idp_id}/admin-onboarding`."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from connections.selectors import connection_get
from cryptr_sso.api.schema import ERRORS, ErrorOutput
from cryptr_sso.api.views import ApiView

from . import services
from .serializers import InviteAdminInput, OnboardingOutput, ResendInput, onboarding_output


def _fresh_output(connection) -> dict:
    # The service created or changed the onboarding row: drop the relation cache before reading it.
    connection._state.fields_cache.pop("admin_onboarding", None)
    return onboarding_output(connection)


class InviteAdminApi(ApiView):
    required_scope_resource = "sso_connections"

    @extend_schema(
        request=InviteAdminInput,
        responses={200: OnboardingOutput, 422: ErrorOutput, **ERRORS},
        summary="Invite the IT admin: set or replace sso_admin_email, issue a fresh onboarding link "
        "(older links stop working) and email it",
    )
    def post(self, request, idp_id):
        connection = connection_get(api_key=self.api_key, idp_id=idp_id)
        data = InviteAdminInput(data=self.body())
        data.is_valid(raise_exception=True)
        services.onboarding_invite(
            connection=connection,
            email=data.validated_data.get("sso_admin_email"),
            locale=data.validated_data.get("locale"),
            by=self.actor,
        )
        return Response(_fresh_output(connection))


class AdminOnboardingApi(ApiView):
    required_scope_resource = "sso_connections"

    @extend_schema(responses={200: OnboardingOutput, **ERRORS}, summary="The IT admin's onboarding progress")
    def get(self, request, idp_id):
        connection = connection_get(api_key=self.api_key, idp_id=idp_id)
        return Response(onboarding_output(connection))

    @extend_schema(
        request=ResendInput,
        responses={200: OnboardingOutput, 422: ErrorOutput, **ERRORS},
        summary="Send the onboarding email again to the IT admin already set (with a fresh link); 422 when none is set",
    )
    def post(self, request, idp_id):
        connection = connection_get(api_key=self.api_key, idp_id=idp_id)
        data = ResendInput(data=self.body())
        data.is_valid(raise_exception=True)
        services.onboarding_resend(connection=connection, locale=data.validated_data.get("locale"), by=self.actor)
        return Response(_fresh_output(connection))
