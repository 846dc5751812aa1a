"""The certificate expiry warnings in the admin (read-only): which certificate, which threshold, who was
emailed and when, and the last error of a send still being retried."""

from django.contrib import admin

from cryptr_sso.admin_audit import ViewOnlyAdminMixin

from .models import CertificateExpiryNotice


@admin.register(CertificateExpiryNotice)
class CertificateExpiryNoticeAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    deletable = True

    list_display = ("inserted_at", "kind", "threshold_days", "scope", "not_valid_after", "sent_at", "send_attempts")
    list_filter = ("kind", "threshold_days", "sent_at")
    search_fields = ("fingerprint", "scope", "subject")
    date_hierarchy = "inserted_at"
