"""The audit trail in the admin: read-only, filterable by type, organization and date, searchable."""

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import AuditEvent


class EventFamilyFilter(admin.SimpleListFilter):
    """The dotted family of the type ("sso.login", "token", "connection"...): a fixed list, no query."""

    title = "type"
    parameter_name = "type_prefix"
    FAMILIES = ("sso.login.succeeded", "sso.login.failed", "sso.login.", "token.", "connection.", "user.",
                "organization.", "application.", "invitation.", "api_key.", "certificate.")

    def lookups(self, request, model_admin):
        return [(family, family + "*" if family.endswith(".") else family) for family in self.FAMILIES]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(type__startswith=value) if value.endswith(".") else queryset.filter(type=value)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("inserted_at", "type", "organization_domain", "actor", "connection_id", "user_id", "ip",
                    "summary")
    list_filter = (EventFamilyFilter, ("inserted_at", admin.DateFieldListFilter), "organization")
    search_fields = ("=connection_id", "actor", "=user_id", "=organization_domain", "type")
    date_hierarchy = "inserted_at"
    list_select_related = ()
    show_full_result_count = False
    fields = ("id", "inserted_at", "type", "organization", "organization_domain", "actor", "connection_id",
              "user_id", "ip", "user_agent", "pretty_data")
    readonly_fields = fields
    list_per_page = 100

    @admin.display(description="what")
    def summary(self, obj):
        data = obj.data or {}
        if "error" in data:
            return f"{data['error']}: {data.get('reason', '')}"[:160]
        if "changes" in data:
            return "changed: " + ", ".join(sorted(data["changes"]))[:150]
        return ", ".join(f"{key}={value}" for key, value in data.items() if not isinstance(value, (dict, list)))[:160]

    @admin.display(description="data")
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False))

    # Read-only: the trail is written by the gateway's services, never edited by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
