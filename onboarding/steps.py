"""The wizard's steps, declared once: the API's progress and the pages the IT admin sees both come
from this list (the wizard extends Step with its form and template)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from connections.providers import OIDC, provider_get


@dataclass(frozen=True)
class Step:
    key: str
    title: Any
    # The wizard's side (onboarding/views.py): the form that renders the page and saves the step
    # (a dotted path: forms import the services, this module stays import-light for the API), its
    # template, a short label for the progress list, and a fact about the connection that also makes
    # the step done (e.g. metadata given through the API; a test login recorded).
    form_class: str = ""
    template: str = ""
    short_title: Any = ""
    done_when: Callable[[Any], bool] | None = None

    @property
    def slug(self) -> str:
        return self.key.replace("_", "-")

    def is_done(self, onboarding) -> bool:
        if self.key in (onboarding.steps_done or []):
            return True
        return bool(self.done_when and self.done_when(onboarding))

    def get_form_class(self):
        return import_string(self.form_class)


def _wizard(key: str, title, short_title, form: str, done_when=None, template: str = "") -> Step:
    return Step(
        key=key,
        title=title,
        short_title=short_title,
        done_when=done_when,
        form_class=f"onboarding.forms.{form}",
        template=f"onboarding/steps/{template or key}.html",
    )


def _idp_configured(onboarding) -> bool:
    return onboarding.connection.has_usable_idp_configuration


def _tested(onboarding) -> bool:
    return onboarding.connection.last_successful_test_at is not None


def _active(onboarding) -> bool:
    return onboarding.connection.active


# The SAML path (also the path before a provider is chosen: the "unset" provider is a SAML one).
SAML_STEPS: list[Step] = [
    _wizard(
        "choose_provider",
        _("Choose your identity provider"),
        _("Provider"),
        "ChooseProviderForm",
        done_when=lambda onboarding: bool(onboarding.provider_type),
    ),
    _wizard("create_app", _("Create the application in your identity provider"), _("Create the app"), "CreateAppForm"),
    _wizard(
        "idp_metadata",
        _("Give us your identity provider's metadata"),
        _("IdP metadata"),
        "IdpMetadataForm",
        done_when=_idp_configured,
    ),
    _wizard("attribute_mapping", _("Map the attributes"), _("Attributes"), "AttributeMappingForm"),
    _wizard(
        "test_login",
        _("Test the login"),
        _("Test login"),
        "TestLoginForm",
        done_when=_tested,
    ),
    _wizard("activate", _("Activate the connection"), _("Activate"), "ActivateForm", done_when=_active),
]

# The OpenID Connect path: as many steps, in the same places (the API's progress reads alike for both).
# Step 3 is the IdP's settings (issuer, client id and secret, checked by reading the discovery
# document) instead of its metadata; the guide and the mapping speak of redirect URIs and claims.
_BY_KEY = {step.key: step for step in SAML_STEPS}
OIDC_STEPS: list[Step] = [
    _BY_KEY["choose_provider"],
    _wizard(
        "create_app",
        _("Create the application in your identity provider"),
        _("Create the app"),
        "CreateAppForm",
        template="create_app_oidc",
    ),
    _wizard(
        "idp_settings",
        _("Give us your application's client ID and secret"),
        _("IdP settings"),
        "OidcSettingsForm",
        done_when=_idp_configured,
    ),
    _wizard(
        "attribute_mapping", _("Map the claims"), _("Claims"), "OidcClaimMappingForm", template="attribute_mapping_oidc"
    ),
    _BY_KEY["test_login"],
    _BY_KEY["activate"],
]
assert len(OIDC_STEPS) == len(SAML_STEPS)  # total_steps is one number for both paths

STEPS = SAML_STEPS
STEPS_BY_KEY = {step.key: step for step in STEPS}
STEPS_BY_SLUG = {step.slug: step for step in STEPS}
STEP_KEYS = [step.key for step in STEPS]
ALL_SLUGS = {step.slug for step in SAML_STEPS + OIDC_STEPS}
total_steps = len(STEPS)


def protocol_of(onboarding) -> str:
    """The protocol of the provider chosen (in the wizard, or for the connection through the API)."""
    return provider_get(onboarding.provider_type or onboarding.connection.provider_type).protocol


def steps_for(onboarding) -> list[Step]:
    """The path of this onboarding: the SAML steps, or the OpenID Connect ones."""
    return OIDC_STEPS if onboarding is not None and protocol_of(onboarding) == OIDC else SAML_STEPS


def step_keys_for(onboarding) -> list[str]:
    return [step.key for step in steps_for(onboarding)]


def progress(onboarding) -> dict:
    """The AdminOnboarding object of the API (`onboarding` may be None: not initialized yet).

    `onboarding.connection` is read for the active flag: load it with the onboarding (it usually is,
    from the connection side)."""
    if onboarding is None:
        return {
            "__type__": "AdminOnboarding",
            "state": "not_initialized",
            "tutorial_step": 1,
            "total_steps": total_steps,
            "progress_in_percentage": 0,
            "steps": [{"key": key, "done": False} for key in STEP_KEYS],
            "it_admin_email": None,
            "provider_type": None,
            "invitation_sent_at": None,
        }
    # The same facts as the wizard's progress list (Step.is_done), on this onboarding's path.
    path = steps_for(onboarding)
    keys = [step.key for step in path]
    done = {step.key for step in path if step.is_done(onboarding)}
    state = onboarding.state
    if onboarding.connection.active:
        state = "completed"
    # 1-based index of the first step not done; the last step when all are.
    tutorial_step = next((index for index, key in enumerate(keys, start=1) if key not in done), total_steps)
    done_count = sum(1 for key in keys if key in done)
    return {
        "__type__": "AdminOnboarding",
        "state": state,
        "tutorial_step": tutorial_step,
        "total_steps": total_steps,
        "progress_in_percentage": int(done_count / total_steps * 100),
        "steps": [{"key": key, "done": key in done} for key in keys],
        "it_admin_email": onboarding.it_admin_email or None,
        "provider_type": onboarding.provider_type,
        "invitation_sent_at": onboarding.invitation_sent_at,
    }
