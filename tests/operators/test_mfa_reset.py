"""The admin's "Reset second factors" action on another operator: their authenticators go, their sessions
end, the audit trail says who did it, and their next sign-in goes through the email code again."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from cryptr_sso.models import AuditEvent

from .helpers import (
    give_totp,
    is_signed_in,
    make_operator,
    second_factors,
    sign_in_proving_email,
    sign_in_with_password,
)

CHANGELIST = "admin:auth_user_changelist"


def shown(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client, *users, capture=None):
    data = {"action": "reset_second_factors", "_selected_action": [user.pk for user in users]}
    if capture is None:
        return client.post(reverse(CHANGELIST), data, follow=True)
    with capture(execute=True):
        return client.post(reverse(CHANGELIST), data, follow=True)


@pytest.fixture
def bob(db):
    bob = make_operator("bob", "bob@ops.example")
    give_totp(bob)
    return bob


def test_an_operator_resets_anothers_second_factors(
    client, operator, bob, eager_celery, django_capture_on_commit_callbacks
):
    bobs_client = Client()
    bobs_client.force_login(bob)  # signed in with his TOTP (tests/operators/plugin.py)
    assert bobs_client.get(reverse("admin:index")).status_code == 200
    client.force_login(operator)

    response = run_action(client, bob, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert any(text.startswith("bob: second factors reset (totp), sessions ended.") for text in shown(response)), shown(
        response
    )
    assert second_factors(bob) == set()
    # His sessions are over.
    assert bobs_client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
    event = AuditEvent.objects.get(type="operator.mfa_reset")
    assert event.actor == "operator:alice"
    assert event.data["operator"] == "bob" and "totp" in event.data["removed"]
    # He is told, through the Celery path.
    assert [m.to for m in mail.outbox] == [["bob@ops.example"]]
    assert "alice reset the second factors" in mail.outbox[0].body.replace("The operator ", "")

    # His password alone no longer opens anything: the email code comes first, then a new factor.
    mail.outbox.clear()
    fresh = Client()
    response = sign_in_with_password(fresh, "bob")
    assert response["Location"] == reverse("operator_email_code") and not is_signed_in(fresh)
    fresh.post(reverse("account_logout"))
    fresh = Client()
    assert sign_in_proving_email(fresh, "bob", django_capture_on_commit_callbacks)["Location"] == "/admin/"
    assert fresh.get(reverse("admin:index"))["Location"] == reverse("mfa_index")


def test_nobody_resets_their_own_second_factors(client, operator):
    client.force_login(operator)
    before = second_factors(operator)
    assert before
    response = run_action(client, operator)
    assert any(text.startswith("You cannot reset your own second factors") for text in shown(response))
    assert second_factors(operator) == before
    assert not AuditEvent.objects.filter(type="operator.mfa_reset").exists()
    assert client.get(reverse("admin:index")).status_code == 200


def test_an_operator_without_the_change_permission_cannot_reset(client, bob, db):
    viewer = make_operator("victor", "victor@ops.example", is_superuser=False)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_user", content_type__app_label="auth"))
    client.force_login(viewer)
    run_action(client, bob)
    assert "totp" in second_factors(bob)
    assert not AuditEvent.objects.filter(type="operator.mfa_reset").exists()
