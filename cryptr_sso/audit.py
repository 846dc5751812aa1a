"""The audit trail: `record_event` writes one AuditEvent in the caller's transaction.

Services call it once per action (HackSoft style, never from signals). Nothing secret is ever stored: any key
of `data` that looks secret is masked at every depth, and values that look like a token, a private key or a
SAML message are masked whatever their key. After the commit, each function of EVENT_LISTENERS is called with
the event (the webhooks register their dispatcher there); a failing listener is logged and never breaks the
action that was recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from cryptr_sso.models import AuditEvent

logger = logging.getLogger(__name__)

MASK = "[masked]"
USER_AGENT_MAX = 512
SECRET_KEY_PARTS = ("secret", "password", "passwd", "token", "key", "assertion", "code", "credential", "otp")
# Values that are secret whatever key holds them: a JWT, a PEM private key, a SAML message.
_JWT = re.compile(r"^eyJ[\w-]*\.[\w-]+\.[\w-]*$")
_SECRET_VALUE_MARKERS = ("PRIVATE KEY", "<saml", ":Assertion", "<Assertion", "SAMLResponse")

EVENT_LISTENERS: list[Callable[[AuditEvent], Any]] = []


def is_secret_key(key: str) -> bool:
    lowered = str(key).lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


def _looks_secret(value: str) -> bool:
    return bool(_JWT.match(value)) or any(marker in value for marker in _SECRET_VALUE_MARKERS)


def mask_secrets(value: Any) -> Any:
    """A copy of `value` fit for the trail: secret-looking keys and values replaced by "[masked]"."""
    if isinstance(value, dict):
        return {
            str(k): (MASK if is_secret_key(k) and v not in (None, "", [], {}) else mask_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set)):
        return [mask_secrets(v) for v in value]
    if isinstance(value, str):
        return MASK if _looks_secret(value) else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)  # UUIDs, datetimes, lazy strings: JSON-safe


def request_context(request) -> dict[str, str]:
    """The `ip` and `user_agent` of a request, ready to pass to record_event(**...)."""
    if request is None:
        return {"ip": "", "user_agent": ""}
    meta = getattr(request, "META", {})
    return {"ip": meta.get("REMOTE_ADDR") or "", "user_agent": meta.get("HTTP_USER_AGENT") or ""}


def record_event(
    *,
    type: str,
    organization=None,
    actor: str = "",
    connection_id: str = "",
    user=None,
    ip: str = "",
    user_agent: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Write one audit event (in the caller's transaction) and notify EVENT_LISTENERS after the commit."""
    event = AuditEvent.objects.create(
        type=type,
        organization=organization,
        organization_domain=getattr(organization, "domain", "") or "",
        actor=(actor or "")[:200],
        connection_id=str(connection_id or "")[:100],
        user_id=str(getattr(user, "pk", user) or "")[:64],
        ip=(ip or "")[:45],
        user_agent=(user_agent or "")[:USER_AGENT_MAX],
        data=mask_secrets(data or {}),
    )
    transaction.on_commit(lambda: _notify(event))
    return event


def _notify(event: AuditEvent) -> None:
    for listener in list(EVENT_LISTENERS):
        try:
            listener(event)
        except Exception:
            logger.exception("Audit event listener %r failed for %s %s", listener, event.type, event.pk)


# --- who did it, and what changed (helpers of the services that record) ------------------------------


@dataclass(frozen=True)
class Actor:
    """Who acts and from where (the IP and user agent of their request, when there is one). The names:

    - "operator:<username>": a person of the SaaS operator, in the admin;
    - "api_key:<client_id>": the SaaS backend, through the v2 API;
    - "it_admin:<email>": the customer's IT admin, through the onboarding link sent to that email (every
      write of the wizard: provider, IdP settings, mapping, test login, activation);
    - "end_user:<id>": the end user (organizations.User id) at sign-in, sign-out and token requests, and when
      their IdP ends their session by SAML single logout (the event's `data.reason` is then "saml_slo" and
      its `connection_id` the connection); "end_user:anonymous" for a sign-in refused before anyone is known;
    - "application:<client_id>": an application, at the token revocation endpoint;
    - "system": the gateway on its own, with no request: scheduled tasks (metadata refresh, certificate
      expiry warnings), email sending.
    """

    name: str = "system"
    ip: str = ""
    user_agent: str = ""

    @classmethod
    def of_request(cls, request, name: str) -> Actor:
        return cls(name=name, **request_context(request))

    @classmethod
    def operator(cls, request) -> Actor:
        return cls.of_request(request, f"operator:{request.user.get_username()}")

    @classmethod
    def it_admin(cls, email: str, request=None) -> Actor:
        """The IT admin who follows the onboarding link of `email`; "system" when no email is set."""
        return cls.of_request(request, f"it_admin:{email}" if email else "system")

    @classmethod
    def end_user(cls, user, request=None) -> Actor:
        return cls.of_request(request, f"end_user:{getattr(user, 'pk', user)}")


SYSTEM = Actor()


def record(type: str, *, by: Actor | None = None, **fields) -> AuditEvent:
    """record_event with the actor, IP and user agent of `by` (the system when None)."""
    by = by or SYSTEM
    return record_event(type=type, actor=by.name, ip=by.ip, user_agent=by.user_agent, **fields)


# Long values (metadata XML, certificates) are summarized: the trail says that they changed, not what.
LONG_VALUE = 300
NOT_AUDITED = {"inserted_at", "updated_at", "created", "updated"}  # the stamps of our and DOT models


def _plain(value: Any) -> Any:
    value = mask_secrets(value)
    if isinstance(value, str) and len(value) > LONG_VALUE:
        return f"[{len(value)} characters]"
    if isinstance(value, list) and len(str(value)) > LONG_VALUE:
        return f"[{len(value)} items]"
    return value


def snapshot(instance, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited values of a model instance (concrete fields, foreign keys as ids)."""
    names = fields or [f.attname for f in instance._meta.concrete_fields if f.attname not in NOT_AUDITED]
    return {name: getattr(instance, name) for name in names}


def changes(before: dict[str, Any], instance) -> dict[str, dict[str, Any]]:
    """{field: {"old", "new"}} for each field of `before` whose value differs on `instance`; secret fields
    say only that they changed. `before={}` describes a creation (every field, old None)."""
    after = snapshot(instance, before or None)
    diff = {}
    for name, new in after.items():
        old = before.get(name)
        if before and old == new:
            continue
        if is_secret_key(name):
            diff[name] = {"old": MASK if old else None, "new": MASK if new else None}
        else:
            diff[name] = {"old": _plain(old), "new": _plain(new)}
    return diff
