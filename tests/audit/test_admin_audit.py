"""Admin pages whose models have no service of ours (operators' accounts and groups, their email addresses,
django-oauth-toolkit's token rows) record every add, change and delete in the audit trail, secrets masked;
second factors cannot be removed there (only by "Reset second factors", which ends the sessions)."""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import User as Operator
from django.urls import reverse

from applications import services as application_services
from cryptr_sso.models import AuditEvent
from organizations.models import User

from .conftest import CALLBACK

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return Operator.objects.create_superuser("root", "root@gateway.example", "a long passphrase 42")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def events(type_: str):
    return list(AuditEvent.objects.filter(type=type_).order_by("inserted_at"))


def test_an_operator_added_in_the_admin_is_recorded_without_the_password(operator_client):
    response = operator_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "bob",
            "password1": "An0ther long passphrase",
            "password2": "An0ther long passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (event,) = events("operator.created")
    assert event.actor == "operator:root"
    assert event.ip == "127.0.0.1"
    assert event.data["model"] == "auth.user"
    assert event.data["object"] == "bob"
    assert event.data["changes"]["username"] == {"old": None, "new": "bob"}
    assert event.data["changes"]["password"] == "[masked]"
    assert "pbkdf2" not in str(event.data) and "passphrase" not in str(event.data)


def test_making_an_operator_superuser_records_old_and_new(operator_client):
    bob = Operator.objects.create_user("bob", "bob@gateway.example", "An0ther long passphrase")
    response = operator_client.post(
        reverse("admin:auth_user_change", args=[bob.pk]),
        {
            "username": "bob",
            "email": "bob@gateway.example",
            "first_name": "",
            "last_name": "",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    (event,) = events("operator.updated")
    assert event.data["changes"]["is_staff"] == {"old": False, "new": True}
    assert event.data["changes"]["is_superuser"] == {"old": False, "new": True}
    assert "username" not in event.data["changes"]
    assert set(event.data["fields"]) >= {"Staff status", "Superuser status"}


def test_an_operator_password_set_by_another_is_recorded_as_such(operator_client):
    bob = Operator.objects.create_user("bob", "bob@gateway.example", "An0ther long passphrase")
    response = operator_client.post(
        reverse("admin:auth_user_password_change", args=[bob.pk]),
        {
            "password1": "A brand new passphrase 7",
            "password2": "A brand new passphrase 7",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (event,) = events("operator.updated")
    assert event.actor == "operator:root"
    assert event.data["object"] == "bob"
    assert "A brand new" not in str(event.data)


def test_deleting_operators_in_bulk_records_each(operator_client):
    bob = Operator.objects.create_user("bob", "bob@gateway.example", "x")
    eve = Operator.objects.create_user("eve", "eve@gateway.example", "x")
    response = operator_client.post(
        reverse("admin:auth_user_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [bob.pk, eve.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Operator.objects.filter(pk__in=[bob.pk, eve.pk]).exists()
    assert sorted(e.data["object"] for e in events("operator.deleted")) == ["bob", "eve"]


def test_groups_and_operator_email_addresses_are_recorded(operator_client, operator):
    response = operator_client.post(reverse("admin:auth_group_add"), {"name": "support"})
    assert response.status_code == 302
    (created,) = events("admin.created")
    assert created.data["model"] == "auth.group" and created.data["object"] == "support"

    address = EmailAddress.objects.create(user=operator, email="root@gateway.example", verified=False, primary=True)
    response = operator_client.post(
        reverse("admin:account_emailaddress_change", args=[address.pk]),
        {
            "user": operator.pk,
            "email": "root@other.example",
            "verified": "on",
            "primary": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (updated,) = events("admin.updated")
    assert updated.data["model"] == "account.emailaddress"
    assert updated.data["changes"]["email"] == {"old": "root@gateway.example", "new": "root@other.example"}
    assert updated.data["changes"]["verified"] == {"old": False, "new": True}


def test_an_authorization_code_deleted_in_the_admin_is_recorded_without_the_code(operator_client, org):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_grant_model

    application, _secret = application_services.application_create(
        organization=org, name="App", application_type="regular_web", allowed_redirect_uris_after_login=[CALLBACK]
    )
    user = User.objects.create(organization=org, email="jane@acme.test")
    grant = get_grant_model().objects.create(
        user=user,
        application=application,
        code="c0de" * 10,
        redirect_uri=CALLBACK,
        expires=timezone.now() + timedelta(minutes=1),
    )
    response = operator_client.post(reverse("admin:applications_grant_delete", args=[grant.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not get_grant_model().objects.filter(pk=grant.pk).exists()
    (event,) = events("admin.deleted")
    assert event.data["model"] == "applications.grant"
    assert event.data["object_id"] == str(grant.pk)
    assert "c0de" not in str(event.data)


def test_second_factors_cannot_be_removed_from_the_authenticator_admin(operator_client):
    bob = Operator.objects.create_user("bob", "bob@gateway.example", "x", is_staff=True)
    authenticator = Authenticator.objects.create(user=bob, type=Authenticator.Type.TOTP, data={"secret": "x"})
    listing = operator_client.get(reverse("admin:mfa_authenticator_changelist"))
    assert listing.status_code == 200
    assert b"Reset second factors" in listing.content
    response = operator_client.post(reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Authenticator.objects.filter(pk=authenticator.pk).exists()
