"""The operator's pages: connection health (lifecycle, last sign-ins from the trail, certificate expiry),
organization overview, the read-only audit trail, and the actions, each recorded with the operator."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import User as Operator
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from applications import services as application_services
from connections import services
from connections.models import SSOConnection
from cryptr_sso.audit import record_event
from organizations.models import User

from .conftest import CALLBACK, one_event

pytestmark = pytest.mark.django_db


def certificate_pem(days: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def operator_client(client, db):
    operator = Operator.objects.create_superuser("operator", "operator@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    return client


@pytest.fixture
def application(org):
    created, _secret = application_services.application_create(
        organization=org, name="App", application_type="regular_web", allowed_redirect_uris_after_login=[CALLBACK]
    )
    return created


def make_connection(org, application, **fields) -> SSOConnection:
    connection = services.connection_create(organization=org, application=application, provider_type="okta")
    if fields:
        SSOConnection.objects.filter(pk=connection.pk).update(**fields)
        connection.refresh_from_db()
    return connection


def login_events(connection, *, failed_reason="The IdP's signature did not verify."):
    record_event(type="sso.login.succeeded", organization=connection.organization, connection_id=connection.id)
    record_event(
        type="sso.login.failed",
        organization=connection.organization,
        connection_id=connection.id,
        data={"error": "saml_signature_invalid", "reason": failed_reason},
    )


def test_connection_list_shows_lifecycle_last_sign_ins_and_expiry_without_n_plus_one(
    operator_client, org, application, django_assert_max_num_queries
):
    for _ in range(2):
        login_events(make_connection(org, application, idp_certificates=[certificate_pem(10)]))
    url = "/admin/connections/ssoconnection/"
    operator_client.get(url)
    with django_assert_max_num_queries(40) as few:
        page = operator_client.get(url).content.decode()
    assert "saml_signature_invalid" in page and "draft" in page and "expires" in page and "&#9888;" in page
    for _ in range(6):
        login_events(make_connection(org, application, idp_certificates=[certificate_pem(400)]))
    with django_assert_max_num_queries(40) as many:
        assert operator_client.get(url).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("state", ["draft", "tested", "active", "inactive"])
def test_connection_list_filters_by_lifecycle(operator_client, org, application, state):
    now = timezone.now()
    make_connection(org, application)
    make_connection(org, application, last_successful_test_at=now)
    make_connection(org, application, last_successful_test_at=now, active=True)
    make_connection(org, application, last_successful_test_at=now, deactivated_at=now)
    response = operator_client.get("/admin/connections/ssoconnection/", {"lifecycle": state})
    assert response.status_code == 200
    assert [c.lifecycle for c in response.context["cl"].result_list] == [state]


def test_connection_page_shows_health(operator_client, org, application):
    connection = make_connection(org, application, idp_certificates=[certificate_pem(12), certificate_pem(300)])
    login_events(connection, failed_reason="The assertion was sent to another connection's ACS URL.")
    page = operator_client.get(f"/admin/connections/ssoconnection/{connection.pk}/change/").content.decode()
    assert "another connection&#x27;s ACS URL" in page or "another connection's ACS URL" in page
    assert "Last successful" in page and "in 11 days" in page and "lifecycle" in page.lower()
    assert "Onboarding" in page  # the onboarding progress is still there


def test_deactivate_action_records_the_operator(operator_client, org, application):
    connection = make_connection(
        org,
        application,
        active=True,
        last_successful_test_at=timezone.now(),
        idp_entity_id="https://idp.example",
        idp_sso_url="https://idp.example/sso",
        idp_certificates=[certificate_pem(300)],
    )
    response = operator_client.post(
        "/admin/connections/ssoconnection/",
        {"action": "deactivate_connections", "_selected_action": [connection.pk]},
        follow=True,
    )
    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.lifecycle == "inactive" and connection.deactivated_by == "operator:operator"
    event = one_event("connection.deactivated", connection_id=connection.id)
    assert event.actor == "operator:operator" and event.data["lifecycle"] == {"old": "active", "new": "inactive"}


def test_admin_changes_are_recorded_with_the_operator(operator_client, org):
    response = operator_client.post(
        f"/admin/organizations/organization/{org.pk}/change/",
        {"name": org.name, "locality": "Lyon", "country_name": "", "state": "", "allowed_email_domains": "[]"},
    )
    assert response.status_code == 302, response.content[:2000]
    event = one_event("organization.updated")
    assert event.actor == "operator:operator" and event.data["changes"] == {"locality": {"old": "Paris", "new": "Lyon"}}


def test_organization_page_lists_connections_applications_users_and_recent_events(
    operator_client, org, application, django_assert_max_num_queries
):
    connection = make_connection(org, application)
    record_event(type="sso.login.failed", organization=org, connection_id=connection.id, data={"error": "x"})
    page = operator_client.get(f"/admin/organizations/organization/{org.pk}/change/").content.decode()
    assert connection.id in page and "1 applications" in page and "0 users" in page
    assert "sso.login.failed" in page and "All events of this organization" in page
    listing = operator_client.get("/admin/organizations/organization/").content.decode()
    assert "1 connections" in listing and "1 applications" in listing


def test_audit_trail_admin_is_read_only_and_filterable(operator_client, org):
    record_event(type="sso.login.failed", organization=org, connection_id="misapret_abc", actor="end_user:anonymous")
    record_event(type="token.issued", organization=org, connection_id="misapret_def", user="u-42")
    url = "/admin/cryptr_sso/auditevent/"
    assert operator_client.get(url).status_code == 200
    found = operator_client.get(url, {"type_prefix": "sso.login."}).context["cl"].result_list
    assert [e.type for e in found] == ["sso.login.failed"]
    assert [e.type for e in operator_client.get(url, {"q": "misapret_def"}).context["cl"].result_list] == [
        "token.issued"
    ]
    assert [e.type for e in operator_client.get(url, {"q": "u-42"}).context["cl"].result_list] == ["token.issued"]
    assert operator_client.get(url, {"organization__id__exact": org.pk}).status_code == 200
    event = found[0]
    assert operator_client.get(f"{url}{event.pk}/change/").status_code == 200
    assert operator_client.get(f"{url}add/").status_code == 403
    assert operator_client.post(f"{url}{event.pk}/delete/", {"post": "yes"}).status_code == 403


def test_revoke_all_sessions_of_a_user(operator_client, org, application):
    user = User.objects.create(organization=org, email="ada@misapret.fr")
    expires = timezone.now() + dt.timedelta(hours=1)
    access = get_access_token_model().objects.create(
        user=user, application=application, token="at-1", expires=expires, scope="openid"
    )
    get_refresh_token_model().objects.create(user=user, application=application, token="rt-1", access_token=access)
    response = operator_client.post(
        "/admin/organizations/user/", {"action": "revoke_sessions", "_selected_action": [user.pk]}, follow=True
    )
    assert response.status_code == 200
    assert not get_access_token_model().objects.filter(user=user).exists()
    assert get_refresh_token_model().objects.get(user=user).revoked is not None
    revoked = one_event("token.revoked", user_id=str(user.pk))
    assert revoked.actor == "operator:operator" and revoked.data["reason"] == "operator"
    assert one_event("user.sessions_revoked").actor == "operator:operator"
