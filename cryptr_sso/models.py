import uuid

from django.db import models


class BaseModel(models.Model):
    """A UUID primary key and the `inserted_at` / `updated_at` stamps every resource of the API carries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """One line of the audit trail: who did what, to which organization and connection, from where.

    Written only through cryptr_sso.audit.record_event, which masks secrets in `data`. The organization may
    be deleted later; `organization_domain` keeps the trail readable (and its events still filterable).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    type = models.CharField(max_length=64, db_index=True, help_text='Dotted, e.g. "sso.login.failed".')
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="events",
    )
    organization_domain = models.CharField(max_length=63, blank=True, default="")
    actor = models.CharField(
        max_length=200, blank=True, default="",
        help_text='"api_key:<client_id>", "operator:<username>", "end_user:<id>" or "system".',
    )
    connection_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    user_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    ip = models.CharField(max_length=45, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-inserted_at", "-id")
        indexes = [
            models.Index(fields=["organization", "-inserted_at", "-id"], name="event_org_newest_first"),
            # The connection admin's "last successful / failed sign-in" columns (one lookup per row).
            models.Index(fields=["connection_id", "type", "-inserted_at"], name="event_connection_last"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.organization_domain or '-'} {self.inserted_at:%Y-%m-%d %H:%M:%S}"
