"""Pages an end user meets in the browser when a sign-in cannot go on: what happened, and who can fix it."""

from django.shortcuts import render
from django.utils.translation import gettext as _

from .admin_test_login import is_admin_test
from .exceptions import SsoConnectionError
from .models import SSOConnection
from .selectors import connection_get_for_login
from .sign_in import record_sign_in


def sso_error_page(request, error: SsoConnectionError, *, connection: SSOConnection | None = None, status: int = 403):
    return render(
        request,
        "connections/sso_error.html",
        {
            "title": _("Your sign-in could not be completed"),
            "message": _(
                "Your company's identity provider answered, but the answer could not be accepted. "
                "Nothing was signed in. Give the details below to your IT administrator."
            ),
            "hint": error.hint,
            "code": error.code,
            "idp_id": connection.id if connection else None,
            "organization": connection.organization if connection else None,
            "who_can_fix": _(
                "Your IT administrator can fix this in your identity provider or in the SSO connection's settings."
            ),
        },
        status=status,
    )


def inactive_connection_page(request, connection: SSOConnection):
    return render(
        request,
        "connections/sso_error.html",
        {
            "title": _("This SSO connection is not active"),
            "message": _(
                "Your company's single sign-on to this application is not switched on yet, or has been switched off."
            ),
            "idp_id": connection.id,
            "organization": connection.organization,
            "who_can_fix": _(
                "Your IT administrator can finish the setup and activate the connection, or ask "
                "the application's support."
            ),
        },
        status=403,
    )


def connection_for_sign_in(request, idp_id: str, *, require_active: bool = True, test_return_path: str | None = None):
    """(connection, None) or (None, an error page) for an unknown or inactive connection. An inactive
    connection passes for the IT admin's test login only: `test_return_path` is where this sign-in
    returns, and it must be the one the onboarding wizard armed in this browser (admin_test_login)."""
    connection = connection_get_for_login(idp_id=idp_id, request=request)
    if connection is None:
        return None, render(
            request,
            "connections/sso_error.html",
            {
                "title": _("Unknown SSO connection"),
                "message": _("The sign-in link names an SSO connection that does not exist (or no longer exists)."),
                "who_can_fix": _("Ask the application's support for a current sign-in link."),
            },
            status=404,
        )
    if require_active and not connection.active and not is_admin_test(request, connection.id, test_return_path):
        record_sign_in(request, connection=connection, error="connection_inactive")
        return None, inactive_connection_page(request, connection)
    return connection, None
