"""Ending an end user's sign-in at the gateway: one service for every way a logout arrives.

RP-initiated logout (`/t/{domain}/oauth2/logout`) and SAML single logout (`/sso/sp/logout/{idp_id}`,
a LogoutRequest from the IdP) both clear the end user's sign-in from the Django session and revoke
the tokens the gateway issued to that user in that organization, so no application keeps acting for
a person who signed out at their company's IdP.
"""

from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from connections.login_session import end_user_logout


def revoke_end_user_tokens(*, user, organization) -> None:
    """Revoke every access, refresh and ID token of `user` issued by the organization's applications."""
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


def sign_out_end_user(request, *, organization, user=None) -> None:
    """Clear the end user's sign-in in this browser session (with a new session id) and, when `user` is
    given and DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS is on, revoke their tokens in `organization`."""
    if user is not None and oauth2_settings.OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS:
        revoke_end_user_tokens(user=user, organization=organization)
    end_user_logout(request)
    request.session.cycle_key()
