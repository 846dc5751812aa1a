"""The AdminOnboarding object of the v2 API, and what invite-admin and admin-onboarding accept."""

from django.conf import settings
from rest_framework import serializers

from connections.models import SSOConnection
from cryptr_sso.api.inputs import StrictSerializer

from . import selectors, steps


def onboarding_output(connection: SSOConnection) -> dict:
    """The connection's onboarding progress (`connection.admin_onboarding` select_related in lists)."""
    onboarding = selectors.onboarding_of(connection)
    body = {"__type__": "AdminOnboarding", "__domain__": connection.organization.domain, "idp_id": connection.id}
    body.update(steps.progress(onboarding))
    if onboarding is None:
        body["it_admin_email"] = connection.sso_admin_email or None
    if connection.active:
        body["state"] = "completed"
    return body


class StepOutput(serializers.Serializer):
    key = serializers.CharField()
    done = serializers.BooleanField()


class OnboardingOutput(serializers.Serializer):
    __type__ = serializers.CharField()
    __domain__ = serializers.CharField()
    idp_id = serializers.CharField()
    state = serializers.ChoiceField(choices=["not_initialized", "invited", "in_progress", "tested", "completed"])
    tutorial_step = serializers.IntegerField(
        help_text="1-based index of the first step not done (the last when all are)."
    )
    total_steps = serializers.IntegerField()
    progress_in_percentage = serializers.IntegerField()
    it_admin_email = serializers.EmailField(allow_null=True)
    provider_type = serializers.CharField(allow_null=True)
    invitation_sent_at = serializers.DateTimeField(allow_null=True)
    steps = StepOutput(many=True)


LOCALES = [code for code, _name in settings.LANGUAGES]


class InviteAdminInput(StrictSerializer):
    sso_admin_email = serializers.EmailField(
        max_length=254, required=False, help_text="Sets or replaces the connection's IT admin email."
    )
    locale = serializers.ChoiceField(
        choices=LOCALES, required=False, help_text="The email's language (default: the gateway's LANGUAGE_CODE)."
    )


class ResendInput(StrictSerializer):
    locale = serializers.ChoiceField(
        choices=LOCALES, required=False, help_text="The email's language (default: the previous invitation's)."
    )
