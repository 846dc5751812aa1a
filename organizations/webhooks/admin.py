"""Webhook endpoints (the secret shown once, at creation or rotation; edits and rotations through the same
services as the API, audited as the operator) and the delivery log (filters, redelivery)."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from cryptr_sso.admin_audit import ViewOnlyAdminMixin
from cryptr_sso.api.errors import ApiError
from cryptr_sso.audit import Actor

from . import services
from .events import WEBHOOK_EVENT_TYPES
from .http import UrlRefused, check_url
from .models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in WEBHOOK_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(WEBHOOK_EVENT_TYPES),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("organization", "url", "description", "event_types", "active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UrlRefused as refused:
            raise forms.ValidationError(refused.message) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "organization", "active", "inserted_at")
    list_filter = ("active",)
    search_fields = ("url", "organization__domain", "organization__name")
    autocomplete_fields = ("organization",)
    readonly_fields = ("previous_secret_expires_at", "inserted_at", "updated_at")
    actions = ("rotate_secret",)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "organization") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            # The form already wrote its values on `obj`; the service reads the stored row, so that the
            # trail gets the old values too.
            try:
                services.webhook_endpoint_update(
                    endpoint=obj,
                    data={field: form.cleaned_data[field] for field in services.UPDATABLE_FIELDS},
                    by=Actor.operator(request),
                )
            except ApiError as error:
                messages.error(request, str(error.detail))
            return
        try:
            endpoint, secret = services.webhook_endpoint_create(
                organization=form.cleaned_data["organization"],
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                active=form.cleaned_data["active"],
                by=Actor.operator(request),
            )
        except ApiError as error:
            messages.error(request, str(error.detail))
            return
        obj.pk, obj.secret_encrypted = endpoint.pk, endpoint.secret_encrypted
        obj._state.adding, obj._state.db = False, endpoint._state.db
        messages.warning(
            request,
            format_html(
                "Webhook endpoint created. Signing secret: <code>{}</code> Copy it now: it will not be shown again.",
                secret,
            ),
        )

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint=obj, by=Actor.operator(request))

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.webhook_endpoint_delete(endpoint=endpoint, by=Actor.operator(request))

    @admin.action(description="Rotate the signing secret (the previous one still signs for 24 hours)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset.select_related("organization"):
            _endpoint, secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint, by=Actor.operator(request))
            messages.warning(
                request,
                format_html(
                    "New signing secret of {}: <code>{}</code> Copy it now: it will not be shown again. The previous "
                    "secret also signs deliveries for 24 hours, while the receiver switches.",
                    endpoint.url,
                    secret,
                ),
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    deletable = True

    list_display = (
        "inserted_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "next_retry_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type", "endpoint__organization")
    search_fields = ("id", "event_id", "endpoint__url")
    list_select_related = ("endpoint",)
    actions = ("redeliver",)
    date_hierarchy = "inserted_at"

    @admin.action(description="Send the selected deliveries again now")
    def redeliver(self, request, queryset):
        queued, refused = 0, []
        for delivery in queryset:
            try:
                services.webhook_delivery_redeliver(delivery=delivery, by=Actor.operator(request))
                queued += 1
            except ApiError as error:
                refused.append(f"{delivery.pk}: {error.detail}")
        if queued:
            self.message_user(request, f"Queued {queued} delivery(ies) again.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Not queued, {reason}", messages.WARNING)
