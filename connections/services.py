"""Writes of SSO connections. Each service owns its transaction; network reads (IdP metadata URLs)
happen before it, so no database transaction waits on a remote server."""

import copy
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.models import Application
from cryptr_sso.api.errors import ApiError, StateError
from organizations.models import Identity, Organization

from .models import BINDING_HTTP_REDIRECT, SSOConnection, new_idp_id
from .providers import UNSET, default_attribute_mapping, provider_get
from .saml.metadata import IdpMetadata, MetadataError, certificate_from_text, fetch_idp_metadata, parse_idp_metadata

TOP_LEVEL_FIELDS = ("provider_type", "users_provisioning", "sso_admin_email", "bypass_it_admin_test")
SAML_FLAGS = ("allow_idp_initiated", "want_response_signed")


def connection_create(*, organization: Organization, application: Application, sso_admin_email: str = "",
                      provider_type: str = UNSET) -> SSOConnection:
    if application.organization_id != organization.id:
        raise ApiError("The application belongs to another organization.",
                       fields={"application_id": ["Not an application of this organization."]})
    provider = provider_get(provider_type)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return SSOConnection.objects.create(
                    id=new_idp_id(organization.domain), organization=organization, application=application,
                    sso_admin_email=sso_admin_email, provider_type=provider.key, protocol=provider.protocol,
                    attribute_mapping=default_attribute_mapping(provider.key),
                )
        except IntegrityError:
            continue  # 131 random bits collided: draw again
    raise ApiError("Could not give the connection a unique id; try again.", code="conflict", status_code=409)


def _metadata_error(error: MetadataError, field: str) -> ApiError:
    return ApiError(error.message, code=error.code, fields={"saml_config": {field: [error.message]}})


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
        return {**_from_metadata(metadata), "idp_metadata_xml": document, "idp_metadata_url": "",
                "idp_metadata_fetched_at": None}
    if "idp_metadata_url" in saml_config:
        url = saml_config["idp_metadata_url"]
        try:
            document, metadata = fetch_idp_metadata(url)
        except MetadataError as error:
            raise _metadata_error(error, "idp_metadata_url") from None
        return {**_from_metadata(metadata), "idp_metadata_xml": document.decode("utf-8", "replace"),
                "idp_metadata_url": url, "idp_metadata_fetched_at": timezone.now()}
    manual = {name: saml_config[name] for name in ("idp_entity_id", "idp_sso_url", "idp_sso_binding",
                                                    "idp_slo_url", "idp_certificates") if name in saml_config}
    if not manual:
        return None
    if "idp_certificates" in manual:
        pems = []
        for index, text in enumerate(manual["idp_certificates"]):
            try:
                pems.append(certificate_from_text(text).pem)
            except MetadataError as error:
                message = f"Certificate {index + 1}: {error.message}"
                raise ApiError(message, code=error.code,
                               fields={"saml_config": {"idp_certificates": [message]}}) from None
        manual["idp_certificates"] = list(dict.fromkeys(pems))
    if "idp_slo_url" in manual:
        binding = manual.get("idp_sso_binding") or BINDING_HTTP_REDIRECT
        manual["idp_slo_binding"] = binding if manual["idp_slo_url"] else ""
    # Typed values replace what metadata said: the stored metadata no longer describes the connection.
    return {**manual, "idp_metadata_xml": "", "idp_metadata_url": "", "idp_metadata_fetched_at": None,
            "idp_metadata_valid_until": None}


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
    if missing:
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


def _apply(connection: SSOConnection, *, data: dict[str, Any], idp_fields: dict[str, Any] | None,
           application: Application | None) -> None:
    """Apply an update to an unsaved copy (the admin's check) or the locked row (the update)."""
    was_active = connection.active
    old_provider = connection.provider_type
    saml_config = data.get("saml_config") or {}
    for field in TOP_LEVEL_FIELDS:
        if field in data:
            setattr(connection, field, data[field])
    if connection.provider_type != old_provider:
        connection.protocol = provider_get(connection.provider_type).protocol
        # A mapping still at the old provider's defaults follows the new provider's defaults.
        if connection.attribute_mapping == default_attribute_mapping(old_provider):
            connection.attribute_mapping = default_attribute_mapping(connection.provider_type)
    if application is not None:
        if application.organization_id != connection.organization_id:
            raise ApiError("The application belongs to another organization.",
                           fields={"application_id": ["Not an application of this organization."]})
        connection.application = application
    for field, value in (idp_fields or {}).items():
        setattr(connection, field, value)
    if "attribute_mapping" in saml_config:
        connection.attribute_mapping = _merge_mapping(connection, saml_config["attribute_mapping"])
    for field in SAML_FLAGS:
        if field in saml_config:
            setattr(connection, field, saml_config[field])
    if "active" in data:
        connection.active = data["active"]
    _check_active_state(connection, was_active=was_active)


def connection_check_update(*, connection: SSOConnection, data: dict[str, Any],
                            application: Application | None = None) -> dict[str, Any] | None:
    """Everything `connection_update` refuses, without saving; returns the IdP fields read (metadata
    parsed or fetched) so the caller can pass them on instead of fetching twice."""
    idp_fields = _read_idp_source(data.get("saml_config") or {})
    _apply(copy.copy(connection), data=data, idp_fields=idp_fields, application=application)
    return idp_fields


def connection_update(*, connection: SSOConnection, data: dict[str, Any], application: Application | None = None,
                      idp_fields: dict[str, Any] | None = None) -> SSOConnection:
    """Apply the fields sent. `application` is the one `application_id` named, already looked up in
    the connection's organization; `idp_fields` what `connection_check_update` already read."""
    if idp_fields is None:
        idp_fields = _read_idp_source(data.get("saml_config") or {})
    with transaction.atomic():
        locked = (SSOConnection.objects.select_for_update(of=("self",))
                  .select_related("organization", "application").get(pk=connection.pk))
        _apply(locked, data=data, idp_fields=idp_fields, application=application)
        locked.save()
    return locked


def connection_record_successful_test(*, connection: SSOConnection) -> SSOConnection:
    """Called by the onboarding's test step when the IT admin's test login went through."""
    with transaction.atomic():
        SSOConnection.objects.filter(pk=connection.pk).update(last_successful_test_at=timezone.now(),
                                                              updated_at=timezone.now())
    connection.refresh_from_db(fields=["last_successful_test_at", "updated_at"])
    return connection


def connection_delete(*, connection: SSOConnection) -> None:
    with transaction.atomic():
        # Identities are keyed by (idp_id, subject); without the connection they can never be used again.
        Identity.objects.filter(idp_id=connection.id, user__organization_id=connection.organization_id).delete()
        connection.delete()
