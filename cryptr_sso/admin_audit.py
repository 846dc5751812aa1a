"""The audit trail of admin pages whose models have no service of ours to record their changes.

The gateway's own admins (organizations, users, applications, connections, API keys, webhooks, signing keys)
record their changes through the services. The admins of the other models an operator can change — the
operators' accounts and groups (django.contrib.auth), their email addresses and sessions (allauth) and
django-oauth-toolkit's token rows — record theirs through `AuditedAdminMixin`: it hooks the admin's own
history (`log_addition`, `log_change`, `log_deletions`, which every add, change, delete and bulk delete of
the admin goes through) and writes one audit event per object, with the operator, their IP and user agent,
and what changed (old and new values of the model's fields, secrets such as the password hash masked, and
the names of the many-to-many fields changed, e.g. groups and permissions).

Events: "operator.created|updated|deleted" for the operators' accounts, "admin.created|updated|deleted"
with `data.model` ("auth.group", "account.emailaddress", ...) for the others.
"""

from __future__ import annotations

from django.contrib import admin

from . import audit
from .audit import Actor

_BEFORE = "_audit_before"  # the object's values before the save, kept on the request between two hooks


def event_type(model, verb: str) -> str:
    from django.contrib.auth import get_user_model

    return f"operator.{verb}" if model is get_user_model() else f"admin.{verb}"


def _changed_names(message) -> list[str]:
    """The field names of Django's change message ([{"changed": {"fields": [...]}}, ...])."""
    names: list[str] = []
    for part in message if isinstance(message, list) else []:
        for key in ("changed", "added", "deleted"):
            fields = (part.get(key) or {}).get("fields") if isinstance(part.get(key), dict) else None
            names.extend(str(name) for name in fields or [])
    return names


def describe(obj) -> str:
    """The object as the admin names it, unless that name is one of its secrets (a token row's str() is the
    token, a Grant's the code): then only its id tells which it was."""
    text = str(obj)
    for field in obj._meta.concrete_fields:
        if audit.is_secret_key(field.attname) and text and text == str(getattr(obj, field.attname, "")):
            return audit.MASK
    return audit.mask_secrets(text[:200])


class AuditedAdminMixin:
    """Put first in the bases of a ModelAdmin: its adds, changes and deletions go to the audit trail."""

    def save_model(self, request, obj, form, change):
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            setattr(request, _BEFORE, audit.snapshot(stored) if stored is not None else {})
        super().save_model(request, obj, form, change)

    def _record(self, request, obj, verb: str, data: dict) -> None:
        meta = obj._meta
        audit.record(
            event_type(type(obj), verb),
            by=Actor.operator(request),
            data={"model": meta.label_lower, "object_id": str(obj.pk), "object": describe(obj), **data},
        )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._record(request, obj, "created", {"changes": audit.changes({}, obj)})
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        before = getattr(request, _BEFORE, None)
        data: dict = {"fields": _changed_names(message)}
        if before:
            data["changes"] = audit.changes(before, obj)
        elif not data["fields"] and isinstance(message, str):
            data["message"] = message[:200]  # e.g. the password change form's "Changed password."
        self._record(request, obj, "updated", data)
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        entries = super().log_deletions(request, queryset)
        for obj in objects:
            self._record(request, obj, "deleted", {})
        return entries


def register_audited(model, admin_class=None, site=admin.site) -> None:
    """(Re-)register `model` with its current admin class (or `admin_class`) behind AuditedAdminMixin."""
    if site.is_registered(model):
        base = admin_class or type(site._registry[model])
        site.unregister(model)
    else:
        base = admin_class or admin.ModelAdmin
    if issubclass(base, AuditedAdminMixin):
        site.register(model, base)
        return
    site.register(model, type(base.__name__, (AuditedAdminMixin, base), {"__module__": base.__module__}))


class ViewOnlyAdminMixin:
    """Rows the gateway writes and an operator only reads (the audit trail, second factors, certificate expiry
    warnings, webhook deliveries): no add or change form; deleting only where `deletable`."""

    deletable = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
