"""The RelayState the gateway sends with its AuthnRequest is opaque and short: the SAML bindings cap it at 80
bytes (SAMLBind 3.4.3 and 3.5.3), and where the browser goes back to (an authorize URL, or the wizard's test
page, whose path holds the onboarding link's token) stays at the gateway, bound to the request id. The login
still lands where it started, against the samlify IdP, which echoes the RelayState."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.connections.saml_browser import browser, follow, sign_in_at_idp
from tests.connections.test_saml_sign_in import (  # noqa: F401 (fixtures)
    REDIRECT_URI,
    authorize_url,
    code_of,
    exchange,
    gateway,
    idp,
    tenant,
)
from tests.oauth.conftest import pkce_pair

pytestmark = [pytest.mark.peer, pytest.mark.django_db(transaction=True)]


def _relay_states(gateway, tenant, count=3):  # noqa: F811
    org, app, connection = tenant
    found = []
    for _ in range(count):
        session = browser()
        _, challenge = pkce_pair()
        response = session.get(authorize_url(gateway, org, app, connection, challenge), allow_redirects=False)
        response = session.get(f"{gateway}{response.headers['Location']}", allow_redirects=False)
        assert response.status_code == 302, response.text[:500]
        found.append(parse_qs(urlsplit(response.headers["Location"]).query)["RelayState"][0])
    return found


def test_the_relay_state_is_opaque_short_and_new_for_each_request(gateway, tenant, idp):  # noqa: F811
    states = _relay_states(gateway, tenant)
    for state in states:
        assert len(state.encode()) <= 80
        assert "/" not in state and "authorize" not in state and "client_id" not in state
    assert len(set(states)) == len(states)


def test_the_login_lands_on_the_authorize_request_it_started_from(gateway, tenant, idp):  # noqa: F811
    org, app, connection = tenant
    verifier, challenge = pkce_pair()
    session = browser()
    response = session.get(
        authorize_url(gateway, org, app, connection, challenge, state="kept-at-gateway"), allow_redirects=False
    )
    response = follow(session, response, stop_at=REDIRECT_URI)
    response = sign_in_at_idp(session, response, username="alice", password="alice-password", stop_at=REDIRECT_URI)
    params = code_of(response)
    assert params["state"] == "kept-at-gateway"
    assert exchange(gateway, org, app, params["code"], verifier)["id_token"]
