"""The IT admin's test login: a real SAML round trip through a connection that signs nobody in.

The onboarding wizard's test step proves a connection before it is switched on, so the SAML views must
accept an *inactive* connection for it, and must not turn the admin into an end user of the application.
The rule is narrow on purpose:

- the wizard puts a short-lived signed marker "testing <idp_id>, come back to <path>" in the browser's
  `saml_session` (the SameSite=None cookie that already carries the outstanding AuthnRequest ids: the
  IdP's cross-site POST to the ACS carries it, where the Lax session cookie would be missing);
- `/sso/start/<idp_id>` accepts an inactive connection only when its `next` is exactly that path;
- the ACS treats a response as a test only when the request it answers was sent with that path as its
  `came_from` (djangosaml2's outstanding-request cache, set by our own login view): then the checks of
  the SAML response all run, but `sso_sign_in` / `end_user_login` do not: no user is created or
  updated, no gateway session is opened. The verified result (or the refusal's code and hint) goes
  into the same `saml_session` for the wizard's result page, and the marker is spent.

A marker without a matching request (an old tab, another connection) changes nothing for end users.
"""

from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core import signing
from django.http import HttpResponseRedirect
from django.utils import timezone, translation

from cryptr_sso.audit import record_event, request_context

from .exceptions import SsoConnectionError
from .models import SSOConnection

MARKER_KEY = "sso_test_login"
RESULT_KEY = "sso_test_login_result"
MARKER_MAX_AGE = 15 * 60  # seconds: one trip to the IdP's login page and back, with some reading
_SALT = "connections.admin_test_login"


@dataclass
class AdminTestResult:
    """What the wizard shows: the verified attributes, or why the response was refused. No secrets
    (the assertion itself is never kept)."""

    idp_id: str
    ok: bool
    at: str
    name_id: str = ""
    name_id_format: str = ""
    issuer: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    error_code: str = ""
    error_hint: str = ""  # in English
    error_hints: dict[str, str] = field(default_factory=dict)  # the hint in each of settings.LANGUAGES

    @property
    def hint(self) -> str:
        """The refusal's hint in the page's language: the wizard's language may differ from the browser's
        that came back through the ACS, and the admin may switch it after the test."""
        return self.error_hints.get(translation.get_language() or "") or self.error_hint


def arm_admin_test(request, *, connection: SSOConnection, return_path: str) -> str:
    """Arm a test login for this browser; returns the URL that sends it to the IdP."""
    from urllib.parse import urlencode

    request.saml_session[MARKER_KEY] = signing.dumps({"idp_id": connection.id, "return_path": return_path}, salt=_SALT)
    request.saml_session.pop(RESULT_KEY, None)
    return f"/sso/start/{connection.id}?{urlencode({'next': return_path})}"


def armed_return_path(request, idp_id: str) -> str | None:
    """The wizard path of an armed, unexpired test login of this connection in this browser, or None."""
    marker = request.saml_session.get(MARKER_KEY)
    if not marker:
        return None
    try:
        data = signing.loads(marker, salt=_SALT, max_age=MARKER_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return data["return_path"] if data.get("idp_id") == idp_id else None


def is_admin_test(request, idp_id: str, came_from: str | None) -> bool:
    path = armed_return_path(request, idp_id)
    return bool(path and came_from and came_from == path)


def _dry_run_claims(connection: SSOConnection, login) -> dict[str, str]:
    """The claims a real sign-in would read, and the refusals it would make before writing anything."""
    from .sign_in import AssertedIdentity, EmailDomainNotAllowed, MissingEmail, mapped_claims

    claims = mapped_claims(
        connection,
        AssertedIdentity(
            subject=login.name_id,
            attributes=login.attributes,
            name_id_format=login.name_id_format,
            authenticated_at=login.authn_instant or timezone.now(),
        ),
    )
    email = claims.get("email")
    if not email:
        raise MissingEmail()
    allowed = [domain.lower() for domain in connection.organization.allowed_email_domains or []]
    if allowed and email.rsplit("@", 1)[-1].lower() not in allowed:
        raise EmailDomainNotAllowed()
    return claims


def finish_admin_test(
    request, *, connection: SSOConnection, login=None, error: SsoConnectionError | None = None
) -> HttpResponseRedirect:
    """Record the outcome of the test for the wizard and send the browser back to it."""
    return_path = armed_return_path(request, connection.id) or "/"
    now = timezone.now().isoformat()
    if error is None:
        try:
            claims = _dry_run_claims(connection, login)
        except SsoConnectionError as exc:
            error = exc
    if error is None:
        result = AdminTestResult(
            idp_id=connection.id,
            ok=True,
            at=now,
            name_id=login.name_id,
            name_id_format=login.name_id_format,
            issuer=login.issuer,
            claims=claims,
            attributes={name: [str(v) for v in values] for name, values in login.attributes.items()},
        )
    else:
        hints = {}
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                hints[language] = str(error.hint)
        result = AdminTestResult(
            idp_id=connection.id,
            ok=False,
            at=now,
            error_code=error.code,
            error_hint=error.english_hint,
            error_hints=hints,
        )
        if login is not None:
            # Verified, but refused by the organization's rules (no email, another domain): what arrived
            # is what the admin needs to see to fix it.
            result.name_id, result.name_id_format, result.issuer = login.name_id, login.name_id_format, login.issuer
            result.attributes = {name: [str(v) for v in values] for name, values in login.attributes.items()}
    if error is not None:  # a success is recorded when the wizard takes it (connection_record_successful_test)
        record_event(
            type="connection.tested",
            organization=connection.organization,
            connection_id=connection.id,
            actor=f"it_admin:{connection.sso_admin_email}",
            **request_context(request),
            data={"succeeded": False, "error": error.code, "reason": error.english_hint},
        )
    request.saml_session[RESULT_KEY] = asdict(result)
    request.saml_session.pop(MARKER_KEY, None)
    return HttpResponseRedirect(return_path)


def pop_admin_test_result(request, idp_id: str) -> AdminTestResult | None:
    """The outcome the ACS left for this connection (read once), or None."""
    data = request.saml_session.get(RESULT_KEY)
    if not data or data.get("idp_id") != idp_id:
        return None
    request.saml_session.pop(RESULT_KEY, None)
    return AdminTestResult(**data)
