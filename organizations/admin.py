from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from rest_framework import serializers

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
    list_display = ("name", "domain", "locality", "country_name", "users_link", "inserted_at")
    search_fields = ("name", "domain", "allowed_email_domains")
    list_filter = ("country_name", "inserted_at")
    readonly_fields = ("id", "domain", "users_link", "inserted_at", "updated_at")
    fields = ("id", "name", "domain", "locality", "country_name", "state", "allowed_email_domains",
              "users_link", "inserted_at", "updated_at")
    date_hierarchy = "inserted_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(users_count=Count("users"))

    @admin.display(description="users", ordering="users_count")
    def users_link(self, obj):
        count = getattr(obj, "users_count", None)
        if count is None:
            count = obj.users.count()
        url = reverse("admin:organizations_user_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">{} users</a>', url, count)

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_update(organization=obj, data=form.cleaned_data)
            return
        created = services.organization_create(
            name=obj.name, locality=obj.locality, country_name=obj.country_name, state=obj.state,
            allowed_email_domains=obj.allowed_email_domains,
        )
        obj.pk, obj.domain, obj._state.adding = created.pk, created.domain, False


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
    readonly_fields = ("id", "inserted_at", "updated_at")
    inlines = [IdentityInline]
    show_full_result_count = False


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in ALL_SCOPES], initial=list(ALL_SCOPES),
                                       widget=forms.CheckboxSelectMultiple)

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
                services.api_key_revoke(api_key=obj)
            return
        all_organizations = form.cleaned_data["all_organizations"]
        api_key, secret = services.api_key_create(
            name=obj.name,
            organizations=None if all_organizations else list(form.cleaned_data["organizations"]),
            scopes=form.cleaned_data["scopes"],
        )
        obj.pk, obj.client_id, obj._state.adding = api_key.pk, api_key.client_id, False
        messages.warning(
            request,
            format_html("API key created. client_id: <code>{}</code> client_secret: <code>{}</code> "
                        "Copy the secret now: it is stored hashed and will not be shown again.",
                        api_key.client_id, secret),
        )

    def save_related(self, request, form, formsets, change):
        if change:  # on creation the service has already set the organizations
            super().save_related(request, form, formsets, change)

    @admin.action(description="Revoke the selected API keys (their tokens stop working at once)")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} API key(s).", messages.SUCCESS)
