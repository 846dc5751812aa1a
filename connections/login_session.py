"""The end user's sign-in at the gateway, kept in the Django session.

An SSO login (SAML ACS or OIDC callback) ends with `end_user_login`; the OAuth authorize view of
the gateway's own provider reads `end_user_from_session` to know who is signed in, for which
organization and through which connection. End users are organizations.User rows, never Django
auth users: the operator's admin session and an end user's session cannot be confused.

A sign-in keeps the moment the gateway made it (`signed_in_at`). "Revoke all sessions" (and a
deactivation) stamps the user's `sessions_revoked_at`: every sign-in made before it, in any browser and
through any protocol, is then treated as signed out and cleared when it is next read. The check costs no
query: the user row is read anyway.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone

from cryptr_sso.queries import one_by_key
from organizations.models import User

SESSION_KEY = "cryptr_end_user"


@dataclass(frozen=True)
class EndUserSession:
    user: User
    idp_id: str
    provider_type: str
    authenticated_at: datetime
    # What the IdP said about its own session, for single logout: for SAML
    # {"protocol": "saml", "name_id", "name_id_format", "session_index"}; empty when unknown.
    sso_session: dict = field(default_factory=dict)


def end_user_login(
    request,
    *,
    user: User,
    idp_id: str,
    provider_type: str,
    authenticated_at: datetime | None = None,
    sso_session: dict | None = None,
) -> None:
    """Sign the end user in at the gateway. `sso_session` (optional, JSON-serializable) is kept with
    the sign-in: the SAML ACS stores the NameID, its format and the SessionIndex there, which single
    logout needs to tell the IdP (and to recognize the IdP's LogoutRequest)."""
    # A new session id at every sign-in: a session fixed before login is worth nothing after it.
    request.session.cycle_key()
    now = timezone.now()
    request.session[SESSION_KEY] = {
        "user_id": str(user.pk),
        "organization_id": str(user.organization_id),
        "idp_id": idp_id,
        "provider_type": provider_type,
        # When the person authenticated at the IdP (auth_time): may be long before this sign-in.
        "authenticated_at": (authenticated_at or now).timestamp(),
        # When the gateway signed them in: what a revocation of all sessions is compared with.
        "signed_in_at": now.timestamp(),
        "sso_session": dict(sso_session or {}),
    }


def sign_in_revoked(data: dict, user: User) -> bool:
    """Whether the sign-in `data` (the session's) was made before the user's sessions were revoked.
    A sign-in stored before `signed_in_at` existed falls back to `authenticated_at`, which is earlier."""
    if user.sessions_revoked_at is None:
        return False
    signed_in_at = data.get("signed_in_at", data.get("authenticated_at"))
    return signed_in_at is None or signed_in_at <= user.sessions_revoked_at.timestamp()


def end_user_from_session(request, *, organization_id=None) -> EndUserSession | None:
    """The signed-in end user, or None. With `organization_id`, only a user of that organization
    counts: a session opened in one tenant never signs anybody into another. A sign-in ended by a
    revocation of the user's sessions is cleared from the session (signed out) and None is returned."""
    data = request.session.get(SESSION_KEY)
    if not data:
        return None
    if organization_id is not None and str(organization_id) != data["organization_id"]:
        return None
    user = one_by_key(User.objects.filter(pk=data["user_id"], active=True).select_related("organization"))
    if user is None or str(user.organization_id) != data["organization_id"]:
        return None
    if sign_in_revoked(data, user):
        end_user_logout(request)
        return None
    return EndUserSession(
        user=user,
        idp_id=data["idp_id"],
        provider_type=data["provider_type"],
        authenticated_at=datetime.fromtimestamp(data["authenticated_at"], tz=UTC),
        sso_session=dict(data.get("sso_session") or {}),
    )


def end_user_logout(request) -> None:
    request.session.pop(SESSION_KEY, None)
