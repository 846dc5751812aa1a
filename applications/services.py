"""Writes of applications. The API's lists map onto django-oauth-toolkit's space-separated fields."""

from typing import Any

from django.db import transaction
from oauth2_provider.generators import generate_client_secret

from cryptr_sso import audit
from cryptr_sso.api.errors import ApiError, Conflict, StateError
from cryptr_sso.audit import Actor
from organizations.models import Organization

from .kinds import APPLICATION_TYPES, CONFIDENTIAL, client_type_of
from .models import Application

LIST_FIELDS = {
    # API field -> DOT field
    "allowed_origins_cors": "allowed_origins",
    "allowed_redirect_uris_after_login": "redirect_uris",
    "allowed_redirect_uris_after_logout": "post_logout_redirect_uris",
}


def _join(values: list[str]) -> str:
    return " ".join(values)


def _check_defaults(application: Application) -> None:
    """The default redirects must be among the allowed ones: sign-ins without a redirect_uri
    (IdP-initiated, or started at the gateway) land there."""
    allowed_login = application.redirect_uris.split()
    if application.default_redirect_uri_after_login not in allowed_login:
        raise ApiError(
            f"The default redirect after login '{application.default_redirect_uri_after_login}' is not one of "
            "allowed_redirect_uris_after_login. Add it to the list or choose one from it.",
            fields={"default_redirect_uri_after_login": ["Must be one of allowed_redirect_uris_after_login."]},
        )
    allowed_logout = application.post_logout_redirect_uris.split()
    default_logout = application.default_redirect_uri_after_logout
    if default_logout and default_logout not in allowed_logout:
        raise ApiError(
            f"The default redirect after logout '{default_logout}' is not one of allowed_redirect_uris_after_logout. "
            "Add it to the list or choose one from it.",
            fields={"default_redirect_uri_after_logout": ["Must be one of allowed_redirect_uris_after_logout."]},
        )


def application_create(
    *,
    organization: Organization,
    name: str,
    application_type: str,
    allowed_redirect_uris_after_login: list[str],
    description: str = "",
    allowed_origins_cors: list[str] | None = None,
    allowed_redirect_uris_after_logout: list[str] | None = None,
    default_redirect_uri_after_login: str | None = None,
    default_redirect_uri_after_logout: str | None = None,
    by: Actor | None = None,
) -> tuple[Application, str | None]:
    """Returns the application and, for a confidential client, its secret: stored hashed, never shown again."""
    if application_type not in APPLICATION_TYPES:
        raise ApiError(
            f"Unknown application_type '{application_type}'.",
            fields={"application_type": ["Unknown application type."]},
        )
    logout_uris = allowed_redirect_uris_after_logout or []
    client_type = client_type_of(application_type)
    # Public clients never authenticate with a secret; they still get an unusable random one rather
    # than an empty string, so no code path can ever match a blank secret.
    secret = generate_client_secret()
    application = Application(
        organization=organization,
        name=name,
        description=description,
        application_type=application_type,
        client_type=client_type,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM,
        hash_client_secret=True,
        client_secret=secret,
        # The organization's IT chose this application when it connected its IdP: no consent screen.
        skip_authorization=True,
        allowed_origins=_join(allowed_origins_cors or []),
        redirect_uris=_join(allowed_redirect_uris_after_login),
        post_logout_redirect_uris=_join(logout_uris),
        default_redirect_uri_after_login=default_redirect_uri_after_login or allowed_redirect_uris_after_login[0],
        default_redirect_uri_after_logout=(
            default_redirect_uri_after_logout
            if default_redirect_uri_after_logout is not None
            else (logout_uris[0] if logout_uris else "")
        ),
    )
    _check_defaults(application)
    with transaction.atomic():
        application.save()  # DOT's ClientSecretField hashes the secret on save
        audit.record(
            "application.created",
            by=by,
            organization=organization,
            data={"client_id": application.client_id, "changes": audit.changes({}, application)},
        )
    return application, (secret if client_type == CONFIDENTIAL else None)


def application_update(*, application: Application, data: dict[str, Any], by: Actor | None = None) -> Application:
    before = audit.snapshot(application)
    if "application_type" in data:
        new_client_type = client_type_of(data["application_type"])
        if new_client_type != application.client_type:
            raise StateError(
                f"An application of type '{application.application_type}' is a {application.client_type} client and "
                f"'{data['application_type']}' would make it {new_client_type}. Create a new application instead "
                "(a client's secret is only issued at creation).",
                fields={"application_type": [f"Choose another {application.client_type} application type."]},
            )
        application.application_type = data["application_type"]
    for field in ("name", "description", "default_redirect_uri_after_login", "default_redirect_uri_after_logout"):
        if field in data:
            setattr(application, field, data[field])
    for api_field, dot_field in LIST_FIELDS.items():
        if api_field in data:
            setattr(application, dot_field, _join(data[api_field]))
    _check_defaults(application)
    with transaction.atomic():
        application.save()
        audit.record(
            "application.updated",
            by=by,
            organization=application.organization,
            data={"client_id": application.client_id, "changes": audit.changes(before, application)},
        )
    return application


def application_delete(*, application: Application, by: Actor | None = None) -> None:
    with transaction.atomic():
        idp_ids = list(application.sso_connections.values_list("id", flat=True)[:5])
        if idp_ids:
            raise Conflict(
                f"The application is used by the SSO connection(s) {', '.join(idp_ids)}. Delete them or move them "
                "to another application first.",
                code="application_in_use",
            )
        audit.record(
            "application.deleted",
            by=by,
            organization=application.organization,
            data={"client_id": application.client_id, "name": application.name},
        )
        application.delete()
