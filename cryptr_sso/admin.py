"""The audit trail in the admin (read-only, filterable by type, organization and date, searchable), the
rotation of the signing keys and the operators' "Reset second factors" action."""

import json

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html

from . import signing_keys
from .admin_audit import AuditedAdminMixin, ViewOnlyAdminMixin
from .audit import Actor
from .models import AuditEvent, SigningKey


class EventFamilyFilter(admin.SimpleListFilter):
    """The dotted family of the type ("sso.login", "token", "connection"...): a fixed list, no query."""

    title = "type"
    parameter_name = "type_prefix"
    FAMILIES = (
        "sso.login.succeeded",
        "sso.login.failed",
        "sso.login.",
        "token.",
        "connection.",
        "user.",
        "organization.",
        "application.",
        "invitation.",
        "api_key.",
        "certificate.",
        "signing_key.",
        "operator.",
        "admin.",
        "webhook.",
    )

    def lookups(self, request, model_admin):
        return [(family, family + "*" if family.endswith(".") else family) for family in self.FAMILIES]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(type__startswith=value) if value.endswith(".") else queryset.filter(type=value)


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("inserted_at", "type", "organization_domain", "actor", "connection_id", "user_id", "ip", "summary")
    list_filter = (EventFamilyFilter, ("inserted_at", admin.DateFieldListFilter), "organization")
    search_fields = ("=connection_id", "actor", "=user_id", "=organization_domain", "type")
    date_hierarchy = "inserted_at"
    list_select_related = ()
    show_full_result_count = False
    fields = (
        "id",
        "inserted_at",
        "type",
        "organization",
        "organization_domain",
        "actor",
        "connection_id",
        "user_id",
        "ip",
        "user_agent",
        "pretty_data",
    )
    readonly_fields = fields
    list_per_page = 100

    @admin.display(description="what")
    def summary(self, obj):
        data = obj.data or {}
        if "error" in data:
            return f"{data['error']}: {data.get('reason', '')}"[:160]
        if "changes" in data:
            return "changed: " + ", ".join(sorted(data["changes"]))[:150]
        return ", ".join(f"{key}={value}" for key, value in data.items() if not isinstance(value, (dict, list)))[:160]

    @admin.display(description="data")
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False))


class SigningKeyAdmin(admin.ModelAdmin):
    """Key rotation: generate a key (published), make it active (the switch), retire. Read-only otherwise:
    every change goes through cryptr_sso.signing_keys, which records it in the audit trail."""

    list_display = (
        "purpose",
        "state",
        "short_kid",
        "created_at",
        "created_by",
        "activated_at",
        "activated_by",
        "retired_at",
        "retired_by",
    )
    list_filter = ("purpose", "state")
    fields = (
        "id",
        "purpose",
        "state",
        "kid",
        "certificate_pem",
        "created_at",
        "created_by",
        "activated_at",
        "activated_by",
        "retired_at",
        "retired_by",
    )
    readonly_fields = fields
    actions = ("make_active", "retire")
    change_list_template = "admin/cryptr_sso/signingkey/change_list.html"

    @admin.display(description="kid / fingerprint")
    def short_kid(self, obj):
        return obj.kid[:24] + "…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("cryptr_sso.change_signingkey")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        generate = self.admin_site.admin_view(self.generate_view)
        return [path("generate/", generate, name="cryptr_sso_signingkey_generate"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "purposes": SigningKey.Purpose.choices}
        return super().changelist_view(request, extra_context)

    def generate_view(self, request):
        """POST purpose=token|saml_sp: "Generate a new key (published)"."""
        changelist = redirect("admin:cryptr_sso_signingkey_changelist")
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        purpose = request.POST.get("purpose", "")
        if purpose not in SigningKey.Purpose.values:
            self.message_user(request, "Choose what the key is for (token or SAML SP).", messages.ERROR)
            return changelist
        key = signing_keys.signing_key_publish(purpose=purpose, by=Actor.operator(request))
        self.message_user(
            request,
            f"Published a new {key.get_purpose_display()} key ({key.kid[:16]}…). It signs "
            "nothing until you make it active: give relying parties and IdPs time to fetch it.",
            messages.SUCCESS,
        )
        return changelist

    @admin.action(
        description="Make active (switch): the selected published key signs from now on", permissions=["change"]
    )
    def make_active(self, request, queryset):
        keys = list(queryset)
        if len(keys) != 1:
            self.message_user(request, "Select exactly one published key to make active.", messages.ERROR)
            return
        self._transition(request, signing_keys.signing_key_activate, keys[0], "is now active")

    @admin.action(description="Retire the selected keys", permissions=["change"])
    def retire(self, request, queryset):
        for key in queryset:
            self._transition(request, signing_keys.signing_key_retire, key, "is retired")

    def _transition(self, request, service, key, done: str) -> None:
        try:
            key = service(key=key, by=Actor.operator(request))
        except signing_keys.SigningKeyTransitionError as error:
            self.message_user(
                request, f"{key.get_purpose_display()} key {key.kid[:16]}…: {error.message}", messages.ERROR
            )
            return
        self.message_user(request, f"{key.get_purpose_display()} key {key.kid[:16]}… {done}.", messages.SUCCESS)


admin.site.register(SigningKey, SigningKeyAdmin)


# --- operators (Django's auth users): the user admin with "Reset second factors" ----------------------


class OperatorAdmin(AuditedAdminMixin, DjangoUserAdmin):
    """Django's user admin for the operators' accounts; every change is in the audit trail (operator.*)."""

    actions = [*(DjangoUserAdmin.actions or []), "reset_second_factors"]

    @admin.action(
        description="Reset second factors (the operator proves their email address, then enrols again)",
        permissions=["change"],
    )
    def reset_second_factors(self, request, queryset):
        from cryptr_sso.accounts.services import CannotResetOwnFactors, operator_mfa_reset

        for operator in queryset.order_by("pk"):
            try:
                removed = operator_mfa_reset(operator=operator, by_user=request.user, by=Actor.operator(request))
            except CannotResetOwnFactors:
                self.message_user(
                    request,
                    "You cannot reset your own second factors: remove or replace them from "
                    "your two-factor authentication page, or ask another operator.",
                    messages.ERROR,
                )
                continue
            what = ", ".join(removed) if removed else "none were set up"
            self.message_user(
                request,
                f"{operator.get_username()}: second factors reset ({what}), sessions ended. "
                "At their next sign-in they enter a code sent to their email address, then set up "
                "a new factor.",
                messages.SUCCESS,
            )


admin.site.unregister(User)
admin.site.register(User, OperatorAdmin)
