"""A replayed spent refresh token makes django-oauth-toolkit revoke the whole family: the audit trail
says so (token.revoked, reason refresh_reuse), in the family's organization."""

from applications.models import RefreshToken
from cryptr_sso.models import AuditEvent


def reuse_events():
    return list(AuditEvent.objects.filter(type="token.revoked", data__reason="refresh_reuse").order_by("inserted_at"))


def test_a_replayed_refresh_token_revokes_the_family_and_is_audited(client, tenant_a):
    first = tenant_a.tokens(client)
    second = tenant_a.refresh(client, first["refresh_token"])
    assert second.status_code == 200
    assert not reuse_events(), "a rotation is not a reuse"

    replay = client.post(
        tenant_a.url("/oauth2/token"),
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": tenant_a.public_app.client_id,
        },
        HTTP_USER_AGENT="thief/1.0",
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()

    [event] = reuse_events()
    assert event.organization_id == tenant_a.org.pk and event.organization_domain == tenant_a.org.domain
    assert event.user_id == str(tenant_a.user.pk) and event.connection_id == tenant_a.idp_id
    assert event.actor == f"application:{tenant_a.public_app.client_id}" and event.user_agent == "thief/1.0"
    assert event.data == {
        "kind": "refresh_family",
        "reason": "refresh_reuse",
        "refresh": 1,
        "client_id": tenant_a.public_app.client_id,
        "presented_by": tenant_a.public_app.client_id,
    }
    trail = str(event.data)
    for token in (first["refresh_token"], second.json()["refresh_token"], first["access_token"]):
        assert token not in trail


def test_a_replay_of_a_token_whose_family_is_already_revoked_is_audited_again(client, tenant_a):
    first = tenant_a.tokens(client)
    tenant_a.refresh(client, first["refresh_token"])
    tenant_a.refresh(client, first["refresh_token"])
    assert tenant_a.refresh(client, first["refresh_token"]).status_code == 400
    assert [event.data["refresh"] for event in reuse_events()] == [1, 0], "each replay, with what was still live"


def test_a_replay_at_another_organization_is_audited_in_the_family_s_organization(client, tenant_a, tenant_b):
    first = tenant_a.tokens(client)
    tenant_a.refresh(client, first["refresh_token"])
    replay = tenant_b.refresh(client, first["refresh_token"])
    assert replay.status_code == 400
    [event] = reuse_events()
    assert event.organization_id == tenant_a.org.pk
    assert event.data["presented_by"] == tenant_b.public_app.client_id
    assert event.data["client_id"] == tenant_a.public_app.client_id
