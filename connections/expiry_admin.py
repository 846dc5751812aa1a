"""The certificate expiry warnings in the admin (read-only): which certificate, which threshold, who was
emailed and when, and the last error of a send still being retried."""

from django.contrib import admin

from .models import CertificateExpiryNotice


@admin.register(CertificateExpiryNotice)
class CertificateExpiryNoticeAdmin(admin.ModelAdmin):
    list_display = ("inserted_at", "kind", "threshold_days", "scope", "not_valid_after", "sent_at", "send_attempts")
    list_filter = ("kind", "threshold_days", "sent_at")
    search_fields = ("fingerprint", "scope", "subject")
    date_hierarchy = "inserted_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
