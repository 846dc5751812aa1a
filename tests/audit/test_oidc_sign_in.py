"""OIDC connections: the callback records the sign-in (succeeded with the user, or failed with the code)."""

import pytest

from tests.connections.oidc.conftest import (  # noqa: F401 (fixtures)
    CLIENT_ID,
    app,
    callback,
    connection,
    idp,
    org,
    start,
    tls,
)

from .conftest import events, one_event

pytestmark = pytest.mark.django_db


def test_oidc_sign_in_succeeded_and_provisioned(client, connection, idp):  # noqa: F811
    request = start(client, connection)
    idp.token_response = {
        "access_token": "at-1",
        "token_type": "Bearer",
        "id_token": idp.sign(idp.claims(client_id=CLIENT_ID, nonce=request["nonce"])),
    }
    assert callback(client, connection, code="code-1", state=request["state"]).status_code == 302
    succeeded = one_event("sso.login.succeeded", connection_id=connection.id)
    assert succeeded.data["protocol"] == "oidc" and succeeded.user_id
    provisioned = one_event("user.provisioned")
    assert provisioned.user_id == succeeded.user_id
    assert provisioned.actor == f"end_user:{succeeded.user_id}" and provisioned.ip == succeeded.ip
    assert "at-1" not in str([e.data for e in events()])


def test_oidc_refusal_is_recorded_with_its_code(client, connection, idp):  # noqa: F811
    request = start(client, connection)
    idp.token_response = {
        "access_token": "at-1",
        "token_type": "Bearer",
        "id_token": idp.sign(idp.claims(client_id=CLIENT_ID, nonce="another-nonce")),
    }
    assert callback(client, connection, code="code-1", state=request["state"]).status_code == 403
    failed = one_event("sso.login.failed", connection_id=connection.id)
    assert failed.data["error"] and failed.data["reason"] and failed.data["protocol"] == "oidc"
    assert not events("sso.login.succeeded")
