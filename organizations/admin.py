from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from rest_framework import serializers

from cryptr_sso import audit
from cryptr_sso.audit import Actor
from cryptr_sso.models import AuditEvent

from . import services
from .models import ApiKey, Identity, Organization, User
from .scopes import ALL_SCOPES
from .serializers import ALLOWED_EMAIL_DOMAINS


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ("name", "locality", "country_name", "state", "allowed_email_domains")

    def clean_allowed_email_domains(self):
        # The same rules as the API: a list of host names, lowercased. The API reads this field back and
        # home-realm discovery matches on it, so a string or an object here would break both.
        value = self.cleaned_data.get("allowed_email_domains")
        if value in (None, ""):
            return []
        try:
            return ALLOWED_EMAIL_DOMAINS.run_validation(value)
        except serializers.ValidationError as error:
            messages_ = error.detail if isinstance(error.detail, list) else [error.detail]
            raise forms.ValidationError(_flat_messages(messages_)) from None


def _flat_messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flat_messages(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flat_messages(value)]
    return [str(detail)]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = (
        "name",
        "domain",
        "locality",
        "country_name",
        "users_link",
        "connections_link",
        "applications_link",
        "inserted_at",
    )
    search_fields = ("name", "domain", "allowed_email_domains")
    list_filter = ("country_name", "inserted_at")
    readonly_fields = (
        "id",
        "domain",
        "users_link",
        "connections_overview",
        "applications_link",
        "recent_events",
        "inserted_at",
        "updated_at",
    )
    fields = (
        "id",
        "name",
        "domain",
        "locality",
        "country_name",
        "state",
        "allowed_email_domains",
        "users_link",
        "connections_overview",
        "applications_link",
        "recent_events",
        "inserted_at",
        "updated_at",
    )
    date_hierarchy = "inserted_at"
    RECENT_EVENTS = 10

    def get_queryset(self, request):
        # One count per relation as a subquery: joining users, connections and applications at once would
        # multiply the rows (and the counts).
        from applications.models import Application
        from connections.models import SSOConnection

        def count_of(model):
            rows = model.objects.filter(organization=OuterRef("pk")).order_by().values("organization")
            return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)

        return (
            super()
            .get_queryset(request)
            .annotate(
                users_count=count_of(User),
                connections_count=count_of(SSOConnection),
                applications_count=count_of(Application),
            )
        )

    @admin.display(description="SSO connections", ordering="connections_count")
    def connections_link(self, obj):
        url = reverse("admin:connections_ssoconnection_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">{} connections</a>', url, getattr(obj, "connections_count", "-"))

    @admin.display(description="applications", ordering="applications_count")
    def applications_link(self, obj):
        url = reverse("admin:applications_application_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">{} applications</a>', url, getattr(obj, "applications_count", "-"))

    @admin.display(description="SSO connections")
    def connections_overview(self, obj):
        connections = obj.sso_connections.select_related("application").order_by("-inserted_at")[:50]
        if not connections:
            return "None yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:connections_ssoconnection_change", args=[c.pk]),
                    c.pk,
                    c.lifecycle,
                    c.provider_type,
                    c.application.name,
                )
                for c in connections
            ),
        )
        return format_html(
            "<table><tr><th>idp_id</th><th>lifecycle</th><th>provider</th><th>application</th></tr>{}</table>{}",
            rows,
            self.connections_link(obj),
        )

    @admin.display(description="recent events")
    def recent_events(self, obj):
        events = AuditEvent.objects.filter(organization=obj).order_by("-inserted_at", "-id")[: self.RECENT_EVENTS]
        url = reverse("admin:cryptr_sso_auditevent_changelist") + f"?organization__id__exact={obj.pk}"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.inserted_at.strftime("%Y-%m-%d %H:%M:%S"), e.type, e.actor, e.connection_id) for e in events),
        )
        return format_html(
            "<table><tr><th>when</th><th>type</th><th>who</th><th>connection</th></tr>{}</table>"
            '<a href="{}">All events of this organization</a>',
            rows,
            url,
        )

    @admin.display(description="users", ordering="users_count")
    def users_link(self, obj):
        count = getattr(obj, "users_count", None)
        if count is None:
            count = obj.users.count()
        url = reverse("admin:organizations_user_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">{} users</a>', url, count)

    def save_model(self, request, obj, form, change):
        if change:
            # The form already wrote its values on obj: the service compares with the saved row.
            saved = Organization.objects.get(pk=obj.pk)
            services.organization_update(organization=saved, data=form.cleaned_data, by=Actor.operator(request))
            return
        created = services.organization_create(
            name=obj.name,
            locality=obj.locality,
            country_name=obj.country_name,
            state=obj.state,
            allowed_email_domains=obj.allowed_email_domains,
            by=Actor.operator(request),
        )
        obj.pk, obj.domain, obj._state.adding = created.pk, created.domain, False

    def delete_model(self, request, obj):
        services.organization_delete(organization=obj, by=Actor.operator(request))

    def delete_queryset(self, request, queryset):
        for organization in queryset:
            services.organization_delete(organization=organization, by=Actor.operator(request))


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("idp_id", "provider", "subject", "authenticated_at")
    readonly_fields = fields
    can_delete = False


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "active", "email_verified", "inserted_at")
    # No filter by organization: its sidebar would list every organization. Search by domain, or follow
    # the "N users" link of an organization (?organization__id__exact=...).
    list_filter = ("active", "email_verified")
    search_fields = ("email", "organization__domain")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    readonly_fields = ("id", "sessions_revoked_at", "inserted_at", "updated_at")
    inlines = [IdentityInline]
    show_full_result_count = False
    actions = ["revoke_sessions"]

    # Operators edit users directly (no service takes a whole form); the change is recorded here.
    def save_model(self, request, obj, form, change):
        before = audit.snapshot(User.objects.get(pk=obj.pk)) if change else {}
        if before.get("active") and not obj.active:
            # Deactivated: the sign-ins end for good, so reactivating the user later signs nobody back in.
            obj.sessions_revoked_at = timezone.now()
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit.record(
                "user.updated" if change else "user.created",
                by=Actor.operator(request),
                organization=obj.organization,
                user=obj,
                data={"changes": audit.changes(before, obj)},
            )

    def delete_model(self, request, obj):
        services.user_delete(user=obj, by=Actor.operator(request))

    def delete_queryset(self, request, queryset):
        for user in queryset.select_related("organization"):
            services.user_delete(user=user, by=Actor.operator(request))

    @admin.action(
        description="Revoke all sessions of the selected users (tokens and gateway sign-ins)", permissions=["change"]
    )
    def revoke_sessions(self, request, queryset):
        from applications.oauth.sign_out import end_user_revoke_all_sessions

        tokens = ended = 0
        for user in queryset.select_related("organization"):
            revoked = end_user_revoke_all_sessions(user=user, by=Actor.operator(request))
            tokens, ended = tokens + revoked["tokens"], ended + revoked["sign_ins"]
        self.message_user(
            request,
            f"Revoked {tokens} token(s); every gateway sign-in of the selected user(s) made until now is ended "
            f"(SAML and OIDC connections; {ended} found in the SAML logout index and deleted at once).",
            messages.SUCCESS,
        )


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ALL_SCOPES], initial=list(ALL_SCOPES), widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ("name", "all_organizations", "organizations", "scopes", "active")

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("all_organizations") and not cleaned.get("organizations"):
            raise forms.ValidationError("Choose the organizations this key sees, or tick 'all organizations'.")
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "client_id", "active", "all_organizations", "last_used_at", "inserted_at")
    list_filter = ("active", "all_organizations")
    search_fields = ("name", "client_id")
    autocomplete_fields = ("organizations",)  # a search box, not a widget that loads every organization
    readonly_fields = ("client_id", "revoked_at", "last_used_at", "inserted_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ["name", "all_organizations", "organizations", "scopes"]
        return fields if obj is None else [*fields, "active", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        # Revocation is final: a revoked key is never switched back on (make a new one instead).
        if obj is not None and obj.revoked_at is not None:
            return (*self.readonly_fields, "active")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            if "active" in form.changed_data and not obj.active:
                # Unticking 'active' is a revocation: record it and drop the key's live tokens.
                services.api_key_revoke(api_key=obj, by=Actor.operator(request))
            return
        all_organizations = form.cleaned_data["all_organizations"]
        api_key, secret = services.api_key_create(
            name=obj.name,
            organizations=None if all_organizations else list(form.cleaned_data["organizations"]),
            scopes=form.cleaned_data["scopes"],
            by=Actor.operator(request),
        )
        obj.pk, obj.client_id, obj._state.adding = api_key.pk, api_key.client_id, False
        messages.warning(
            request,
            format_html(
                "API key created. client_id: <code>{}</code> client_secret: <code>{}</code> "
                "Copy the secret now: it is stored hashed and will not be shown again.",
                api_key.client_id,
                secret,
            ),
        )

    def save_related(self, request, form, formsets, change):
        if change:  # on creation the service has already set the organizations
            super().save_related(request, form, formsets, change)

    @admin.action(description="Revoke the selected API keys (their tokens stop working at once)")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, by=Actor.operator(request))
        self.message_user(request, f"Revoked {queryset.count()} API key(s).", messages.SUCCESS)
