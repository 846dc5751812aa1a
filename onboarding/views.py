"""The IT admin's onboarding wizard at /onboarding/<token>/ (Sentry's SAML setup pipeline shape).

One view renders any step of the onboarding's path (onboarding.steps: the SAML or the OpenID Connect
steps, from the provider chosen): its form on GET; on POST the form saves the step (through
onboarding.wizard and connections.services) and the browser moves on, or the page comes back
with the errors. "Back" keeps what was typed without checking it. The link's token is the only
credential; every page starts by opening it (expired, revoked and unknown links get a page that says
what to do)."""

from dataclasses import dataclass, field

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from connections.admin_test_login import AdminTestResult, pop_admin_test_result
from connections.models import SSOConnection
from connections.oidc.config import post_logout_redirect_uri_for, redirect_uri_for
from connections.providers import MAPPED_CLAIMS, OIDC, OIDC_PROFILE_GOOGLE, PROVIDERS, provider_get
from connections.saml.keys import sp_certificate_pem
from connections.saml.sp import sp_metadata_xml
from connections.selectors import saml_sp_endpoints
from cryptr_sso.audit import Actor

from . import wizard
from .exceptions import InvitationInvalid
from .guides import guide_for
from .idp_summary import idp_summary
from .models import AdminOnboarding, OnboardingInvitation
from .selectors import invitation_by_token
from .steps import ALL_SLUGS, Step, protocol_of, steps_for

LOCALE_SESSION_KEY = "onboarding_locale"


# --- the wizard's context -----------------------------------------------------------------------------


@dataclass
class ProgressItem:
    number: int
    step: Step
    url: str
    done: bool
    current: bool


@dataclass
class Wizard:
    request: object
    token: str
    invitation: OnboardingInvitation
    onboarding: AdminOnboarding
    step: Step | None = None
    extra: dict = field(default_factory=dict)

    @property
    def connection(self) -> SSOConnection:
        return self.onboarding.connection

    @property
    def actor(self) -> Actor:
        """Who writes through this page: the IT admin the link was sent to, from this request."""
        return Actor.it_admin(self.invitation.email or self.connection.sso_admin_email, self.request)

    @property
    def steps(self) -> list[Step]:
        """The path of the provider chosen: the SAML steps or the OpenID Connect ones."""
        return steps_for(self.onboarding)

    @property
    def is_oidc(self) -> bool:
        return protocol_of(self.onboarding) == OIDC

    def step_by_key(self, key: str) -> Step:
        return next(step for step in self.steps if step.key == key)

    def step_url(self, step: Step) -> str:
        return reverse("onboarding-step", args=[self.token, step.slug])

    @property
    def test_result_path(self) -> str:
        return reverse("onboarding-test-result", args=[self.token])

    @property
    def done_url(self) -> str:
        return reverse("onboarding-done", args=[self.token])

    def progress(self) -> list[ProgressItem]:
        return [
            ProgressItem(
                number=index,
                step=step,
                url=self.step_url(step),
                done=step.is_done(self.onboarding),
                current=step == self.step,
            )
            for index, step in enumerate(self.steps, start=1)
        ]

    def neighbours(self) -> tuple[Step | None, Step | None]:
        if self.step is None:
            return None, None
        steps = self.steps
        index = steps.index(self.step)
        return (steps[index - 1] if index else None), (steps[index + 1] if index + 1 < len(steps) else None)

    def page(self, **extra) -> dict:
        previous, following = self.neighbours()
        connection = self.connection
        return {
            "wizard": self,
            "connection": connection,
            "organization": connection.organization,
            "application": connection.application,
            "progress": self.progress(),
            "step": self.step,
            "step_number": self.steps.index(self.step) + 1 if self.step else None,
            "total_steps": len(self.steps),
            "is_oidc": self.is_oidc,
            "previous_step": previous,
            "next_step": following,
            "previous_url": self.step_url(previous) if previous else None,
            "next_url": self.step_url(following) if following else None,
            "provider": provider_get(self.onboarding.provider_type or connection.provider_type),
            "languages": settings.LANGUAGES,
            "current_path": self.request.path,
            **extra,
        }


def _activate_language(request, invitation: OnboardingInvitation | None = None) -> None:
    """`?locale=fr` (kept in the session for the next pages), else the browser's languages (the
    LocaleMiddleware already chose), else the invitation's language."""
    supported = {code for code, _name in settings.LANGUAGES}
    requested = (request.GET.get("locale") or "").split("-")[0].lower()
    if requested in supported:
        request.session[LOCALE_SESSION_KEY] = requested
    code = request.session.get(LOCALE_SESSION_KEY)
    if not code and not request.META.get("HTTP_ACCEPT_LANGUAGE") and invitation is not None:
        code = invitation.locale if invitation.locale in supported else None
    if code:
        translation.activate(code)
        request.LANGUAGE_CODE = code


def _open(request, token: str) -> tuple[Wizard | None, HttpResponse | None]:
    try:
        invitation = invitation_by_token(token)
    except InvitationInvalid as error:
        _activate_language(request)
        return None, _link_invalid_page(request, token, error.reason)
    _activate_language(request, invitation)
    return Wizard(request=request, token=token, invitation=invitation, onboarding=invitation.onboarding), None


def _link_invalid_page(request, token: str, reason: str) -> HttpResponse:
    from cryptr_sso.hashing import hash_secret

    # The expired or revoked invitation still says whom to ask; an unknown token says nothing.
    known = None
    if reason != InvitationInvalid.UNKNOWN:
        known = (
            OnboardingInvitation.objects.select_related(
                "onboarding__connection__application", "onboarding__connection__organization"
            )
            .filter(token_hash=hash_secret(token))
            .first()
        )
    connection = known.onboarding.connection if known else None
    titles = {
        InvitationInvalid.EXPIRED: _("This setup link has expired"),
        InvitationInvalid.REVOKED: _("This setup link is no longer valid"),
        InvitationInvalid.UNKNOWN: _("This setup link is not valid"),
    }
    messages = {
        InvitationInvalid.EXPIRED: _("Setup links work for a limited time, for your company's safety."),
        InvitationInvalid.REVOKED: _(
            "A newer link was sent (only the most recent one works), or this one was withdrawn."
        ),
        InvitationInvalid.UNKNOWN: _(
            "Check that you opened the whole link from the email: some email programs cut long links."
        ),
    }
    if connection is not None:
        what_to_do = _(
            "Ask %(application)s for a new link. What you already set up is kept: the new link "
            "opens where you left off."
        ) % {"application": connection.application.name}
    else:
        what_to_do = _("If the link is complete, ask the application that invited you for a new link.")
    status = 404 if reason == InvitationInvalid.UNKNOWN else 410
    return render(
        request,
        "onboarding/link_invalid.html",
        {
            "title": titles[reason],
            "message": messages[reason],
            "what_to_do": what_to_do,
            "reason": reason,
            "application": connection.application if connection else None,
            "organization": connection.organization if connection else None,
            "languages": settings.LANGUAGES,
            "current_path": request.path,
        },
        status=status,
    )


# --- each step's extra context ------------------------------------------------------------------------


def our_values(connection: SSOConnection, token: str) -> dict:
    endpoints = saml_sp_endpoints(connection)
    return {
        "entity_id": endpoints.entity_id,
        "acs_url": endpoints.acs_url,
        "slo_url": endpoints.slo_url,
        "metadata_url": endpoints.metadata_url,
        "certificate": sp_certificate_pem(connection),
        "metadata_xml": sp_metadata_xml(connection),
        "metadata_download_url": f"{reverse('saml-metadata', args=[connection.id])}?download=1",
        "certificate_download_url": reverse("onboarding-sp-certificate", args=[token]),
        "redirect_uri": redirect_uri_for(connection),
        # Google has no end_session_endpoint (no sign-out for other applications): nothing to register there.
        "post_logout_redirect_uri": ""
        if provider_get(connection.provider_type).oidc_profile == OIDC_PROFILE_GOOGLE
        else post_logout_redirect_uri_for(connection),
    }


def _value_label(key: str) -> str:
    labels = {
        "entity_id": _("Entity ID (Audience)"),
        "acs_url": _("ACS URL (Reply URL)"),
        "slo_url": _("Single logout URL"),
        "metadata_url": _("Metadata URL"),
        "certificate": _("Certificate (PEM)"),
        "metadata_xml": _("Metadata XML"),
        "redirect_uri": _("Redirect URI"),
        "post_logout_redirect_uri": _("Sign-out redirect URI"),
    }
    return labels[key]


def _guide_context(wizard_: Wizard) -> dict:
    values = our_values(wizard_.connection, wizard_.token)
    guide = guide_for(wizard_.onboarding.provider_type or wizard_.connection.provider_type)
    downloads = {"certificate": values["certificate_download_url"], "metadata_xml": values["metadata_download_url"]}
    instructions = []
    for instruction in guide.instructions:
        instructions.append(
            {
                "text": instruction.text,
                "path": instruction.path,
                "settings": instruction.settings,
                "attributes": instruction.attributes,
                "copy_back": instruction.copy_back,
                "paste": [
                    {
                        "field": their_field,
                        "key": key,
                        "label": _value_label(key),
                        "value": values[key],
                        "multiline": key in ("certificate", "metadata_xml"),
                        "download": downloads.get(key),
                    }
                    for their_field, key in instruction.paste
                ],
            }
        )
    return {"guide": guide, "instructions": instructions, "values": values}


def _create_app_context(wizard_: Wizard, form=None) -> dict:
    return _guide_context(wizard_)


def _idp_metadata_context(wizard_: Wizard, form) -> dict:
    guide = guide_for(wizard_.onboarding.provider_type or wizard_.connection.provider_type)
    summary = idp_summary(wizard_.connection)
    # Which way of giving the metadata is unfolded: the one that just failed; none once it is given;
    # else the one the admin chose before, or what this IdP offers (a URL, or only a file).
    if form.is_bound and form.errors:
        open_method = form.data.get("method")
    elif summary is not None:
        open_method = None
    else:
        open_method = form.initial.get("method") or ("url" if guide.metadata_url_example else "upload")
    return {"guide": guide, "summary": summary, "open_method": open_method}


def _attribute_mapping_context(wizard_: Wizard, form=None) -> dict:
    guide = guide_for(wizard_.onboarding.provider_type or wizard_.connection.provider_type)
    guide_attributes = [pair for instruction in guide.instructions for pair in instruction.attributes]
    return {"guide": guide, "guide_attributes": guide_attributes}


def _idp_settings_context(wizard_: Wizard, form) -> dict:
    """What the discovery check found (shown once the settings are saved), and where the IdP shows its issuer."""
    connection = wizard_.connection
    guide = guide_for(wizard_.onboarding.provider_type or connection.provider_type)
    found = None
    if connection.oidc_issuer and connection.oidc_authorization_endpoint:
        found = {
            "issuer": connection.oidc_issuer,
            "authorization_endpoint": connection.oidc_authorization_endpoint,
            "token_endpoint": connection.oidc_token_endpoint,
            "client_id": connection.oidc_client_id,
            "secret_set": bool(connection.oidc_client_secret_encrypted),
            "tenant_id": connection.oidc_tenant_id,
            "hosted_domains": connection.oidc_hosted_domains,
            "checked_at": connection.oidc_discovery_fetched_at,
        }
    return {"guide": guide, "found": found, "redirect_uri": redirect_uri_for(connection)}


# What to show next to a refused test login: which of our values the IdP must carry, and which wizard
# step changes our side.
FIXES = {
    "saml_wrong_audience": (("entity_id",), None),
    "saml_wrong_recipient": (("acs_url",), None),
    "saml_wrong_destination": (("acs_url",), None),
    "saml_encrypted_assertion": (("certificate",), None),
    "saml_signature_invalid": ((), "idp_metadata"),
    "saml_unknown_issuer": ((), "idp_metadata"),
    "saml_configuration": ((), "idp_metadata"),
    "missing_email": ((), "attribute_mapping"),
    # OpenID Connect
    "oidc_idp_error": (("redirect_uri",), None),
    "oidc_token_request_failed": (("redirect_uri",), "idp_settings"),
    "oidc_configuration": ((), "idp_settings"),
    "oidc_idp_unreachable": ((), "idp_settings"),
    "oidc_discovery_invalid": ((), "idp_settings"),
    "oidc_hosted_domain": ((), "idp_settings"),
}


def _last_result(onboarding: AdminOnboarding) -> AdminTestResult | None:
    data = (onboarding.data.get("test_login") or {}).get("last_result")
    return AdminTestResult(**data) if data else None


def _test_login_context(wizard_: Wizard, form=None) -> dict:
    return {"last_result": _last_result(wizard_.onboarding)}


def _activate_context(wizard_: Wizard, form=None) -> dict:
    connection = wizard_.connection
    return {
        "tested": connection.last_successful_test_at is not None,
        "bypass": connection.bypass_it_admin_test,
        "ready": connection.has_usable_idp_configuration
        and (connection.last_successful_test_at is not None or connection.bypass_it_admin_test),
    }


STEP_CONTEXT = {
    "choose_provider": lambda wizard_, form: {"providers": PROVIDERS},
    "create_app": _create_app_context,
    "idp_metadata": _idp_metadata_context,
    "attribute_mapping": _attribute_mapping_context,
    "test_login": _test_login_context,
    "activate": _activate_context,
}
OIDC_STEP_CONTEXT = {**STEP_CONTEXT, "idp_settings": _idp_settings_context}


# --- views --------------------------------------------------------------------------------------------


@require_GET
def start(request, token):
    """The link in the email: resume where the admin was (or the first step not done)."""
    wizard_, error = _open(request, token)
    if error:
        return error
    onboarding = wizard_.onboarding
    if wizard_.connection.active and onboarding.current_step in ("", "activate"):
        return HttpResponseRedirect(wizard_.done_url)
    steps = wizard_.steps
    step = next((step for step in steps if step.key == onboarding.current_step), None) or next(
        (step for step in steps if not step.is_done(onboarding)), steps[-1]
    )
    return HttpResponseRedirect(_with_locale(request, wizard_.step_url(step)))


def _with_locale(request, url: str) -> str:
    locale = request.GET.get("locale")
    return f"{url}?locale={locale}" if locale in {code for code, _name in settings.LANGUAGES} else url


@require_http_methods(["GET", "POST"])
def step_view(request, token, slug):
    wizard_, error = _open(request, token)
    if error:
        return error
    step = next((step for step in wizard_.steps if step.slug == slug), None)
    if step is None:
        if slug in ALL_SLUGS:  # a step of the other protocol's path (the provider changed): resume instead
            return HttpResponseRedirect(reverse("onboarding-start", args=[token]))
        raise Http404
    wizard_.step = step
    form_class = step.get_form_class()
    status = 200
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, context=wizard_)
        previous, _following = wizard_.neighbours()
        if request.POST.get("nav") == "back" and previous is not None:
            wizard.wizard_draft_saved(
                onboarding=wizard_.onboarding, step_key=step.key, draft=form.draft(), go_to=previous.key
            )
            return _see_other(wizard_.step_url(previous))
        if form.is_valid():
            target = form.save()
            if target != "":
                _previous, following = wizard_.neighbours()
                return _see_other(target or wizard_.step_url(following or step))
        status = 400
    else:
        wizard.wizard_visited(onboarding=wizard_.onboarding, step_key=step.key)
        form = form_class(context=wizard_)
    contexts = OIDC_STEP_CONTEXT if wizard_.is_oidc else STEP_CONTEXT
    context = wizard_.page(form=form, **contexts[step.key](wizard_, form))
    return render(request, step.template, context, status=status)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # after a POST: the browser GETs the next page
    return response


@require_GET
def test_result(request, token):
    """Where the test login comes back (connections.admin_test_login): record it, show it."""
    wizard_, error = _open(request, token)
    if error:
        return error
    wizard_.step = wizard_.step_by_key("test_login")
    result = pop_admin_test_result(request, wizard_.connection.id)
    if result is not None:
        wizard.wizard_test_recorded(onboarding=wizard_.onboarding, result=result, by=wizard_.actor)
    last = _last_result(wizard_.onboarding)
    if last is None:
        return HttpResponseRedirect(wizard_.step_url(wizard_.step))
    values = our_values(wizard_.connection, token)
    fix_values, fix_step = FIXES.get(last.error_code, ((), None))
    mapping = wizard_.connection.attribute_mapping or {}
    claims = [
        {"claim": claim, "label": label, "attribute": mapping.get(claim, ""), "value": last.claims.get(claim, "")}
        for claim, label in zip(MAPPED_CLAIMS, (_("Email address"), _("Given name"), _("Family name")), strict=True)
    ]
    return render(
        request,
        "onboarding/test_result.html",
        wizard_.page(
            result=last,
            claims=claims,
            fix_values=[
                {"key": key, "label": _value_label(key), "value": values[key], "multiline": key == "certificate"}
                for key in fix_values
            ],
            fix_step=wizard_.step_by_key(fix_step) if fix_step else None,
            fix_step_url=wizard_.step_url(wizard_.step_by_key(fix_step)) if fix_step else None,
            activate_url=wizard_.step_url(wizard_.step_by_key("activate")),
            mapping_url=wizard_.step_url(wizard_.step_by_key("attribute_mapping")),
            test_login_url=wizard_.step_url(wizard_.step_by_key("test_login")),
        ),
    )


@require_GET
def done(request, token):
    wizard_, error = _open(request, token)
    if error:
        return error
    if not wizard_.connection.active:
        return HttpResponseRedirect(wizard_.step_url(wizard_.step_by_key("activate")))
    return render(request, "onboarding/done.html", wizard_.page())


@require_GET
def sp_certificate(request, token):
    """Our signing certificate as a file (some IdP consoles want an upload)."""
    wizard_, error = _open(request, token)
    if error:
        return error
    response = HttpResponse(sp_certificate_pem(wizard_.connection), content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="sp-certificate-{wizard_.connection.id}.pem"'
    return response
