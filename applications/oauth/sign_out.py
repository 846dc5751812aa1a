"""Ending an end user's sign-in at the gateway: one service for every way a logout arrives.

RP-initiated logout (`/t/{domain}/oauth2/logout`) and SAML single logout (`/sso/sp/logout/{idp_id}`,
a LogoutRequest from the IdP) both clear the end user's sign-in from the Django session and revoke
the tokens the gateway issued to that user in that organization, so no application keeps acting for
a person who signed out at their company's IdP.
"""

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from connections.login_session import SESSION_KEY, end_user_logout
from cryptr_sso import audit
from cryptr_sso.audit import Actor


def revoke_end_user_tokens(
    *, user, organization, by: Actor | None = None, reason: str = "sign_out", connection_id: str = ""
) -> int:
    """Revoke every access, refresh and ID token of `user` issued by the organization's applications, and
    delete the authorization codes not exchanged yet (a code issued a moment before would otherwise still
    buy fresh tokens); returns how many access and refresh tokens were revoked (one audit event says so,
    with the codes, when there were any).
    `reason` says what asked for it: "sign_out" (the application's RP-initiated logout), "saml_slo" (the
    IdP's SAML LogoutRequest, on `connection_id`), "operator" (revoke all sessions)."""
    # Both lists are read before anything is deleted: revoking one kind deletes rows of the other.
    access_tokens = list(
        get_access_token_model()
        .objects.filter(user=user, application__organization=organization)
        .select_related("id_token")
    )
    refresh_tokens = list(
        get_refresh_token_model().objects.filter(
            user=user, application__organization=organization, revoked__isnull=True
        )
    )
    for access_token in access_tokens:
        if access_token.id_token is not None:
            access_token.id_token.revoke()
        access_token.revoke()
    for refresh_token in refresh_tokens:
        refresh_token.revoke()
    # Keyed "grants" in the trail: keys that say "code" are masked as secrets.
    codes, _ = get_grant_model().objects.filter(user=user, application__organization=organization).delete()
    revoked = len(access_tokens) + len(refresh_tokens)
    if revoked or codes:
        audit.record(
            "token.revoked",
            by=by,
            organization=organization,
            user=user,
            connection_id=connection_id,
            data={"reason": reason, "access": len(access_tokens), "refresh": len(refresh_tokens), "grants": codes},
        )
    return revoked


def sign_out_end_user(request, *, organization, user=None) -> None:
    """Clear the end user's sign-in in this browser session (with a new session id) and, when `user` is
    given and DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS is on, revoke their tokens in `organization`."""
    if user is not None and oauth2_settings.OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS:
        revoke_end_user_tokens(
            user=user, organization=organization, by=Actor.of_request(request, f"end_user:{user.pk}")
        )
    end_user_logout(request)
    request.session.cycle_key()


def end_user_revoke_all_sessions(*, user, by: Actor | None = None) -> dict[str, int]:
    """Every way `user` is signed in, ended (the operator's "revoke all sessions"): their tokens in the
    organization, and every gateway sign-in whatever the protocol, so no application can get a new code
    without a fresh login at the IdP. The user's `sessions_revoked_at` is stamped: a sign-in made before it
    (SAML or OIDC connection, in any browser) counts as signed out when the authorize endpoint reads it
    (connections.login_session). The sign-ins the SAML logout index knows are deleted at once as well, and
    the index entries dropped. Returns the tokens revoked and the sign-ins deleted from the index."""
    from connections.saml.logout import forget_sso_sessions, indexed_session_keys, session_store
    from organizations.models import User

    now = timezone.now()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(sessions_revoked_at=now, updated_at=now)
        user.sessions_revoked_at = now
        tokens = revoke_end_user_tokens(user=user, organization=user.organization, by=by, reason="operator")
        ended = 0
        for identity in user.identities.all():
            keys = indexed_session_keys(idp_id=identity.idp_id, name_id=identity.subject)
            for key in keys:
                store = session_store(key)
                data = store.get(SESSION_KEY)
                if data and data.get("user_id") == str(user.pk):
                    store.delete()
                    ended += 1
            forget_sso_sessions(idp_id=identity.idp_id, name_id=identity.subject, session_keys=keys)
        audit.record(
            "user.sessions_revoked",
            by=by,
            organization=user.organization,
            user=user,
            data={"sign_ins_ended": ended, "revoked": tokens, "sessions_revoked_at": now.isoformat()},
        )
    return {"tokens": tokens, "sign_ins": ended}
