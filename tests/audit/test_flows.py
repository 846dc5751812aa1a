"""Each event type recorded by a real flow: SAML sign-ins at the ACS (success, refusal, inactive connection,
JIT provisioning), the wizard's invitation, test login and activation, tokens issued, refreshed, revoked."""

import pytest
from django.core import mail

from connections.services import connection_update
from onboarding.models import OnboardingInvitation
from onboarding.tasks import send_invitation
from organizations.models import User
from tests.connections.saml.idp import TestIdp
from tests.oauth.conftest import LOGOUT_URI, Tenant
from tests.onboarding.conftest import connection, make_connection  # noqa: F401 (fixtures)
from tests.onboarding.wizard.conftest import _gateway_on_testserver, invited, token, wizard_url  # noqa: F401
from tests.onboarding.wizard.test_test_login import configured, idp_answer, start_test  # noqa: F401

from .conftest import events, one_event

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def test_idp():
    return TestIdp("a")


@pytest.fixture
def live_connection(connection, test_idp):  # noqa: F811
    """Active, with the test IdP's metadata and IdP-initiated sign-ins allowed (no AuthnRequest needed)."""
    return connection_update(
        connection=connection,
        data={
            "saml_config": {"idp_metadata_xml": test_idp.metadata(), "allow_idp_initiated": True},
            "bypass_it_admin_test": True,
            "active": True,
        },
    )


def acs(client, to, answer):
    return client.post(
        f"/sso/sp/consume/{to.id}",
        {"SAMLResponse": answer},
        HTTP_USER_AGENT="Mozilla/5.0 (audit test)",
        REMOTE_ADDR="198.51.100.7",
    )


def test_saml_sign_in_records_success_and_jit_provisioning(client, live_connection, test_idp):
    response = acs(client, live_connection, idp_answer(test_idp, live_connection, None))
    assert response.status_code == 302, response.content[:1000]
    user = User.objects.get(email="jane.doe@acme.test")
    provisioned = one_event("user.provisioned")
    assert provisioned.user_id == str(user.pk) and provisioned.connection_id == live_connection.id
    assert provisioned.actor == f"end_user:{user.pk}" and provisioned.ip == "198.51.100.7"
    succeeded = one_event("sso.login.succeeded")
    assert succeeded.user_id == str(user.pk) and succeeded.actor == f"end_user:{user.pk}"
    assert succeeded.ip == "198.51.100.7" and succeeded.user_agent == "Mozilla/5.0 (audit test)"
    assert succeeded.organization == live_connection.organization
    # Nothing of the assertion is kept: no NameID attributes dump, no XML.
    assert "Assertion" not in str(succeeded.data) and "groups" not in str(succeeded.data)


def test_saml_refusal_records_the_error_code_and_reason(client, live_connection, test_idp):
    answer = idp_answer(test_idp, live_connection, None, audience="https://someone-else.example/sp")
    assert acs(client, live_connection, answer).status_code in (400, 403)
    failed = one_event("sso.login.failed")
    assert failed.connection_id == live_connection.id and failed.ip == "198.51.100.7"
    assert failed.data["error"] and failed.data["reason"] and failed.user_id == ""
    assert not events("sso.login.succeeded") and not User.objects.exists()


def test_sign_in_on_an_inactive_connection_is_a_failed_login(client, live_connection, test_idp):
    connection_update(connection=live_connection, data={"active": False})
    acs(client, live_connection, idp_answer(test_idp, live_connection, None))
    assert one_event("sso.login.failed").data["error"] == "connection_inactive"


def test_wizard_records_invitation_tested_and_activated(client, wizard_url, configured, test_idp):  # noqa: F811
    set_up, _token = configured
    invitation = OnboardingInvitation.objects.get(onboarding__connection=set_up)
    assert send_invitation.run(invitation_id=invitation.pk) == "sent" and len(mail.outbox) == 1
    sent = one_event("invitation.sent", connection_id=set_up.id)
    assert sent.data["email"] == "it@misapret.example" and "token" not in str(sent.data).lower()

    request_id = start_test(client, wizard_url)
    acs(client, set_up, idp_answer(test_idp, set_up, request_id))
    client.get(wizard_url("test-result"))
    tested = one_event("connection.tested")
    assert tested.actor == "it_admin:it@misapret.example"
    assert tested.data["succeeded"] is True and tested.data["lifecycle"] == {"old": "draft", "new": "tested"}
    assert not events("sso.login.succeeded")  # a test signs nobody in

    assert client.post(wizard_url("activate"), {"nav": "next"}).status_code == 303
    activated = one_event("connection.activated", connection_id=set_up.id)
    assert activated.actor == "it_admin:it@misapret.example"
    assert activated.data["lifecycle"] == {"old": "tested", "new": "active"}


def test_a_refused_test_login_is_recorded(client, wizard_url, configured, test_idp):  # noqa: F811
    set_up, _token = configured
    request_id = start_test(client, wizard_url)
    acs(client, set_up, idp_answer(test_idp, set_up, request_id, audience="https://elsewhere.example"))
    refused = one_event("connection.tested")
    assert refused.data["succeeded"] is False and refused.data["error"] and refused.data["reason"]
    assert refused.actor == "it_admin:it@misapret.example" and refused.ip == "198.51.100.7"
    assert not events("sso.login.failed")  # the test is not an end user's sign-in


def test_tokens_issued_refreshed_and_revoked(client):
    tenant = Tenant("Misapret")
    tokens = tenant.tokens(client)
    issued = one_event("token.issued")
    assert issued.user_id == str(tenant.user.pk) and issued.connection_id == tenant.idp_id
    assert issued.data["grant_type"] == "authorization_code" and issued.data["refresh"] is True
    assert issued.data["client_id"] == tenant.public_app.client_id
    assert issued.organization_id == tenant.org.pk and issued.organization_domain == tenant.org.domain

    refreshed = tenant.refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert [e.data["grant_type"] for e in events("token.issued")] == ["authorization_code", "refresh_token"]

    new_tokens = refreshed.json()
    response = client.post(
        tenant.url("/oauth2/revoke"), {"token": new_tokens["access_token"], "client_id": tenant.public_app.client_id}
    )
    assert response.status_code == 200
    revoked = one_event("token.revoked")
    assert revoked.data["kind"] == "access" and revoked.data["reason"] == "revocation_endpoint"
    assert revoked.user_id == str(tenant.user.pk)

    trail = str([(e.data, e.user_agent) for e in events()])
    for secret in (tokens["access_token"], tokens["refresh_token"], new_tokens["access_token"]):
        assert secret not in trail


def test_logout_revokes_tokens_and_records_it(client):
    tenant = Tenant("Misapret")
    tokens = tenant.tokens(client)
    response = client.get(
        tenant.url("/oauth2/logout"),
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "client_id": tenant.public_app.client_id,
        },
    )
    assert response.status_code in (200, 302), response.content[:500]
    revoked = one_event("token.revoked")
    assert revoked.data["reason"] == "sign_out" and revoked.actor == f"end_user:{tenant.user.pk}"


def test_invitation_through_the_api_is_sent_and_recorded(
    api,
    connection,  # noqa: F811
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr(send_invitation, "delay", lambda **kwargs: send_invitation.run(**kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v2/sso-connections/{connection.id}/invite-admin",
            {"sso_admin_email": "it@misapret.fr"},
            format="json",
        )
    assert response.status_code in (200, 201), response.json()
    assert one_event("invitation.sent", connection_id=connection.id).data["email"] == "it@misapret.fr"


def test_who_asked_for_an_invitation_is_recorded_and_revoking_links_too(
    api,
    connection,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            f"/api/v2/sso-connections/{connection.id}/invite-admin",
            {"sso_admin_email": "it@misapret.fr", "locale": "fr"},
            format="json",
        )
        assert response.status_code in (200, 201), response.json()
        response = api.post(f"/api/v2/sso-connections/{connection.id}/admin-onboarding", {}, format="json")
        assert response.status_code == 200, response.json()
    first, again = events("invitation.created", connection_id=connection.id)
    assert first.actor.startswith("api_key:") and first.ip == "127.0.0.1"
    assert first.data["email"] == "it@misapret.fr" and first.data["locale"] == "fr"
    assert first.data["resend"] is False and again.data["resend"] is True
    assert again.data["links_revoked"] == 1  # the first link stopped working when the second was issued
    assert first.organization_domain == connection.organization.domain

    from onboarding.services import onboarding_revoke_invitations

    assert onboarding_revoke_invitations(connection=connection) == 1
    revoked = one_event("invitation.revoked", connection_id=connection.id)
    assert revoked.actor == "system" and revoked.data == {"links_revoked": 1}
    assert onboarding_revoke_invitations(connection=connection) == 0
    assert len(events("invitation.revoked")) == 1  # nothing left to revoke: nothing recorded
