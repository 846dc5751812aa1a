"""The rotation from the operator's admin: generate (published), make active (switch), retire; invalid
transitions are refused with a message and change nothing."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cryptr_sso.models import AuditEvent, SigningKey
from cryptr_sso.signing_keys import signing_key_activate, signing_key_publish
from tests.keys.conftest import OPERATOR

CHANGELIST = "admin:cryptr_sso_signingkey_changelist"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, action: str, *keys):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [str(k.pk) for k in keys]}, follow=True
    )


@pytest.mark.parametrize("purpose", [SigningKey.Purpose.TOKEN, SigningKey.Purpose.SAML_SP])
def test_operator_rotates_a_key_from_the_admin(operator_client, purpose):
    page = operator_client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and b"Generate a new key (published)" in page.content

    response = operator_client.post(reverse("admin:cryptr_sso_signingkey_generate"), {"purpose": purpose}, follow=True)
    key = SigningKey.objects.get(purpose=purpose)
    assert key.state == SigningKey.State.PUBLISHED and key.created_by == "operator:rotator"
    assert any("Published a new" in message for message in messages_of(response))
    assert key.kid[:16].encode() in response.content

    response = act(operator_client, "make_active", key)
    key.refresh_from_db()
    assert key.state == SigningKey.State.ACTIVE and key.activated_by == "operator:rotator"

    successor = signing_key_publish(purpose=purpose, by=OPERATOR)
    act(operator_client, "make_active", successor)
    key.refresh_from_db()
    assert key.state == SigningKey.State.RETIRED and key.retired_by == "operator:rotator"
    types = list(AuditEvent.objects.filter(actor="operator:rotator").values_list("type", flat=True))
    # The successor was published by the service directly, under the same operator name.
    assert sorted(types) == [
        "signing_key.activated",
        "signing_key.activated",
        "signing_key.published",
        "signing_key.published",
        "signing_key.retired",
    ]


def test_the_active_key_cannot_be_retired(operator_client):
    key = signing_key_activate(key=signing_key_publish(purpose="token", by=OPERATOR), by=OPERATOR)
    response = act(operator_client, "retire", key)
    key.refresh_from_db()
    assert key.state == SigningKey.State.ACTIVE
    assert any("The active key signs every new token" in message for message in messages_of(response))
    assert not AuditEvent.objects.filter(type="signing_key.retired").exists()


def test_only_a_published_key_can_be_made_active(operator_client):
    retired = signing_key_publish(purpose="token", by=OPERATOR)
    act(operator_client, "retire", retired)
    retired.refresh_from_db()
    assert retired.state == SigningKey.State.RETIRED
    response = act(operator_client, "make_active", retired)
    retired.refresh_from_db()
    assert retired.state == SigningKey.State.RETIRED
    assert any("Only a published key can be made active" in message for message in messages_of(response))


def test_a_switch_takes_exactly_one_key(operator_client):
    first, second = (signing_key_publish(purpose="token", by=OPERATOR) for _ in range(2))
    response = act(operator_client, "make_active", first, second)
    assert not SigningKey.objects.filter(state=SigningKey.State.ACTIVE).exists()
    assert "Select exactly one published key to make active." in messages_of(response)


def test_generating_needs_a_purpose_and_a_post(operator_client):
    url = reverse("admin:cryptr_sso_signingkey_generate")
    assert operator_client.get(url).status_code == 403
    response = operator_client.post(url, {"purpose": "nonsense"}, follow=True)
    assert not SigningKey.objects.exists()
    assert any("Choose what the key is for" in message for message in messages_of(response))
