"""The actor of each event is whoever really acted, with their request's IP and user agent: the IT admin
through the onboarding link for every write of the wizard (not "system"), the end user when their IdP's
SAML single logout revokes their tokens, the operator or API key that revokes all sessions of a user."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from onboarding.wizard import wizard_connection_updated
from tests.connections.test_saml_logout import (  # noqa: F401 (fixtures)
    crafting_idp,
    logout_request,
    open_session,
    send_redirect,
    slo_path,
    sp,
)
from tests.onboarding.conftest import connection, make_connection  # noqa: F401 (fixtures)
from tests.onboarding.wizard.conftest import (  # noqa: F401 (fixtures)
    _gateway_on_testserver,
    invited,
    test_idp,
    token,
    wizard_url,
)
from tests.onboarding.wizard.test_test_login import idp_answer, start_test

from .conftest import events, one_event

pytestmark = pytest.mark.django_db

IT_ADMIN = "it_admin:it@misapret.example"
BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 (IT admin)"}


@pytest.fixture
def it_admin_client(client):
    client.defaults.update(BROWSER)
    return client


def assert_it_admin(event):
    assert (event.actor, event.ip, event.user_agent) == (IT_ADMIN, "203.0.113.9", "Mozilla/5.0 (IT admin)"), (
        event.type,
        event.actor,
        event.ip,
    )


def test_every_write_of_the_wizard_names_the_it_admin_and_their_browser(it_admin_client, wizard_url, invited, test_idp):  # noqa: F811
    client = it_admin_client
    connection_, _token = invited
    set_up = len(events())  # the organization, application and connection the fixtures made
    assert client.post(wizard_url("choose-provider"), {"provider_type": "okta"}).status_code == 303
    assert (
        client.post(wizard_url("idp-metadata"), {"method": "upload", "metadata_xml": test_idp.metadata()}).status_code
        == 303
    )
    assert (
        client.post(
            wizard_url("attribute-mapping"),
            {"email": "user.mail", "given_name": "user.first", "family_name": "user.last"},
        ).status_code
        == 303
    )
    updates = events("connection.updated", connection_id=connection_.id)
    changed = [sorted(event.data["changes"]) for event in updates]
    assert len(updates) == 3, changed
    assert any("provider_type" in fields for fields in changed)
    assert any("idp_entity_id" in fields for fields in changed)
    assert any("attribute_mapping" in fields for fields in changed)
    for event in updates:
        assert_it_admin(event)

    request_id = start_test(client, wizard_url)
    assert (
        client.post(
            f"/sso/sp/consume/{connection_.id}", {"SAMLResponse": idp_answer(test_idp, connection_, request_id)}
        ).status_code
        == 302
    )
    client.get(wizard_url("test-result"))
    tested = one_event("connection.tested")
    assert tested.data["succeeded"] is True
    assert_it_admin(tested)

    assert client.post(wizard_url("activate"), {"nav": "next"}).status_code == 303
    assert_it_admin(one_event("connection.activated", connection_id=connection_.id))
    walked = events()[set_up:]
    assert walked and all(e.actor.startswith(("it_admin:", "end_user:")) for e in walked), [
        (e.type, e.actor) for e in walked
    ]


def test_a_wizard_write_without_a_request_still_names_the_it_admin(invited):  # noqa: F811
    connection_, _token = invited
    onboarding = connection_.admin_onboarding
    wizard_connection_updated(
        onboarding=onboarding,
        step_key="attribute_mapping",
        data={"saml_config": {"attribute_mapping": {"email": "mail"}}},
        entered={},
    )
    updated = one_event("connection.updated", connection_id=connection_.id)
    assert (updated.actor, updated.ip) == (IT_ADMIN, "")


def test_saml_single_logout_revokes_the_tokens_as_the_end_user(client, sp):  # noqa: F811
    user = sp["user"]
    get_access_token_model().objects.create(
        user=user, application=sp["app"], token="at-slo", scope="openid", expires=timezone.now() + timedelta(hours=1)
    )
    open_session(client, sp)
    client.defaults.update(REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="Mozilla/5.0 (SLO)")
    server = crafting_idp(entity_id=sp["idp_a"].entity_id, key="a")
    path = slo_path(sp["a"])
    response = send_redirect(client, server, logout_request(server, destination=f"http://testserver{path}"), path=path)
    assert response.status_code == 302, response.content[:500]
    revoked = one_event("token.revoked", user_id=str(user.pk))
    assert revoked.actor == f"end_user:{user.pk}"
    assert revoked.data["reason"] == "saml_slo" and revoked.connection_id == sp["a"].id
    assert (revoked.ip, revoked.user_agent) == ("198.51.100.23", "Mozilla/5.0 (SLO)")
    assert not get_access_token_model().objects.filter(user=user).exists()
