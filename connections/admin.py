"""Operators' view of SSO connections. Writes go through the same services as the API: the idp_id
is generated, pasted metadata is parsed (or the URL fetched) and the activation rules apply."""


from django import forms
from django.contrib import admin
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from applications.models import Application
from cryptr_sso.api.errors import ApiError
from onboarding import admin as onboarding_admin
from onboarding import selectors as onboarding_selectors
from onboarding import services as onboarding_services

from . import selectors, services
from .models import SSOConnection
from .oidc.config import redirect_uri_for
from .providers import OIDC
from .saml.keys import sp_certificate_pem

OIDC_FORM_FIELDS = ("oidc_issuer", "oidc_client_id", "oidc_scopes", "oidc_tenant_id")
IDP_FIELDS = ("idp_metadata_xml", "idp_metadata_url", "idp_entity_id", "idp_sso_url", "idp_sso_binding",
              "idp_slo_url", "idp_certificates")


class CertificatesField(forms.CharField):
    """PEM certificates, pasted one after the other."""

    widget = forms.Textarea(attrs={"rows": 6, "style": "font-family: monospace"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(pem.strip() for pem in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        marker = "-----BEGIN CERTIFICATE-----"
        if marker not in text:
            return [text.strip()] if text.strip() else []
        return [marker + chunk for chunk in text.split(marker)[1:]]


def _errors_of(error: ApiError) -> dict[str, list[str]]:
    """The API's field errors, flattened onto the admin form's field names."""
    fields: dict[str, list[str]] = {}
    for name, value in error.fields.items():
        if isinstance(value, dict):
            for inner, messages in value.items():
                fields[f"oidc_{inner}" if name == "oidc_config" else inner] = list(messages)
        else:
            fields[{"application_id": "application"}.get(name, name)] = list(value)
    return fields


class ConnectionAddForm(forms.ModelForm):
    class Meta:
        model = SSOConnection
        fields = ("organization", "application", "provider_type", "sso_admin_email")

    def clean(self):
        cleaned = super().clean()
        organization, application = cleaned.get("organization"), cleaned.get("application")
        if organization and application and application.organization_id != organization.id:
            self.add_error("application", "Choose an application of this organization.")
        return cleaned


class ConnectionChangeForm(forms.ModelForm):
    idp_metadata_url = forms.URLField(required=False, max_length=2000, assume_scheme="https",
                                      help_text="Fetched once when saved (https, public address).")
    idp_sso_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    idp_slo_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    idp_certificates = CertificatesField(required=False)
    attribute_mapping = forms.JSONField(required=False, help_text='{"email": "...", "given_name": "...", '
                                                                  '"family_name": "..."}')
    # OIDC: the client secret is write-only (stored encrypted, never shown); empty keeps the current one.
    oidc_client_secret = forms.CharField(required=False, strip=False, max_length=4096,
                                         widget=forms.PasswordInput(render_value=False),
                                         help_text="Write-only: leave empty to keep the secret already set.")
    oidc_hosted_domains = forms.CharField(required=False, help_text="Google Workspace: hd domains, comma-separated "
                                                                    "(the organization's email domains if empty).")

    class Meta:
        model = SSOConnection
        fields = ("active", "provider_type", "users_provisioning", "application", "sso_admin_email",
                  "bypass_it_admin_test", *IDP_FIELDS, "attribute_mapping", "allow_idp_initiated",
                  "want_response_signed", *OIDC_FORM_FIELDS)
        widgets = {"idp_metadata_xml": forms.Textarea(attrs={"rows": 6, "style": "font-family: monospace"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.filter(
            organization_id=self.instance.organization_id)
        if "oidc_hosted_domains" in self.fields:
            self.fields["oidc_hosted_domains"].initial = ", ".join(self.instance.oidc_hosted_domains or [])

    def update_data(self) -> dict:
        """The changed fields, in the API's shape (one source of IdP settings, like the API)."""
        changed = set(self.changed_data)
        data = {field: self.cleaned_data[field] for field in ("active", "provider_type", "users_provisioning",
                                                              "sso_admin_email", "bypass_it_admin_test")
                if field in changed}
        saml_config = {}
        if "idp_metadata_url" in changed and self.cleaned_data["idp_metadata_url"]:
            saml_config["idp_metadata_url"] = self.cleaned_data["idp_metadata_url"]
        elif "idp_metadata_xml" in changed and self.cleaned_data["idp_metadata_xml"].strip():
            saml_config["idp_metadata_xml"] = self.cleaned_data["idp_metadata_xml"]
        else:
            for field in ("idp_entity_id", "idp_sso_url", "idp_sso_binding", "idp_slo_url", "idp_certificates"):
                if field in changed:
                    saml_config[field] = self.cleaned_data[field]
        if "attribute_mapping" in changed:
            new = self.cleaned_data["attribute_mapping"] or {}
            removed = {claim: None for claim in self.instance.attribute_mapping if claim not in new}
            saml_config["attribute_mapping"] = {**removed, **new}
        for field in ("allow_idp_initiated", "want_response_signed"):
            if field in changed:
                saml_config[field] = self.cleaned_data[field]
        if saml_config and self.instance.protocol != OIDC:
            data["saml_config"] = saml_config
        oidc_config = {field.removeprefix("oidc_"): self.cleaned_data[field] or ""
                       for field in OIDC_FORM_FIELDS if field in changed}
        if self.cleaned_data.get("oidc_client_secret"):
            oidc_config["client_secret"] = self.cleaned_data["oidc_client_secret"]
        if "oidc_hosted_domains" in changed:
            oidc_config["hosted_domains"] = [d.strip() for d in self.cleaned_data["oidc_hosted_domains"].split(",")
                                             if d.strip()]
        if "attribute_mapping" in saml_config and self.instance.protocol == OIDC:
            oidc_config["attribute_mapping"] = saml_config["attribute_mapping"]
        if oidc_config:
            data["oidc_config"] = oidc_config
        return data

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # The form's instance already holds the new values (ModelForm._post_clean); check against the saved row.
        saved = SSOConnection.objects.select_related("organization", "application").get(pk=self.instance.pk)
        application = cleaned.get("application") if "application" in self.changed_data else None
        try:
            self.idp_fields = services.connection_check_update(connection=saved, data=self.update_data(),
                                                               application=application)
        except ApiError as error:
            fields = _errors_of(error)
            known = {name: messages for name, messages in fields.items() if name in self.fields}
            for name, messages in known.items():
                for message in messages:
                    self.add_error(name, message)
            if not known:
                raise forms.ValidationError(str(error.detail)) from None
        return cleaned


@admin.register(SSOConnection)
class SSOConnectionAdmin(admin.ModelAdmin):
    list_display = ("id", "organization", "application", "provider_type", "active", "last_successful_test_at",
                    "onboarding_state", "onboarding_progress", "inserted_at")
    list_filter = ("active", "provider_type", "protocol", "organization")
    search_fields = ("id", "organization__domain", "organization__name", "application__name", "idp_entity_id",
                     "sso_admin_email")
    list_select_related = ("organization", "application", "admin_onboarding")
    actions = ("resend_onboarding_invitation", "revoke_onboarding_links")
    autocomplete_fields = ("organization",)
    show_full_result_count = False
    readonly_fields = ("id", "organization", "protocol", "sp_settings", "oidc_rp_settings", "oidc_discovered",
                       "idp_metadata_fetched_at",
                       "idp_metadata_valid_until", "last_successful_test_at", "onboarding_summary", "inserted_at",
                       "updated_at")
    fieldsets_change = (
        (None, {"fields": ("id", "organization", "application", "protocol", "provider_type", "active",
                           "bypass_it_admin_test", "last_successful_test_at", "users_provisioning",
                           "sso_admin_email")}),
        ("The IT admin's onboarding", {"fields": ("onboarding_summary",)}),
        ("Our service provider (to enter in the IdP)", {"fields": ("sp_settings",)}),
        ("Identity provider: metadata URL, pasted metadata, or the values typed by hand",
         {"fields": (*IDP_FIELDS, "idp_metadata_fetched_at", "idp_metadata_valid_until")}),
        ("Sign-in", {"fields": ("attribute_mapping", "allow_idp_initiated", "want_response_signed")}),
        (None, {"fields": ("inserted_at", "updated_at")}),
    )
    fieldsets_change_oidc = (
        fieldsets_change[0], fieldsets_change[1],
        ("OpenID Connect identity provider (the issuer's discovery document is read when saved)",
         {"fields": ("oidc_rp_settings", *OIDC_FORM_FIELDS, "oidc_client_secret", "oidc_hosted_domains",
                     "oidc_discovered")}),
        ("Sign-in", {"fields": ("attribute_mapping",)}),
        (None, {"fields": ("inserted_at", "updated_at")}),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ConnectionChangeForm if obj is not None else ConnectionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("organization", "application", "provider_type", "sso_admin_email")}),)
        return self.fieldsets_change_oidc if obj.protocol == OIDC else self.fieldsets_change

    @admin.display(description="Our relying party (to enter in the IdP)")
    def oidc_rp_settings(self, obj):
        return format_html("Redirect URI: <code>{}</code><br>Client secret: {}", redirect_uri_for(obj),
                           "set (write-only)" if obj.oidc_client_secret_encrypted else "not set")

    @admin.display(description="Discovered")
    def oidc_discovered(self, obj):
        if not obj.oidc_discovery_fetched_at:
            return "Not discovered yet: save the issuer."
        return format_html(
            "Issuer: <code>{}</code><br>Authorization: <code>{}</code><br>Token: <code>{}</code> ({})<br>"
            "Userinfo: <code>{}</code><br>JWKS: <code>{}</code><br>Read at {}",
            obj.oidc_discovered_issuer, obj.oidc_authorization_endpoint, obj.oidc_token_endpoint,
            obj.oidc_token_endpoint_auth_method, obj.oidc_userinfo_endpoint or "-", obj.oidc_jwks_uri,
            obj.oidc_discovery_fetched_at,
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_autocomplete_fields(self, request):
        return self.autocomplete_fields

    @admin.display(description="SP settings")
    def sp_settings(self, obj):
        endpoints = selectors.saml_sp_endpoints(obj)
        return format_html(
            "Entity ID: <code>{}</code><br>ACS URL: <code>{}</code><br>SLO URL: <code>{}</code><br>"
            'Metadata: <a href="{}">{}</a><br><pre style="font-size: 11px">{}</pre>',
            endpoints.entity_id, endpoints.acs_url, endpoints.slo_url, endpoints.metadata_url,
            endpoints.metadata_url, sp_certificate_pem(obj),
        )

    @admin.display(description="Onboarding")
    def onboarding_state(self, obj):
        return onboarding_admin.state_label(onboarding_selectors.onboarding_of(obj))

    @admin.display(description="Progress")
    def onboarding_progress(self, obj):
        return onboarding_admin.progress_label(onboarding_selectors.onboarding_of(obj))

    @admin.display(description="Onboarding")
    def onboarding_summary(self, obj):
        onboarding = onboarding_selectors.onboarding_of(obj)
        if onboarding is None:
            return "Not started: set the IT admin's email and use the action \"Resend the onboarding invitation\"."
        return format_html(
            '{} &middot; {} &middot; admin {} &middot; last invitation sent {} &middot; <a href="{}">details</a>',
            onboarding_admin.state_label(onboarding), onboarding_admin.progress_label(onboarding),
            onboarding.it_admin_email or "-", onboarding.invitation_sent_at or "never",
            reverse("admin:onboarding_adminonboarding_change", args=[onboarding.pk]),
        )

    @admin.action(description="Resend the onboarding invitation (a fresh link)", permissions=["change"])
    def resend_onboarding_invitation(self, request, queryset):
        onboarding_admin.resend_to(self, request, list(queryset))

    @admin.action(description="Revoke the onboarding links", permissions=["change"])
    def revoke_onboarding_links(self, request, queryset):
        onboarding_admin.revoke_for(self, request, list(queryset))

    def save_model(self, request, obj, form, change):
        if not change:
            with transaction.atomic():
                created = services.connection_create(
                    organization=form.cleaned_data["organization"], application=form.cleaned_data["application"],
                    provider_type=form.cleaned_data["provider_type"],
                    sso_admin_email=form.cleaned_data.get("sso_admin_email") or "",
                )
                if created.sso_admin_email:
                    # As through the API: a connection created with its IT admin's email invites the admin.
                    onboarding_services.onboarding_invite(connection=created)
            obj.pk, obj._state.adding = created.pk, False
            return
        application = form.cleaned_data["application"] if "application" in form.changed_data else None
        services.connection_update(connection=obj, data=form.update_data(), application=application,
                                   idp_fields=getattr(form, "idp_fields", None))

    def delete_model(self, request, obj):
        services.connection_delete(connection=obj)

    def delete_queryset(self, request, queryset):
        for connection in queryset:
            services.connection_delete(connection=connection)



