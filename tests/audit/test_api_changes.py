"""Every change made through the API is in the audit trail: who (the API key), what changed (old/new),
secrets masked."""

import pytest
from django.utils import timezone

from connections.models import SSOConnection

from .conftest import OKTA_METADATA, events, one_event

pytestmark = pytest.mark.django_db


def test_organization_created_updated_deleted_by_the_api_key(api):
    created = api.post(
        "/api/v2/organizations",
        {"name": "Misapret", "locality": "Paris"},
        format="json",
        HTTP_USER_AGENT="billing-backend/1.0",
        REMOTE_ADDR="192.0.2.10",
    ).json()
    event = one_event("organization.created")
    assert event.actor == f"api_key:{api.api_key.client_id}" and event.organization_domain == "misapret"
    assert event.ip == "192.0.2.10" and event.user_agent == "billing-backend/1.0"
    assert event.data["changes"]["name"] == {"old": None, "new": "Misapret"}

    api.put(f"/api/v2/organizations/{created['domain']}", {"locality": "Lyon"}, format="json")
    assert one_event("organization.updated").data["changes"] == {"locality": {"old": "Paris", "new": "Lyon"}}

    assert api.delete(f"/api/v2/organizations/{created['domain']}").status_code == 200
    deleted = one_event("organization.deleted")
    assert deleted.organization is None and deleted.organization_domain == "misapret"
    assert deleted.actor == f"api_key:{api.api_key.client_id}"


def test_user_created_updated_deleted(api, org):
    user = api.post(f"/api/v2/org/{org.domain}/users", {"email": "ada@misapret.fr"}, format="json").json()
    assert one_event("user.created").user_id == user["id"]
    api.put(
        f"/api/v2/org/{org.domain}/users/{user['id']}",
        {"active": False, "profile": {"given_name": "Ada"}},
        format="json",
    )
    changes = one_event("user.updated").data["changes"]
    assert changes["active"] == {"old": True, "new": False}
    assert changes["profile"] == {"old": {}, "new": {"given_name": "Ada"}}
    api.delete(f"/api/v2/org/{org.domain}/users/{user['id']}")
    deleted = one_event("user.deleted")
    assert deleted.user_id == user["id"] and deleted.data == {"email": "ada@misapret.fr"}


def test_application_events_never_hold_the_client_secret(api, org, make_app):
    application = make_app(org, application_type="regular_web")
    assert application["client_secret"]
    created = one_event("application.created")
    assert created.data["client_id"] == application["client_id"]
    assert created.data["changes"]["client_secret"] == "[masked]"
    api.put(f"/api/v2/org/{org.domain}/applications/{application['id']}", {"name": "Renamed"}, format="json")
    assert one_event("application.updated").data["changes"] == {"name": {"old": "App", "new": "Renamed"}}
    api.delete(f"/api/v2/org/{org.domain}/applications/{application['id']}")
    assert one_event("application.deleted").data["client_id"] == application["client_id"]
    trail = str([e.data for e in events()])
    assert application["client_secret"] not in trail


def test_connection_created_updated_activated_deactivated_deleted(api, org, make_connection):
    connection = make_connection(org)
    idp_id = connection["id"]
    assert connection["lifecycle"] == "draft"
    assert one_event("connection.created", connection_id=idp_id).data["lifecycle"] == "draft"

    api.put(f"/api/v2/sso-connections/{idp_id}", {"saml_config": {"idp_metadata_xml": OKTA_METADATA}}, format="json")
    changes = one_event("connection.updated", connection_id=idp_id).data["changes"]
    assert changes["idp_entity_id"]["old"] == "" and changes["idp_entity_id"]["new"]
    assert changes["idp_metadata_xml"]["new"].endswith("characters]")  # summarized, not copied

    SSOConnection.objects.filter(pk=idp_id).update(last_successful_test_at=timezone.now())
    body = api.put(f"/api/v2/sso-connections/{idp_id}", {"active": True}, format="json").json()
    assert body["lifecycle"] == "active"
    activated = one_event("connection.activated")
    assert activated.actor == f"api_key:{api.api_key.client_id}"
    assert activated.data["lifecycle"] == {"old": "tested", "new": "active"}

    body = api.put(f"/api/v2/sso-connections/{idp_id}", {"active": False}, format="json").json()
    assert body["lifecycle"] == "inactive" and body["deactivated_at"]
    assert one_event("connection.deactivated").data["lifecycle"] == {"old": "active", "new": "inactive"}
    assert SSOConnection.objects.get(pk=idp_id).deactivated_by == f"api_key:{api.api_key.client_id}"

    api.delete(f"/api/v2/sso-connections/{idp_id}")
    assert one_event("connection.deleted", connection_id=idp_id).data["lifecycle"] == "inactive"


def test_refused_activation_records_nothing(api, org, make_connection):
    idp_id = make_connection(org)["id"]
    before = len(events())
    assert api.put(f"/api/v2/sso-connections/{idp_id}", {"active": True}, format="json").status_code == 422
    assert len(events()) == before


def test_oidc_client_secret_is_masked_in_the_trail(api, org, make_connection, monkeypatch):
    idp_id = make_connection(org, protocol="oidc")["id"]
    response = api.put(
        f"/api/v2/sso-connections/{idp_id}",
        {"oidc_config": {"client_id": "rp", "client_secret": "very-secret-value"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    changes = one_event("connection.updated", connection_id=idp_id).data["changes"]
    assert changes["oidc_client_secret_encrypted"] == "[masked]"
    assert "very-secret-value" not in str([e.data for e in events()])


def test_api_key_created_and_revoked(org):
    from organizations import services

    api_key, secret = services.api_key_create(name="billing", organizations=[org])
    created = one_event("api_key.created", organization=org)
    assert created.data["client_id"] == api_key.client_id and secret not in str(created.data)
    services.api_key_revoke(api_key=api_key)
    assert one_event("api_key.revoked", organization=org).data["client_id"] == api_key.client_id


def test_a_tested_connection_given_another_idp_goes_back_to_draft_and_needs_a_new_test(api, org, make_connection):
    from .conftest import SAMPLES

    idp_id = make_connection(org)["id"]
    url = f"/api/v2/sso-connections/{idp_id}"
    assert api.put(url, {"saml_config": {"idp_metadata_xml": OKTA_METADATA}}, format="json").status_code == 200
    SSOConnection.objects.filter(pk=idp_id).update(last_successful_test_at=timezone.now())
    assert api.get(url).json()["lifecycle"] == "tested"

    # The same metadata again, or a change the test does not vouch for: still tested.
    same = api.put(url, {"saml_config": {"idp_metadata_xml": OKTA_METADATA}}, format="json").json()
    assert same["lifecycle"] == "tested"
    assert api.put(url, {"users_provisioning": "existing_users_only"}, format="json").json()["lifecycle"] == "tested"

    other = (SAMPLES / "okta/okta_metadata_ssoready_2024.xml").read_text(encoding="utf-8")
    body = api.put(url, {"saml_config": {"idp_metadata_xml": other}}, format="json").json()
    assert body["lifecycle"] == "draft"
    response = api.put(url, {"active": True}, format="json")
    assert response.status_code == 422 and "test" in response.json()["error_description"]

    changes = events("connection.updated", connection_id=idp_id)[-1].data["changes"]
    assert changes["last_successful_test_at"]["new"] is None  # the trail says the test no longer holds


def test_a_changed_attribute_mapping_needs_a_new_test_but_an_active_connection_keeps_serving(api, org, make_connection):
    idp_id = make_connection(org)["id"]
    url = f"/api/v2/sso-connections/{idp_id}"
    api.put(url, {"saml_config": {"idp_metadata_xml": OKTA_METADATA}}, format="json")
    SSOConnection.objects.filter(pk=idp_id).update(last_successful_test_at=timezone.now())
    body = api.put(url, {"saml_config": {"attribute_mapping": {"email": "mail"}}}, format="json").json()
    assert body["lifecycle"] == "draft"

    SSOConnection.objects.filter(pk=idp_id).update(last_successful_test_at=timezone.now())
    assert api.put(url, {"active": True}, format="json").json()["lifecycle"] == "active"
    body = api.put(url, {"saml_config": {"attribute_mapping": {"email": "email"}}}, format="json").json()
    assert body["lifecycle"] == "active" and body["active"] is True
