import uuid

from django.db import models


class BaseModel(models.Model):
    """A UUID primary key and the `inserted_at` / `updated_at` stamps every resource of the API carries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inserted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
