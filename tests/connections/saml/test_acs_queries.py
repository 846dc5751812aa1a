"""The ACS's SQL, pinned: a returning user whose directory entry the IdP's attributes leave unchanged (the
common login) costs the connection, the identity with its user, the identity's login stamp and the audit
line, and no transaction. The other logins (first one, changed profile, deactivated user) keep the locked
path; each test says what the login must have written, so a shortcut that skips a write fails here too.

Real parts: the gateway's ACS through Django's test client, a response signed by pysaml2's IdP,
PostgreSQL, Redis (sessions and the replay cache)."""

from datetime import UTC, datetime

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from applications.services import application_create
from connections.services import connection_create, connection_update
from cryptr_sso.models import AuditEvent
from organizations import services as directory
from organizations.models import Identity, User
from tests.connections.saml.idp import NAME_ID, TestIdp, post

pytestmark = pytest.mark.django_db

# A returning user, nothing to change: connection, identity + user, UPDATE identity, INSERT audit event.
RETURNING_LOGIN_QUERIES = 4


@pytest.fixture(autouse=True)
def _gateway_on_testserver(settings):
    settings.BASE_URL = "http://testserver"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the app's client secret


@pytest.fixture(scope="module")
def idp():
    return TestIdp("a")


@pytest.fixture
def sso(idp):
    org = directory.organization_create(name="Acme", locality="Paris")
    app, _ = application_create(
        organization=org,
        name="Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.acme.example/callback"],
    )
    created = connection_create(organization=org, application=app, provider_type="okta")
    return connection_update(
        connection=created,
        data={
            "saml_config": {"idp_metadata_xml": idp.metadata(), "allow_idp_initiated": True},
            "bypass_it_admin_test": True,
            "active": True,
        },
    )


def acs(client, idp, sso, *, attributes=None, now=None):
    answer = post(
        idp.response(
            in_response_to=None,
            attributes=attributes,
            now=now,
            audience=f"http://testserver/sso/sp/metadata/{sso.id}",
            recipient=f"http://testserver/sso/sp/consume/{sso.id}",
            destination=f"http://testserver/sso/sp/consume/{sso.id}",
        )
    )
    with CaptureQueriesContext(db) as queries:
        response = client.post(f"/sso/sp/consume/{sso.id}", {"SAMLResponse": answer})
    return response, [q["sql"] for q in queries.captured_queries]


def kinds(statements):
    return [sql.split()[0] for sql in statements]


def test_a_returning_login_makes_four_queries_and_no_transaction(client, idp, sso):
    first, _ = acs(client, idp, sso)
    assert first.status_code == 302, first.content[:500]

    response, statements = acs(client, idp, sso)

    assert response.status_code == 302, response.content[:500]
    assert len(statements) == RETURNING_LOGIN_QUERIES, "\n".join(statements)
    assert kinds(statements) == ["SELECT", "SELECT", "UPDATE", "INSERT"], "\n".join(statements)
    assert not any("FOR UPDATE" in sql or "SAVEPOINT" in sql for sql in statements)
    assert 'UPDATE "organizations_identity"' in statements[2]
    assert 'INSERT INTO "cryptr_sso_auditevent"' in statements[3]


def test_a_returning_login_stamps_the_identity(client, idp, sso):
    acs(client, idp, sso)
    identity = Identity.objects.get(idp_id=sso.id, subject=NAME_ID)
    Identity.objects.filter(pk=identity.pk).update(authenticated_at=datetime(2020, 1, 1, tzinfo=UTC), data={})
    later = datetime.now(UTC).replace(microsecond=0)

    response, _ = acs(
        client,
        idp,
        sso,
        attributes={"email": [NAME_ID], "firstName": ["Jane"], "lastName": ["Doe"], "department": ["R&D"]},
        now=later,
    )

    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.authenticated_at == later
    assert identity.data["attributes"]["department"] == ["R&D"]
    assert identity.data["name_id_format"].endswith(":emailAddress")
    assert User.objects.filter(organization=sso.organization).count() == 1
    assert AuditEvent.objects.filter(type="sso.login.succeeded").count() == 2
    assert not AuditEvent.objects.filter(type="user.updated").exists()


def test_a_changed_name_takes_the_locked_path_and_is_written_and_audited(client, idp, sso):
    acs(client, idp, sso)

    response, statements = acs(
        client, idp, sso, attributes={"email": [NAME_ID], "firstName": ["Janet"], "lastName": ["Doe"]}
    )

    assert response.status_code == 302
    user = User.objects.get(organization=sso.organization)
    assert user.profile["given_name"] == "Janet" and user.profile["name"] == "Janet Doe"
    assert AuditEvent.objects.filter(type="user.updated", user_id=str(user.pk)).count() == 1
    assert any("FOR UPDATE" in sql for sql in statements)


def test_an_unverified_email_takes_the_locked_path_and_is_verified(client, idp, sso):
    acs(client, idp, sso)
    User.objects.filter(organization=sso.organization).update(email_verified=False)

    response, _ = acs(client, idp, sso)

    assert response.status_code == 302
    assert User.objects.get(organization=sso.organization).email_verified


def test_a_deactivated_user_is_refused_on_a_returning_login(client, idp, sso):
    acs(client, idp, sso)
    identity = Identity.objects.get(idp_id=sso.id, subject=NAME_ID)
    User.objects.filter(pk=identity.user_id).update(active=False)
    stamp = identity.authenticated_at

    response, statements = acs(client, idp, sso)

    assert response.status_code == 403
    assert b"user_deactivated" in response.content
    identity.refresh_from_db()
    assert identity.authenticated_at == stamp
    assert not any(sql.startswith("UPDATE") for sql in statements)


def test_the_first_login_provisions_in_one_transaction(client, idp, sso):
    response, statements = acs(client, idp, sso)

    assert response.status_code == 302
    user = User.objects.get(organization=sso.organization, email=NAME_ID)
    assert Identity.objects.get(user=user).subject == NAME_ID
    assert AuditEvent.objects.filter(type="user.provisioned", user_id=str(user.pk)).count() == 1
    # The unlocked lookup finds nothing, then the locked path creates the rows inside one savepoint here
    # (a transaction in production).
    assert kinds(statements).count("SAVEPOINT") == 1


def test_sso_start_reads_the_connection_once(client, idp, sso):
    with CaptureQueriesContext(db) as queries:
        response = client.get(f"/sso/start/{sso.id}")
    statements = [q["sql"] for q in queries.captured_queries]
    # The test IdP takes HTTP-POST only: the page posts the signed AuthnRequest to it.
    assert response.status_code == 200, response.content[:500]
    assert idp.sso_url.encode() in response.content and b"SAMLRequest" in response.content
    reads = [sql for sql in statements if sql.startswith("SELECT") and '"connections_ssoconnection"' in sql]
    assert len(reads) == 1, "\n".join(statements)


def test_sso_start_still_refuses_an_inactive_connection(client, sso):
    connection_update(connection=sso, data={"active": False})
    response = client.get(f"/sso/start/{sso.id}")
    assert response.status_code in (403, 409), response.status_code
    assert b"SAMLRequest" not in response.content
