"""Operators' view of applications. Creation goes through the same service as the API, so the
client secret is shown once and stored hashed; the URI lists are edited one per line."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from oauth2_provider import admin as dot_admin

from cryptr_sso.admin_audit import AuditedAdminMixin
from cryptr_sso.audit import Actor

from . import services, validators
from .kinds import APPLICATION_TYPE_CHOICES, client_type_of
from .models import AccessToken, Application, Grant, IDToken, RefreshToken

LIST_FIELDS = {
    "allowed_origins_cors": ("allowed_origins", validators.validate_origin),
    "allowed_redirect_uris_after_login": ("redirect_uris", validators.validate_redirect_uri),
    "allowed_redirect_uris_after_logout": ("post_logout_redirect_uris", validators.validate_redirect_uri),
}


class ApplicationForm(forms.ModelForm):
    application_type = forms.ChoiceField(choices=APPLICATION_TYPE_CHOICES)
    allowed_redirect_uris_after_login = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="One per line; https (http only for localhost)."
    )
    allowed_redirect_uris_after_logout = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="One per line."
    )
    allowed_origins_cors = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Origins allowed to call the token endpoint from a browser (https://app.example.com), one per line.",
    )
    default_redirect_uri_after_login = forms.CharField(
        required=False, max_length=2000, help_text="One of the allowed URIs; the first when empty."
    )
    default_redirect_uri_after_logout = forms.CharField(required=False, max_length=2000)

    class Meta:
        model = Application
        fields = ("organization", "name", "description", "application_type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for field, (dot_field, _check) in LIST_FIELDS.items():
                self.initial[field] = "\n".join(getattr(self.instance, dot_field).split())

    def _lines(self, field: str) -> list[str]:
        _dot_field, check = LIST_FIELDS[field]
        values = []
        for line in self.cleaned_data.get(field, "").splitlines():
            if line.strip():
                try:
                    values.append(check(line))
                except validators.UriError as error:
                    self.add_error(field, str(error))
        return validators.unique(values)

    def clean(self):
        cleaned = super().clean()
        for field in LIST_FIELDS:
            cleaned[field] = self._lines(field)
        login, logout = cleaned["allowed_redirect_uris_after_login"], cleaned["allowed_redirect_uris_after_logout"]
        if not login and "allowed_redirect_uris_after_login" not in self.errors:
            self.add_error("allowed_redirect_uris_after_login", "Give at least one redirect URI.")
        default_login = cleaned.get("default_redirect_uri_after_login", "").strip() or (login[0] if login else "")
        if login and default_login not in login:
            self.add_error("default_redirect_uri_after_login", "Must be one of the allowed redirect URIs after login.")
        cleaned["default_redirect_uri_after_login"] = default_login
        default_logout = cleaned.get("default_redirect_uri_after_logout", "").strip()
        if default_logout and default_logout not in logout:
            self.add_error(
                "default_redirect_uri_after_logout", "Must be one of the allowed redirect URIs after logout."
            )
        cleaned["default_redirect_uri_after_logout"] = default_logout
        application_type = cleaned.get("application_type")
        if self.instance.pk and application_type and client_type_of(application_type) != self.instance.client_type:
            self.add_error(
                "application_type",
                f"This application is a {self.instance.client_type} client; choose "
                "a type of the same kind, or create a new application.",
            )
        return cleaned


# Importing oauth2_provider.admin registered DOT's admin for the swapped model: ours replaces it.
if admin.site.is_registered(Application):
    admin.site.unregister(Application)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    form = ApplicationForm
    list_display = ("name", "client_id", "organization", "application_type", "client_type", "created")
    list_filter = ("organization", "application_type", "client_type")
    search_fields = ("name", "client_id", "organization__domain", "organization__name")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    readonly_fields = ("client_id", "client_type", "connections_count", "created", "updated")
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        fields = [
            "organization",
            "name",
            "description",
            "application_type",
            "allowed_redirect_uris_after_login",
            "default_redirect_uri_after_login",
            "allowed_redirect_uris_after_logout",
            "default_redirect_uri_after_logout",
            "allowed_origins_cors",
        ]
        return (
            fields if obj is None else ["client_id", "client_type", *fields, "connections_count", "created", "updated"]
        )

    def get_readonly_fields(self, request, obj=None):
        # An application never moves to another organization: its tokens and connections are that tenant's.
        return self.readonly_fields if obj is None else (*self.readonly_fields, "organization")

    @admin.display(description="SSO connections")
    def connections_count(self, obj):
        return obj.sso_connections.count()

    def _data(self, form) -> dict:
        keys = (
            "name",
            "description",
            "application_type",
            "default_redirect_uri_after_login",
            "default_redirect_uri_after_logout",
            *LIST_FIELDS,
        )
        return {key: form.cleaned_data[key] for key in keys}

    def save_model(self, request, obj, form, change):
        if change:
            services.application_update(
                application=Application.objects.get(pk=obj.pk), data=self._data(form), by=Actor.operator(request)
            )
            return
        application, secret = services.application_create(
            organization=form.cleaned_data["organization"], **self._data(form), by=Actor.operator(request)
        )
        obj.pk, obj.client_id, obj._state.adding = application.pk, application.client_id, False
        if secret:
            messages.warning(
                request,
                format_html(
                    "Application created. client_id: <code>{}</code> client_secret: <code>{}</code> Copy the secret "
                    "now: it is stored hashed and will not be shown again.",
                    application.client_id,
                    secret,
                ),
            )
        else:
            messages.info(
                request,
                format_html(
                    "Application created. client_id: <code>{}</code> (a public client: "
                    "it has no secret and must use PKCE).",
                    application.client_id,
                ),
            )

    def delete_model(self, request, obj):
        services.application_delete(application=obj, by=Actor.operator(request))


# DOT's token admins search
# `user__<USERNAME_FIELD>` of the operator model, but our tokens belong to directory users.
def _reregister(model, base):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(
        model,
        type(
            f"{model.__name__}Admin",
            (AuditedAdminMixin, base),
            {
                "search_fields": ("application__client_id", "application__name", "user__email"),
            },
        ),
    )


for _model, _base in (
    (AccessToken, dot_admin.AccessTokenAdmin),
    (RefreshToken, dot_admin.RefreshTokenAdmin),
    (Grant, dot_admin.GrantAdmin),
    (IDToken, dot_admin.IDTokenAdmin),
):
    _reregister(_model, _base)
