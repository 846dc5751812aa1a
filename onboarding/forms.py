"""The wizard's forms, one per step (onboarding/steps.py names them). Each renders its page and, when
valid, `save()`s through onboarding.wizard and returns where to go next (None: the next step)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from connections.admin_test_login import arm_admin_test
from connections.exceptions import OidcDiscoveryError, OidcError
from connections.providers import (
    GOOGLE_ISSUER,
    MAPPED_CLAIMS,
    OIDC,
    OIDC_PROFILE_ENTRA,
    OIDC_PROFILE_GOOGLE,
    PROVIDERS,
    UNSET,
    default_attribute_mapping,
    provider_get,
)
from connections.saml.metadata import MAX_METADATA_BYTES, MetadataError, certificate_from_text
from cryptr_sso.api.errors import ApiError

from . import wizard
from .models import AdminOnboarding

WIZARD_PROVIDERS = [key for key in PROVIDERS if key != UNSET]  # SAML first, then OpenID Connect (the table's order)
# Product names stay as they are; the generic choices are sentences, so they are translated.
_GENERIC_LABELS = {
    "generic_saml": _("Another SAML 2.0 identity provider"),
    "generic_oidc": _("Another OpenID Connect identity provider"),
}


class StepForm(forms.Form):
    """A step's form. `context` is the wizard (onboarding, connection, urls) the view built."""

    # Fields whose raw value is kept when the admin goes back without saving.
    draft_fields: tuple[str, ...] = ()
    # Fields labelled "(optional)" (the others are required, by the form or by the method chosen).
    optional_fields: tuple[str, ...] = ()

    def __init__(self, *args, context, **kwargs):
        self.context = context
        self.onboarding: AdminOnboarding = context.onboarding
        kwargs.setdefault("initial", self.initial_values())
        super().__init__(*args, **kwargs)

    def initial_values(self) -> dict:
        saved = self.onboarding.data.get(self.step_key) or {}
        draft = (self.onboarding.data.get(wizard.DRAFTS) or {}).get(self.step_key) or {}
        return {**saved, **draft}

    def full_clean(self):
        super().full_clean()
        self._mark_errors()

    def _mark_errors(self):
        # Accessible errors: each invalid field points at its message, and the first one takes the focus
        # (works without JavaScript: the autofocus attribute).
        for name in self.errors:
            if name not in self.fields:
                continue
            widget = self.fields[name].widget
            described = [f"{self[name].auto_id}_error"]
            if self.fields[name].help_text:
                described.append(f"{self[name].auto_id}_helptext")
            widget.attrs["aria-describedby"] = " ".join(described)
        first = self.first_error_field
        if first:
            self.fields[first].widget.attrs["autofocus"] = True

    @property
    def first_error_field(self) -> str | None:
        if not self.is_bound:
            return None
        return next((name for name in self.fields if name in self.errors), None)

    @property
    def step_key(self) -> str:
        return self.context.step.key

    def draft(self) -> dict:
        return {name: self.data.get(name, "") for name in self.draft_fields if name in self.data}

    def save(self) -> str | None:
        wizard.wizard_step_saved(onboarding=self.onboarding, step_key=self.step_key, data={})
        return None

    def api_error(self, error: ApiError, field: str | None) -> None:
        self.add_error(field, str(error.detail))
        self._mark_errors()


class ChooseProviderForm(StepForm):
    provider_type = forms.ChoiceField(
        label=_("Which identity provider does your company use?"),
        choices=[(key, _GENERIC_LABELS.get(key, PROVIDERS[key].label)) for key in WIZARD_PROVIDERS],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose your identity provider (or “Another SAML 2.0 identity provider”).")},
    )
    draft_fields = ("provider_type",)

    def initial_values(self) -> dict:
        initial = super().initial_values()
        chosen = self.onboarding.provider_type or self.onboarding.connection.provider_type
        if chosen and chosen != UNSET and "provider_type" not in initial:
            initial["provider_type"] = chosen
        return initial

    def save(self) -> str | None:
        wizard.wizard_provider_chosen(
            onboarding=self.onboarding, provider_type=self.cleaned_data["provider_type"], by=self.context.actor
        )
        return None


class CreateAppForm(StepForm):
    """Nothing to enter: the admin reads the guide, does it in the IdP, and says so."""


class IdpMetadataForm(StepForm):
    URL, UPLOAD, MANUAL = "url", "upload", "manual"
    method = forms.ChoiceField(choices=[(URL, URL), (UPLOAD, UPLOAD), (MANUAL, MANUAL)], widget=forms.HiddenInput)
    metadata_url = forms.URLField(
        label=_("Metadata URL"),
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text=_("An https:// address we can reach from the internet. We download it once, now."),
    )
    metadata_file = forms.FileField(
        label=_("Metadata file (XML)"),
        required=False,
        help_text=_("The metadata XML file your identity provider lets you download (at most 1 MB)."),
    )
    metadata_xml = forms.CharField(
        label=_("Or paste the metadata XML"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=MAX_METADATA_BYTES,
        error_messages={
            "max_length": _(
                "The metadata is larger than 1 MB; IdP metadata is a few kB. Check that "
                "you exported the metadata of one identity provider."
            )
        },
    )
    entity_id = forms.CharField(label=_("Identity provider entity ID (Issuer)"), required=False, max_length=1024)
    sso_url = forms.URLField(
        label=_("Single sign-on URL"),
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text=_("Where we send people to sign in (HTTP-Redirect binding)."),
    )
    certificate = forms.CharField(
        label=_("Signing certificate (PEM)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Begins with -----BEGIN CERTIFICATE-----. The base64 alone works too."),
    )
    draft_fields = ("method", "metadata_url", "entity_id", "sso_url", "certificate")

    def clean(self):
        data = super().clean()
        method = data.get("method")
        if method == self.URL and not data.get("metadata_url") and "metadata_url" not in self.errors:
            self.add_error("metadata_url", _("Give the metadata URL of your identity provider."))
        if method == self.UPLOAD:
            upload = data.get("metadata_file")
            if upload:
                if upload.size > MAX_METADATA_BYTES:
                    self.add_error(
                        "metadata_file",
                        _(
                            "The file is larger than 1 MB; IdP metadata is a few kB. "
                            "Check that you exported the metadata of one identity "
                            "provider."
                        ),
                    )
                else:
                    data["document"] = upload.read()
            elif data.get("metadata_xml", "").strip():
                data["document"] = data["metadata_xml"]
            elif "metadata_file" not in self.errors:
                self.add_error("metadata_file", _("Choose the metadata file, or paste the metadata XML."))
        if method == self.MANUAL:
            for name, message in (
                ("entity_id", _("Give the entity ID.")),
                ("sso_url", _("Give the SSO URL.")),
                ("certificate", _("Paste the signing certificate.")),
            ):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, message)
            if data.get("certificate") and "certificate" not in self.errors:
                try:
                    certificate_from_text(data["certificate"])
                except MetadataError as error:
                    self.add_error("certificate", error.hint)  # in the wizard's language
        return data

    def save(self) -> str | None:
        data = self.cleaned_data
        method = data["method"]
        if method == self.URL:
            saml_config, field, entered = (
                {"idp_metadata_url": data["metadata_url"]},
                "metadata_url",
                {"method": method, "metadata_url": data["metadata_url"]},
            )
        elif method == self.UPLOAD:
            document = data["document"]
            if isinstance(document, bytes):
                document = document.decode("utf-8", "replace")
            field = "metadata_file" if data.get("metadata_file") else "metadata_xml"
            saml_config, entered = {"idp_metadata_xml": document}, {"method": method}
        else:
            saml_config = {
                "idp_entity_id": data["entity_id"].strip(),
                "idp_sso_url": data["sso_url"],
                "idp_certificates": [data["certificate"]],
            }
            field = "certificate"
            entered = {"method": method, "entity_id": data["entity_id"].strip(), "sso_url": data["sso_url"]}
        try:
            wizard.wizard_connection_updated(
                onboarding=self.onboarding,
                step_key=self.step_key,
                data={"saml_config": saml_config},
                entered=entered,
                by=self.context.actor,
            )
        except ApiError as error:
            self.api_error(error, field)
            return ""  # stay on the page, with the error
        # Back to this step: it now shows what we understood, and the admin continues from there.
        return self.context.step_url(self.context.step)


class AttributeMappingForm(StepForm):
    email = forms.CharField(label=_("Email address"), max_length=1024)
    given_name = forms.CharField(label=_("Given name"), max_length=1024, required=False)
    family_name = forms.CharField(label=_("Family name"), max_length=1024, required=False)
    draft_fields = MAPPED_CLAIMS
    optional_fields = ("given_name", "family_name")
    config_key = "saml_config"  # where connections.services takes the mapping

    def initial_values(self) -> dict:
        connection = self.onboarding.connection
        mapping = {**default_attribute_mapping(connection.provider_type), **(connection.attribute_mapping or {})}
        draft = (self.onboarding.data.get(wizard.DRAFTS) or {}).get(self.step_key) or {}
        return {**{claim: mapping.get(claim, "") for claim in MAPPED_CLAIMS}, **draft}

    def save(self) -> str | None:
        mapping = {claim: self.cleaned_data.get(claim, "").strip() for claim in MAPPED_CLAIMS}
        try:
            wizard.wizard_connection_updated(
                onboarding=self.onboarding,
                step_key=self.step_key,
                data={self.config_key: {"attribute_mapping": mapping}},
                entered=mapping,
                by=self.context.actor,
            )
        except ApiError as error:
            self.api_error(error, None)
            return ""
        return None


def _idp_configuration_missing(connection) -> str:
    if connection.protocol == OIDC:
        return _("Give your identity provider's settings first (step 3).")
    return _("Give your identity provider's metadata first (step 3).")


class OidcClaimMappingForm(AttributeMappingForm):
    """The same three details, named by the claims of the ID token (or userinfo)."""

    config_key = "oidc_config"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


def discovery_problem(error: OidcError, *, issuer: str) -> str:
    """The discovery check's refusal in plain words, in the admin's language; the service's precise
    sentence (English, with the values involved) follows as the details."""
    detail = error.detail or ""
    host = _host(issuer)
    if detail in ("scheme", "userinfo", "port"):
        plain = _(
            "The issuer must be an https:// address, without a user name or password, for example "
            "https://your-company.okta.com."
        )
    elif detail == "private address":
        plain = _(
            "%(host)s is on a private or internal network, which we never call. Give the public "
            "https:// address of your identity provider."
        ) % {"host": host}
    elif detail == "dns":
        plain = _("We could not find the server %(host)s. Check the issuer for typos.") % {"host": host}
    elif detail == "tls":
        plain = _(
            "We reached %(host)s but could not verify its certificate. Identity providers use a "
            "certificate from a public authority: check the address."
        ) % {"host": host}
    elif detail in ("connect", "timeout"):
        plain = _(
            "We could not reach your identity provider at %(host)s (it did not answer). Check the issuer, "
            "and that the identity provider can be reached from the internet."
        ) % {"host": host}
    elif detail == "issuer mismatch":
        plain = _(
            "Your identity provider answered, but it names another issuer than the one you typed. Copy the "
            "issuer exactly as your identity provider shows it (a trailing slash counts)."
        )
    elif isinstance(error, OidcDiscoveryError):
        plain = _(
            "Your identity provider answered, but its discovery document cannot be used by an OpenID "
            "Connect web application."
        )
    else:  # an HTTP error, not JSON, too large: no discovery document at that address
        plain = _(
            "We found no OpenID Connect discovery document at %(url)s. Check the issuer: it is the address "
            "before /.well-known/openid-configuration."
        ) % {"url": issuer.rstrip("/") + "/.well-known/openid-configuration"}
    return f"{plain} {_('Details:')} {error.hint}"


class OidcSettingsForm(StepForm):
    """Step 3 of the OpenID Connect path: the issuer (or Entra ID's tenant id), the client id and secret.
    The issuer's discovery document is read before anything is saved (the discovery check); the secret
    is write-only: the page says whether one is set, never shows it."""

    issuer = forms.CharField(
        label=_("Issuer URL"),
        max_length=2000,
        required=False,
        help_text=_("The address of your identity provider; we read its /.well-known/openid-configuration."),
    )
    tenant_id = forms.CharField(label=_("Directory (tenant) ID"), max_length=64, required=False)
    client_id = forms.CharField(label=_("Client ID"), max_length=512)
    client_secret = forms.CharField(
        label=_("Client secret"),
        max_length=2000,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    hosted_domains = forms.CharField(
        label=_("Google Workspace domains"),
        max_length=2000,
        required=False,
        help_text=_(
            "Only accounts of these domains can sign in (separate them with spaces or commas). Empty: "
            "the email domains of your organization."
        ),
    )
    draft_fields = ("issuer", "tenant_id", "client_id", "hosted_domains")  # never the secret
    optional_fields = ("hosted_domains",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        connection = self.onboarding.connection
        self.provider = provider_get(connection.provider_type)
        profile = self.provider.oidc_profile
        if profile != OIDC_PROFILE_ENTRA:
            del self.fields["tenant_id"]
        else:
            self.fields["tenant_id"].required = True
            self.order_fields(["tenant_id"])  # Entra ID: the tenant first, the issuer follows from it
            self.fields["issuer"].help_text = _(
                "Leave it empty: we use your tenant's issuer. Only for a multi-tenant application, give its issuer."
            )
            self.optional_fields = (*self.optional_fields, "issuer")
        if profile != OIDC_PROFILE_GOOGLE:
            del self.fields["hosted_domains"]
        self.secret_is_set = bool(connection.oidc_client_secret_encrypted)
        if self.secret_is_set:
            self.fields["client_secret"].help_text = _(
                "A client secret is set (it is never shown). Leave this "
                "empty to keep it, or type a new one to replace it."
            )
            self.optional_fields = (*self.optional_fields, "client_secret")
        else:
            self.fields["client_secret"].help_text = _("Stored encrypted, and never shown again, here or elsewhere.")

    def initial_values(self) -> dict:
        connection = self.onboarding.connection
        saved = {
            "issuer": connection.oidc_issuer,
            "tenant_id": connection.oidc_tenant_id,
            "client_id": connection.oidc_client_id,
            "hosted_domains": " ".join(connection.oidc_hosted_domains or []),
        }
        if not saved["issuer"] and provider_get(connection.provider_type).oidc_issuer_template == GOOGLE_ISSUER:
            saved["issuer"] = GOOGLE_ISSUER
        draft = (self.onboarding.data.get(wizard.DRAFTS) or {}).get(self.step_key) or {}
        return {**{name: value for name, value in saved.items() if value}, **draft}

    def clean(self):
        from connections.oidc.discovery import discover, issuer_for

        data = super().clean()
        if not data.get("client_secret") and not self.secret_is_set and "client_secret" not in self.errors:
            self.add_error(
                "client_secret", _("Give the client secret your identity provider showed for the application.")
            )
        issuer_field = "tenant_id" if "tenant_id" in self.fields and not data.get("issuer") else "issuer"
        issuer = issuer_for(
            self.provider.key,
            issuer=(data.get("issuer") or "").strip(),
            tenant_id=(data.get("tenant_id") or "").strip(),
        )
        if not issuer:
            if issuer_field not in self.errors:
                self.add_error(issuer_field, _("Give the issuer URL of your identity provider."))
            return data
        if self.errors:
            return data  # the discovery check once the rest is right (it calls the IdP)
        try:
            discover(issuer, provider_type=self.provider.key)
        except OidcError as error:
            self.add_error(issuer_field, discovery_problem(error, issuer=issuer))
        return data

    def save(self) -> str | None:
        import re

        data = self.cleaned_data
        oidc_config = {"issuer": data.get("issuer", "").strip(), "client_id": data["client_id"].strip()}
        entered = {"client_id": oidc_config["client_id"]}
        if "tenant_id" in self.fields:
            oidc_config["tenant_id"] = entered["tenant_id"] = data["tenant_id"].strip()
        if "hosted_domains" in self.fields:
            oidc_config["hosted_domains"] = [d for d in re.split(r"[\s,;]+", data["hosted_domains"]) if d]
        if data.get("client_secret"):
            oidc_config["client_secret"] = data["client_secret"]  # never into the onboarding's data
        field = "tenant_id" if "tenant_id" in self.fields and not oidc_config["issuer"] else "issuer"
        try:
            wizard.wizard_connection_updated(
                onboarding=self.onboarding,
                step_key=self.step_key,
                data={"oidc_config": oidc_config},
                entered=entered,
                by=self.context.actor,
            )
        except ApiError as error:
            self.api_error(error, field)
            return ""
        # Back to this step: it shows what discovery found, and the admin continues from there.
        return self.context.step_url(self.context.step)


class TestLoginForm(StepForm):
    """The button that sends the admin to their IdP for a test login (connections.admin_test_login)."""

    def clean(self):
        if not self.onboarding.connection.has_usable_idp_configuration:
            raise forms.ValidationError(_idp_configuration_missing(self.onboarding.connection))
        return super().clean()

    def save(self) -> str | None:
        return arm_admin_test(
            self.context.request, connection=self.onboarding.connection, return_path=self.context.test_result_path
        )


class ActivateForm(StepForm):
    def clean(self):
        connection = self.onboarding.connection
        if not connection.has_usable_idp_configuration:
            raise forms.ValidationError(_idp_configuration_missing(connection))
        if connection.last_successful_test_at is None and not connection.bypass_it_admin_test:
            raise forms.ValidationError(
                _(
                    "Run a successful test login first (step 5): the connection is "
                    "switched on for everyone only once it has proved to work."
                )
            )
        return super().clean()

    def save(self) -> str | None:
        try:
            wizard.wizard_activated(onboarding=self.onboarding, by=self.context.actor)
        except ApiError as error:
            self.api_error(error, None)
            return ""
        return self.context.done_url
