"""Reads of applications, always inside one organization: another tenant's application looks missing."""

from django.db.models import QuerySet

from cryptr_sso.api.errors import NotFound
from organizations.models import Organization

from .models import Application


def application_list(*, organization: Organization) -> QuerySet[Application]:
    return Application.objects.filter(organization=organization)


def application_get(*, organization: Organization, client_id: str) -> Application:
    application = Application.objects.filter(organization=organization, client_id=client_id).first()
    if application is None:
        raise NotFound(f"There is no application '{client_id}' in '{organization.domain}'.")
    return application
