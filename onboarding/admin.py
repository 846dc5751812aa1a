"""Operators' view of the IT admins' onboardings: state and progress per connection, the invitations
sent (never their tokens), and actions to re-send or revoke the links. Writes go through the services."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connections.models import SSOConnection
from cryptr_sso.api.errors import ApiError
from cryptr_sso.audit import Actor

from . import services, steps
from .models import AdminOnboarding, OnboardingInvitation


def progress_label(onboarding: AdminOnboarding | None) -> str:
    progress = steps.progress(onboarding)
    return f"{progress['progress_in_percentage']}% (step {progress['tutorial_step']}/{progress['total_steps']})"


def state_label(onboarding: AdminOnboarding | None) -> str:
    return steps.progress(onboarding)["state"].replace("_", " ")


def resend_to(modeladmin, request: HttpRequest, connections: list[SSOConnection]) -> None:
    """Send each connection's admin a fresh link (the older ones stop working)."""
    sent, refused = 0, []
    for connection in connections:
        try:
            services.onboarding_resend(connection=connection, by=Actor.operator(request))
            sent += 1
        except ApiError as error:
            refused.append(f"{connection.id}: {error.detail}")
    if sent:
        modeladmin.message_user(request, f"Invitation queued for {sent} connection(s), with a fresh link.")
    for message in refused:
        modeladmin.message_user(request, message, level=messages.ERROR)


def revoke_for(modeladmin, request: HttpRequest, connections: list[SSOConnection]) -> None:
    revoked = sum(
        services.onboarding_revoke_invitations(connection=connection, by=Actor.operator(request))
        for connection in connections
    )
    modeladmin.message_user(request, f"{revoked} onboarding link(s) revoked.")


class OnboardingInvitationInline(admin.TabularInline):
    model = OnboardingInvitation
    extra = 0
    can_delete = False
    fields = ("email", "locale", "created_at", "expires_at", "revoked_at", "sent_at", "send_attempts", "last_error")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AdminOnboarding)
class AdminOnboardingAdmin(admin.ModelAdmin):
    list_display = (
        "connection",
        "organization",
        "onboarding_state",
        "progress",
        "it_admin_email",
        "invitation_sent_at",
        "updated_at",
    )
    list_filter = ("state",)
    search_fields = ("connection__id", "it_admin_email", "connection__organization__domain")
    list_select_related = ("connection", "connection__organization")
    show_full_result_count = False
    fields = (
        "connection",
        "onboarding_state",
        "progress",
        "it_admin_email",
        "provider_type",
        "current_step",
        "steps_done",
        "invitation_sent_at",
        "inserted_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (OnboardingInvitationInline,)
    actions = ("resend_invitation", "revoke_invitation_links")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only: the wizard and the services write onboardings

    @admin.display(description="Organization", ordering="connection__organization__domain")
    def organization(self, obj):
        return obj.connection.organization

    @admin.display(description="State", ordering="state")
    def onboarding_state(self, obj):
        return state_label(obj)

    @admin.display(description="Progress")
    def progress(self, obj):
        return progress_label(obj)

    @admin.action(description="Resend the invitation (a fresh link)", permissions=["change"])
    def resend_invitation(self, request, queryset: QuerySet[AdminOnboarding]):
        resend_to(self, request, [onboarding.connection for onboarding in queryset])

    @admin.action(description="Revoke the invitation links", permissions=["change"])
    def revoke_invitation_links(self, request, queryset: QuerySet[AdminOnboarding]):
        revoke_for(self, request, [onboarding.connection for onboarding in queryset])
