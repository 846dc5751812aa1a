"""Writes of SSO connections. Each service owns its transaction; network reads (IdP metadata URLs)
happen before it, so no database transaction waits on a remote server."""

import copy
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.models import Application
from cryptr_sso import audit
from cryptr_sso.api.errors import ApiError, StateError
from cryptr_sso.audit import Actor
from organizations.models import Identity, Organization

from .crypto import encrypt_text
from .exceptions import OidcError
from .models import BINDING_HTTP_REDIRECT, SSOConnection, new_idp_id
from .providers import (
    GENERIC_FOR_PROTOCOL,
    OIDC,
    OIDC_PROFILE_ENTRA,
    UNSET,
    default_attribute_mapping,
    provider_get,
)
from .saml.metadata import IdpMetadata, MetadataError, certificate_from_text, fetch_idp_metadata, parse_idp_metadata

TOP_LEVEL_FIELDS = ("provider_type", "users_provisioning", "sso_admin_email", "bypass_it_admin_test")
SAML_FLAGS = ("allow_idp_initiated", "want_response_signed")


def _provider_for(provider_type: str | None, protocol: str | None) -> str:
    """The provider type from what the client chose: a provider, a protocol (its generic provider), or both."""
    if protocol and not provider_type:
        return GENERIC_FOR_PROTOCOL[protocol]
    provider_type = provider_type or UNSET
    if protocol and provider_get(provider_type).protocol != protocol:
        kind = provider_get(provider_type).protocol.upper()
        message = (
            f"The provider type '{provider_type}' is a {kind} provider, not {protocol.upper()}: choose one "
            f"of the {protocol.upper()} provider types, or leave it out."
        )
        raise ApiError(message, fields={"provider_type": [message]})
    return provider_type


def connection_create(
    *,
    organization: Organization,
    application: Application,
    sso_admin_email: str = "",
    provider_type: str | None = None,
    protocol: str | None = None,
    by: Actor | None = None,
) -> SSOConnection:
    if application.organization_id != organization.id:
        raise ApiError(
            "The application belongs to another organization.",
            fields={"application_id": ["Not an application of this organization."]},
        )
    provider = provider_get(_provider_for(provider_type, protocol))
    for _attempt in range(3):
        try:
            with transaction.atomic():
                connection = SSOConnection.objects.create(
                    id=new_idp_id(organization.domain),
                    organization=organization,
                    application=application,
                    sso_admin_email=sso_admin_email,
                    provider_type=provider.key,
                    protocol=provider.protocol,
                    attribute_mapping=default_attribute_mapping(provider.key),
                )
                audit.record(
                    "connection.created",
                    by=by,
                    organization=organization,
                    connection_id=connection.id,
                    data={"lifecycle": connection.lifecycle, "changes": audit.changes({}, connection)},
                )
                return connection
        except IntegrityError:
            continue  # 131 random bits collided: draw again
    raise ApiError("Could not give the connection a unique id; try again.", code="conflict", status_code=409)


def _metadata_error(error: MetadataError, field: str) -> ApiError:
    # The hint in the request's language: the wizard's page shows it; the API answers in English.
    return ApiError(error.hint, code=error.code, fields={"saml_config": {field: [error.hint]}})


def _from_metadata(metadata: IdpMetadata) -> dict[str, Any]:
    return {
        "idp_entity_id": metadata.entity_id,
        "idp_sso_url": metadata.sso_url,
        "idp_sso_binding": metadata.sso_binding,
        "idp_slo_url": metadata.slo_url,
        "idp_slo_binding": metadata.slo_binding,
        "idp_certificates": metadata.certificate_pems,
        "idp_metadata_valid_until": metadata.valid_until,
    }


def _read_idp_source(saml_config: dict[str, Any]) -> dict[str, Any] | None:
    """The connection fields the request sets about the IdP: from pasted metadata, a fetched metadata
    URL, or hand-typed values. Read before the transaction; nothing is saved when this fails (a 400
    with the sentence of the MetadataError)."""
    if "idp_metadata_xml" in saml_config:
        document = saml_config["idp_metadata_xml"]
        try:
            metadata = parse_idp_metadata(document)
        except MetadataError as error:
            raise _metadata_error(error, "idp_metadata_xml") from None
        return {
            **_from_metadata(metadata),
            "idp_metadata_xml": document,
            "idp_metadata_url": "",
            "idp_metadata_fetched_at": None,
        }
    if "idp_metadata_url" in saml_config:
        url = saml_config["idp_metadata_url"]
        try:
            document, metadata = fetch_idp_metadata(url)
        except MetadataError as error:
            raise _metadata_error(error, "idp_metadata_url") from None
        return {
            **_from_metadata(metadata),
            "idp_metadata_xml": document.decode("utf-8", "replace"),
            "idp_metadata_url": url,
            "idp_metadata_fetched_at": timezone.now(),
        }
    manual = {
        name: saml_config[name]
        for name in ("idp_entity_id", "idp_sso_url", "idp_sso_binding", "idp_slo_url", "idp_certificates")
        if name in saml_config
    }
    if not manual:
        return None
    if "idp_certificates" in manual:
        pems = []
        for index, text in enumerate(manual["idp_certificates"]):
            try:
                pems.append(certificate_from_text(text).pem)
            except MetadataError as error:
                message = f"Certificate {index + 1}: {error.message}"
                raise ApiError(
                    message, code=error.code, fields={"saml_config": {"idp_certificates": [message]}}
                ) from None
        manual["idp_certificates"] = list(dict.fromkeys(pems))
    if "idp_slo_url" in manual:
        binding = manual.get("idp_sso_binding") or BINDING_HTTP_REDIRECT
        manual["idp_slo_binding"] = binding if manual["idp_slo_url"] else ""
    # Typed values replace what metadata said: the stored metadata no longer describes the connection.
    return {
        **manual,
        "idp_metadata_xml": "",
        "idp_metadata_url": "",
        "idp_metadata_fetched_at": None,
        "idp_metadata_valid_until": None,
    }


OIDC_DISCOVERY_FIELDS = (
    "oidc_issuer",
    "oidc_discovered_issuer",
    "oidc_authorization_endpoint",
    "oidc_token_endpoint",
    "oidc_userinfo_endpoint",
    "oidc_jwks_uri",
    "oidc_token_endpoint_auth_method",
    "oidc_end_session_endpoint",
)


def _target_provider(connection: SSOConnection, data: dict[str, Any]) -> str:
    """The provider type the connection has after this update (a protocol alone means its generic provider)."""
    if "provider_type" in data:
        return _provider_for(data["provider_type"], data.get("protocol"))
    if "protocol" in data and data["protocol"] != connection.protocol:
        return GENERIC_FOR_PROTOCOL[data["protocol"]]
    return connection.provider_type


def _read_oidc_source(connection: SSOConnection, data: dict[str, Any]) -> dict[str, Any]:
    """The OIDC fields the request sets. A new issuer (or Entra ID tenant) is discovered here, before the
    transaction: its document must be readable and name exactly that issuer, or nothing is saved (400)."""
    from .oidc.discovery import discover, is_entra_multi_tenant, issuer_for

    oidc_config = data.get("oidc_config") or {}
    if not oidc_config:
        return {}
    provider_type = _target_provider(connection, data)
    if provider_get(provider_type).protocol != OIDC:
        message = (
            "oidc_config is for OpenID Connect connections: set protocol to oidc (or an OIDC provider_type) "
            "in the same request, or send saml_config."
        )
        raise ApiError(message, fields={"oidc_config": [message]})
    fields: dict[str, Any] = {}
    for name in ("client_id", "scopes", "tenant_id"):
        if name in oidc_config:
            fields[f"oidc_{name}"] = oidc_config[name].strip()
    if "hosted_domains" in oidc_config:
        fields["oidc_hosted_domains"] = list(dict.fromkeys(d.strip().lower() for d in oidc_config["hosted_domains"]))
    if "logout_at_idp" in oidc_config:
        fields["oidc_logout_at_idp"] = bool(oidc_config["logout_at_idp"])
    if "client_secret" in oidc_config:
        fields["oidc_client_secret_encrypted"] = encrypt_text(oidc_config["client_secret"])
    entra = provider_get(provider_type).oidc_profile == OIDC_PROFILE_ENTRA
    # Entra ID's tenant-specific issuer follows its tenant id; its multi-tenant issuer stays as typed.
    follows_tenant = (
        entra
        and "tenant_id" in oidc_config
        and "issuer" not in oidc_config
        and (not connection.oidc_issuer or not is_entra_multi_tenant(connection.oidc_discovered_issuer))
    )
    template = provider_get(provider_type).oidc_issuer_template
    fixed_issuer = bool(template) and "{" not in template and not connection.oidc_issuer  # Google's
    if "issuer" in oidc_config or follows_tenant or fixed_issuer:
        tenant_id = fields.get("oidc_tenant_id", connection.oidc_tenant_id)
        issuer = issuer_for(provider_type, issuer=oidc_config.get("issuer", "").strip(), tenant_id=tenant_id)
        if not issuer:
            fields.update({name: "" for name in OIDC_DISCOVERY_FIELDS})
            fields["oidc_token_endpoint_auth_method"] = "client_secret_basic"
            fields["oidc_discovery_fetched_at"] = None
        else:
            try:
                found = discover(issuer, provider_type=provider_type)
            except OidcError as error:
                raise ApiError(
                    error.hint, code="oidc_discovery_failed", fields={"oidc_config": {"issuer": [error.hint]}}
                ) from None
            fields.update(
                {
                    "oidc_issuer": issuer,
                    "oidc_discovered_issuer": found.issuer,
                    "oidc_authorization_endpoint": found.authorization_endpoint,
                    "oidc_token_endpoint": found.token_endpoint,
                    "oidc_userinfo_endpoint": found.userinfo_endpoint,
                    "oidc_jwks_uri": found.jwks_uri,
                    "oidc_token_endpoint_auth_method": found.token_endpoint_auth_method,
                    "oidc_end_session_endpoint": found.end_session_endpoint,
                    "oidc_discovery_fetched_at": timezone.now(),
                }
            )
    return fields


def _merge_mapping(connection: SSOConnection, changes: dict[str, str | None]) -> dict[str, str]:
    defaults = default_attribute_mapping(connection.provider_type)
    mapping = dict(connection.attribute_mapping)
    for claim, attribute in changes.items():
        if attribute is None or not attribute.strip():
            if claim in defaults:
                mapping[claim] = defaults[claim]
            else:
                mapping.pop(claim, None)
        else:
            mapping[claim] = attribute.strip()
    return mapping


def activation_problems(connection: SSOConnection, *, require_test: bool = True) -> list[str]:
    """Why the connection may not be switched on for end users (empty when it may)."""
    problems = []
    missing = connection.missing_idp_configuration()
    if missing and connection.protocol == OIDC:
        problems.append(
            f"it has no usable OpenID Connect configuration (missing {', '.join(missing)}): give oidc_config.issuer "
            "(its discovery document must be readable), client_id and client_secret"
            + (", and tenant_id" if "tenant_id" in missing else "")
        )
    elif missing:
        problems.append(
            f"it has no usable identity provider configuration (missing {', '.join(missing)}): give "
            "saml_config.idp_metadata_xml or idp_metadata_url, or idp_entity_id, idp_sso_url and idp_certificates"
        )
    if require_test and connection.last_successful_test_at is None and not connection.bypass_it_admin_test:
        problems.append(
            "the IT admin has not completed a successful test login yet (the onboarding's test step); set "
            "bypass_it_admin_test to true to activate it without one"
        )
    return problems


def _check_active_state(connection: SSOConnection, *, was_active: bool) -> None:
    if not connection.active:
        return
    # Already serving sign-ins: only a change that breaks the IdP configuration is refused.
    problems = activation_problems(connection, require_test=not was_active)
    if problems:
        verb = "stay active" if was_active else "be activated"
        description = f"The connection cannot {verb}: " + "; and ".join(problems) + "."
        raise StateError(description, fields={"active": [description]})


def _tested_identity(connection: SSOConnection) -> tuple:
    """What a successful test login vouches for: which IdP, how its messages are verified, and which claims
    make the user. Another value of any of these is another, untested, sign-in."""
    from .crypto import DecryptionError

    try:
        secret = connection.oidc_client_secret
    except DecryptionError:  # unreadable (its key rotated away): compared as such
        secret = None
    return (
        connection.protocol,
        connection.idp_entity_id,
        connection.idp_sso_url,
        tuple(sorted(connection.idp_certificates or [])),
        connection.oidc_issuer,
        connection.oidc_client_id,
        secret,
        tuple(sorted((connection.attribute_mapping or {}).items())),
    )


def _apply(
    connection: SSOConnection,
    *,
    data: dict[str, Any],
    idp_fields: dict[str, Any] | None,
    application: Application | None,
) -> None:
    """Apply an update to an unsaved copy (the admin's check) or the locked row (the update).

    A connection that is not active and whose IdP, keys or attribute mapping change goes back from "tested"
    to "draft": activating it asks for a new test login (an active connection keeps serving: its operator
    or the daily metadata refresh may rotate a certificate without a test)."""
    was_active = connection.active
    tested_identity = _tested_identity(connection) if connection.last_successful_test_at else None
    old_provider = connection.provider_type
    saml_config = data.get("saml_config") or {}
    oidc_config = data.get("oidc_config") or {}
    new_provider = _target_provider(connection, data)
    for field in TOP_LEVEL_FIELDS:
        if field in data:
            setattr(connection, field, data[field])
    connection.provider_type = new_provider
    if connection.provider_type != old_provider:
        connection.protocol = provider_get(connection.provider_type).protocol
        # A mapping still at the old provider's defaults follows the new provider's defaults.
        if connection.attribute_mapping == default_attribute_mapping(old_provider):
            connection.attribute_mapping = default_attribute_mapping(connection.provider_type)
    if application is not None:
        if application.organization_id != connection.organization_id:
            raise ApiError(
                "The application belongs to another organization.",
                fields={"application_id": ["Not an application of this organization."]},
            )
        connection.application = application
    for field, value in (idp_fields or {}).items():
        setattr(connection, field, value)
    if "attribute_mapping" in saml_config:
        connection.attribute_mapping = _merge_mapping(connection, saml_config["attribute_mapping"])
    if "attribute_mapping" in oidc_config:
        connection.attribute_mapping = _merge_mapping(connection, oidc_config["attribute_mapping"])
    for field in SAML_FLAGS:
        if field in saml_config:
            setattr(connection, field, saml_config[field])
    if not was_active and tested_identity is not None and _tested_identity(connection) != tested_identity:
        connection.last_successful_test_at = None
    if "active" in data:
        connection.active = data["active"]
    _check_active_state(connection, was_active=was_active)


def connection_check_update(
    *, connection: SSOConnection, data: dict[str, Any], application: Application | None = None
) -> dict[str, Any] | None:
    """Everything `connection_update` refuses, without saving; returns the IdP fields read (metadata
    parsed or fetched) so the caller can pass them on instead of fetching twice."""
    idp_fields = {**(_read_idp_source(data.get("saml_config") or {}) or {}), **_read_oidc_source(connection, data)}
    _apply(copy.copy(connection), data=data, idp_fields=idp_fields, application=application)
    return idp_fields


def connection_update(
    *,
    connection: SSOConnection,
    data: dict[str, Any],
    application: Application | None = None,
    idp_fields: dict[str, Any] | None = None,
    by: Actor | None = None,
) -> SSOConnection:
    """Apply the fields sent. `application` is the one `application_id` named, already looked up in
    the connection's organization; `idp_fields` what `connection_check_update` already read."""
    if idp_fields is None:
        idp_fields = {**(_read_idp_source(data.get("saml_config") or {}) or {}), **_read_oidc_source(connection, data)}
    with transaction.atomic():
        locked = (
            SSOConnection.objects.select_for_update(of=("self",))
            .select_related("organization", "application")
            .get(pk=connection.pk)
        )
        before, lifecycle_before = audit.snapshot(locked), locked.lifecycle
        _apply(locked, data=data, idp_fields=idp_fields, application=application)
        _record_lifecycle(locked, was_active=before["active"], by=by)
        locked.save()
        changed = audit.changes(before, locked)
        if changed:
            audit.record(
                "connection.updated",
                by=by,
                organization=locked.organization,
                connection_id=locked.id,
                data={"changes": changed},
            )
        if locked.active != before["active"]:
            audit.record(
                "connection.activated" if locked.active else "connection.deactivated",
                by=by,
                organization=locked.organization,
                connection_id=locked.id,
                data={"lifecycle": {"old": lifecycle_before, "new": locked.lifecycle}},
            )
    return locked


def _record_lifecycle(connection: SSOConnection, *, was_active: bool, by: Actor | None) -> None:
    """active -> inactive keeps who switched it off; switching it on again clears that."""
    if was_active and not connection.active:
        connection.deactivated_at = timezone.now()
        connection.deactivated_by = (by or audit.SYSTEM).name
    elif connection.active and not was_active:
        connection.deactivated_at, connection.deactivated_by = None, ""


def connection_deactivate(*, connection: SSOConnection, by: Actor | None = None) -> SSOConnection:
    """Stop end users' sign-ins through the connection (the admin's action; the API sends active=false)."""
    return connection_update(connection=connection, data={"active": False}, by=by)


def connection_record_successful_test(*, connection: SSOConnection, by: Actor | None = None) -> SSOConnection:
    """Called by the onboarding's test step when the IT admin's test login went through."""
    lifecycle_before = connection.lifecycle
    with transaction.atomic():
        SSOConnection.objects.filter(pk=connection.pk).update(
            last_successful_test_at=timezone.now(), updated_at=timezone.now()
        )
        # The IT admin ran the test through the onboarding link sent to sso_admin_email.
        by = by or Actor(name=f"it_admin:{connection.sso_admin_email}" if connection.sso_admin_email else "system")
        audit.record(
            "connection.tested",
            by=by,
            organization=connection.organization,
            connection_id=connection.id,
            data={
                "succeeded": True,
                "lifecycle": {"old": lifecycle_before, "new": "active" if connection.active else "tested"},
            },
        )
    connection.refresh_from_db(fields=["last_successful_test_at", "updated_at"])
    return connection


def connection_delete(*, connection: SSOConnection, by: Actor | None = None) -> None:
    with transaction.atomic():
        audit.record(
            "connection.deleted",
            by=by,
            organization=connection.organization,
            connection_id=connection.id,
            data={
                "lifecycle": connection.lifecycle,
                "protocol": connection.protocol,
                "provider_type": connection.provider_type,
            },
        )
        # Identities are keyed by (idp_id, subject); without the connection they can never be used again.
        Identity.objects.filter(idp_id=connection.id, user__organization_id=connection.organization_id).delete()
        connection.delete()
