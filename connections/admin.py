"""Operators' view of SSO connections. Writes go through the same services as the API: the idp_id
is generated, pasted metadata is parsed (or the URL fetched) and the activation rules apply."""

import functools
from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import CharField, DateTimeField, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from applications.models import Application
from cryptr_sso.api.errors import ApiError
from cryptr_sso.audit import Actor
from cryptr_sso.models import AuditEvent
from onboarding import admin as onboarding_admin
from onboarding import selectors as onboarding_selectors
from onboarding import services as onboarding_services

from . import selectors, services
from .models import LIFECYCLE_STATES, SSOConnection
from .oidc.config import redirect_uri_for
from .providers import OIDC
from .saml.keys import sp_certificate_pem
from .saml.metadata import MetadataError, certificate_from_text

CERTIFICATE_WARNING_DAYS = 30


@functools.lru_cache(maxsize=512)
def _certificate_expiry(pem: str) -> datetime | None:
    try:
        return certificate_from_text(pem).not_valid_after
    except MetadataError:
        return None


def idp_certificate_expiries(connection: SSOConnection) -> list[datetime]:
    """When each of the connection's IdP signing certificates expires, soonest first (parsed once per PEM)."""
    return sorted(filter(None, (_certificate_expiry(pem) for pem in connection.idp_certificates or [])))


def _expiry_label(expires: datetime):
    days = (expires - datetime.now(UTC)).days
    if expires <= datetime.now(UTC):
        return format_html('<strong style="color: #ba2121">expired on {}</strong>', f"{expires:%Y-%m-%d}")
    if days < CERTIFICATE_WARNING_DAYS:
        return format_html(
            '<strong style="color: #ba2121">&#9888; expires {} (in {} days)</strong>', f"{expires:%Y-%m-%d}", days
        )
    return f"{expires:%Y-%m-%d}"


def _last_event(type_: str, value=None):
    """The newest `type_` event of the row's connection: its time, or one key of its data."""
    events = AuditEvent.objects.filter(connection_id=OuterRef("pk"), type=type_).order_by("-inserted_at", "-id")
    if value is None:
        return Subquery(events.values("inserted_at")[:1], output_field=DateTimeField())
    return Subquery(events.annotate(v=KeyTextTransform(value, "data")).values("v")[:1], output_field=CharField())


def _when(at: datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S}"


class LifecycleFilter(admin.SimpleListFilter):
    title = "lifecycle"
    parameter_name = "lifecycle"
    CONDITIONS = {
        "draft": Q(active=False, deactivated_at__isnull=True, last_successful_test_at__isnull=True),
        "tested": Q(active=False, deactivated_at__isnull=True, last_successful_test_at__isnull=False),
        "active": Q(active=True),
        "inactive": Q(active=False, deactivated_at__isnull=False),
    }

    def lookups(self, request, model_admin):
        return [(state, state) for state in LIFECYCLE_STATES]

    def queryset(self, request, queryset):
        return queryset.filter(self.CONDITIONS[self.value()]) if self.value() in self.CONDITIONS else queryset


OIDC_FORM_FIELDS = ("oidc_issuer", "oidc_client_id", "oidc_scopes", "oidc_tenant_id")
IDP_FIELDS = (
    "idp_metadata_xml",
    "idp_metadata_url",
    "idp_entity_id",
    "idp_sso_url",
    "idp_sso_binding",
    "idp_slo_url",
    "idp_certificates",
)


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
    idp_metadata_url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="Fetched once when saved (https, public address).",
    )
    idp_sso_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    idp_slo_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    idp_certificates = CertificatesField(required=False)
    attribute_mapping = forms.JSONField(
        required=False, help_text='{"email": "...", "given_name": "...", "family_name": "..."}'
    )
    # OIDC: the client secret is write-only (stored encrypted, never shown); empty keeps the current one.
    oidc_client_secret = forms.CharField(
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the secret already set.",
    )
    oidc_hosted_domains = forms.CharField(
        required=False,
        help_text="Google Workspace: hd domains, comma-separated (the organization's email domains if empty).",
    )

    class Meta:
        model = SSOConnection
        fields = (
            "active",
            "provider_type",
            "users_provisioning",
            "application",
            "sso_admin_email",
            "bypass_it_admin_test",
            *IDP_FIELDS,
            "attribute_mapping",
            "allow_idp_initiated",
            "want_response_signed",
            *OIDC_FORM_FIELDS,
            "oidc_logout_at_idp",
        )
        widgets = {"idp_metadata_xml": forms.Textarea(attrs={"rows": 6, "style": "font-family: monospace"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.filter(organization_id=self.instance.organization_id)
        if "oidc_hosted_domains" in self.fields:
            self.fields["oidc_hosted_domains"].initial = ", ".join(self.instance.oidc_hosted_domains or [])

    def update_data(self) -> dict:
        """The changed fields, in the API's shape (one source of IdP settings, like the API)."""
        changed = set(self.changed_data)
        data = {
            field: self.cleaned_data[field]
            for field in ("active", "provider_type", "users_provisioning", "sso_admin_email", "bypass_it_admin_test")
            if field in changed
        }
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
        oidc_config = {
            field.removeprefix("oidc_"): self.cleaned_data[field] or ""
            for field in OIDC_FORM_FIELDS
            if field in changed
        }
        if self.cleaned_data.get("oidc_client_secret"):
            oidc_config["client_secret"] = self.cleaned_data["oidc_client_secret"]
        if "oidc_logout_at_idp" in changed:
            oidc_config["logout_at_idp"] = self.cleaned_data["oidc_logout_at_idp"]
        if "oidc_hosted_domains" in changed:
            oidc_config["hosted_domains"] = [
                d.strip() for d in self.cleaned_data["oidc_hosted_domains"].split(",") if d.strip()
            ]
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
            self.idp_fields = services.connection_check_update(
                connection=saved, data=self.update_data(), application=application
            )
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
    list_display = (
        "id",
        "organization",
        "application",
        "provider_type",
        "lifecycle_label",
        "last_login_ok",
        "last_login_failed",
        "certificate_expiry",
        "onboarding_state",
        "onboarding_progress",
        "inserted_at",
    )
    list_filter = (LifecycleFilter, "active", "provider_type", "protocol", "organization")
    search_fields = (
        "id",
        "organization__domain",
        "organization__name",
        "application__name",
        "idp_entity_id",
        "sso_admin_email",
    )
    list_select_related = ("organization", "application", "admin_onboarding")
    actions = ("deactivate_connections", "resend_onboarding_invitation", "revoke_onboarding_links")
    autocomplete_fields = ("organization",)
    show_full_result_count = False
    readonly_fields = (
        "id",
        "organization",
        "protocol",
        "sp_settings",
        "oidc_rp_settings",
        "oidc_discovered",
        "idp_metadata_fetched_at",
        "idp_metadata_valid_until",
        "last_successful_test_at",
        "onboarding_summary",
        "inserted_at",
        "updated_at",
        "lifecycle_label",
        "deactivated_at",
        "deactivated_by",
        "sign_ins",
        "certificate_expiry",
    )
    fieldsets_change = (
        (
            None,
            {
                "fields": (
                    "id",
                    "organization",
                    "application",
                    "protocol",
                    "provider_type",
                    "lifecycle_label",
                    "active",
                    "deactivated_at",
                    "deactivated_by",
                    "bypass_it_admin_test",
                    "last_successful_test_at",
                    "users_provisioning",
                    "sso_admin_email",
                )
            },
        ),
        ("Health", {"fields": ("sign_ins", "certificate_expiry")}),
        ("The IT admin's onboarding", {"fields": ("onboarding_summary",)}),
        ("Our service provider (to enter in the IdP)", {"fields": ("sp_settings",)}),
        (
            "Identity provider: metadata URL, pasted metadata, or the values typed by hand",
            {"fields": (*IDP_FIELDS, "idp_metadata_fetched_at", "idp_metadata_valid_until")},
        ),
        ("Sign-in", {"fields": ("attribute_mapping", "allow_idp_initiated", "want_response_signed")}),
        (None, {"fields": ("inserted_at", "updated_at")}),
    )
    fieldsets_change_oidc = (
        fieldsets_change[0],
        fieldsets_change[1],
        fieldsets_change[2],
        (
            "OpenID Connect identity provider (the issuer's discovery document is read when saved)",
            {
                "fields": (
                    "oidc_rp_settings",
                    *OIDC_FORM_FIELDS,
                    "oidc_client_secret",
                    "oidc_hosted_domains",
                    "oidc_logout_at_idp",
                    "oidc_discovered",
                )
            },
        ),
        ("Sign-in", {"fields": ("attribute_mapping",)}),
        (None, {"fields": ("inserted_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # The last sign-ins come from the audit trail, as subqueries of the one list query (no N+1).
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_login_ok_at=_last_event("sso.login.succeeded"),
                last_login_failed_at=_last_event("sso.login.failed"),
                last_login_failed_error=_last_event("sso.login.failed", "error"),
                last_login_failed_reason=_last_event("sso.login.failed", "reason"),
            )
        )

    @admin.display(description="lifecycle")
    def lifecycle_label(self, obj):
        colors = {"draft": "#777", "tested": "#205067", "active": "#2e7d32", "inactive": "#ba2121"}
        return format_html('<strong style="color: {}">{}</strong>', colors[obj.lifecycle], obj.lifecycle)

    @admin.display(description="last sign-in", ordering="last_login_ok_at")
    def last_login_ok(self, obj):
        at = getattr(obj, "last_login_ok_at", None)
        return _when(at) if at else "-"

    @admin.display(description="last failed sign-in", ordering="last_login_failed_at")
    def last_login_failed(self, obj):
        at = getattr(obj, "last_login_failed_at", None)
        if at is None:
            return "-"
        return format_html(
            '{}<br><span title="{}">{}</span>',
            _when(at),
            obj.last_login_failed_reason or "",
            obj.last_login_failed_error or "",
        )

    @admin.display(description="IdP certificate expiry")
    def certificate_expiry(self, obj):
        expiries = idp_certificate_expiries(obj)
        if not expiries:
            return "-"
        return format_html_join(mark_safe("<br>"), "{}", ((_expiry_label(at),) for at in expiries))

    @admin.display(description="sign-ins")
    def sign_ins(self, obj):
        events_url = reverse("admin:cryptr_sso_auditevent_changelist") + f"?q={obj.pk}"
        failed = "-"
        if getattr(obj, "last_login_failed_at", None):
            failed = format_html(
                "{} &middot; <code>{}</code> {}",
                _when(obj.last_login_failed_at),
                obj.last_login_failed_error or "",
                obj.last_login_failed_reason or "",
            )
        return format_html(
            'Last successful: {}<br>Last failed: {}<br><a href="{}">All events of this connection</a>',
            _when(obj.last_login_ok_at) if getattr(obj, "last_login_ok_at", None) else "never",
            failed,
            events_url,
        )

    @admin.action(
        description="Deactivate the selected connections (end users can no longer sign in)", permissions=["change"]
    )
    def deactivate_connections(self, request, queryset):
        done = 0
        for connection in queryset.filter(active=True):
            services.connection_deactivate(connection=connection, by=Actor.operator(request))
            done += 1
        self.message_user(request, f"Deactivated {done} connection(s).", messages.SUCCESS)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ConnectionChangeForm if obj is not None else ConnectionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("organization", "application", "provider_type", "sso_admin_email")}),)
        return self.fieldsets_change_oidc if obj.protocol == OIDC else self.fieldsets_change

    @admin.display(description="Our relying party (to enter in the IdP)")
    def oidc_rp_settings(self, obj):
        return format_html(
            "Redirect URI: <code>{}</code><br>Client secret: {}",
            redirect_uri_for(obj),
            "set (write-only)" if obj.oidc_client_secret_encrypted else "not set",
        )

    @admin.display(description="Discovered")
    def oidc_discovered(self, obj):
        if not obj.oidc_discovery_fetched_at:
            return "Not discovered yet: save the issuer."
        return format_html(
            "Issuer: <code>{}</code><br>Authorization: <code>{}</code><br>Token: <code>{}</code> ({})<br>"
            "Userinfo: <code>{}</code><br>JWKS: <code>{}</code><br>End session: <code>{}</code><br>Read at {}",
            obj.oidc_discovered_issuer,
            obj.oidc_authorization_endpoint,
            obj.oidc_token_endpoint,
            obj.oidc_token_endpoint_auth_method,
            obj.oidc_userinfo_endpoint or "-",
            obj.oidc_jwks_uri,
            obj.oidc_end_session_endpoint or "- (the IdP offers no RP-initiated logout)",
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
            endpoints.entity_id,
            endpoints.acs_url,
            endpoints.slo_url,
            endpoints.metadata_url,
            endpoints.metadata_url,
            sp_certificate_pem(obj),
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
            return 'Not started: set the IT admin\'s email and use the action "Resend the onboarding invitation".'
        return format_html(
            '{} &middot; {} &middot; admin {} &middot; last invitation sent {} &middot; <a href="{}">details</a>',
            onboarding_admin.state_label(onboarding),
            onboarding_admin.progress_label(onboarding),
            onboarding.it_admin_email or "-",
            onboarding.invitation_sent_at or "never",
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
                    organization=form.cleaned_data["organization"],
                    application=form.cleaned_data["application"],
                    provider_type=form.cleaned_data["provider_type"],
                    sso_admin_email=form.cleaned_data.get("sso_admin_email") or "",
                    by=Actor.operator(request),
                )
                if created.sso_admin_email:
                    # As through the API: a connection created with its IT admin's email invites the admin.
                    onboarding_services.onboarding_invite(connection=created, by=Actor.operator(request))
            obj.pk, obj._state.adding = created.pk, False
            return
        application = form.cleaned_data["application"] if "application" in form.changed_data else None
        services.connection_update(
            connection=obj,
            data=form.update_data(),
            application=application,
            idp_fields=getattr(form, "idp_fields", None),
            by=Actor.operator(request),
        )

    def delete_model(self, request, obj):
        services.connection_delete(connection=obj, by=Actor.operator(request))

    def delete_queryset(self, request, queryset):
        for connection in queryset:
            services.connection_delete(connection=connection, by=Actor.operator(request))
