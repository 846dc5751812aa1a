"""SQL per request at the authorize and token endpoints, pinned so that a change that reads a row again
fails here (benchmarks/saml_logins.py --breakdown measures the same requests).

The budgets count statements; the SAVEPOINT/RELEASE lines are the transactions (inside the test's own
transaction, each BEGIN/COMMIT of the code is a savepoint)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.models import AccessToken, Grant, IDToken, RefreshToken
from applications.oauth.validators import GatewayOAuth2Validator
from cryptr_sso.models import AuditEvent

# authorize with a session: the end user, the Application twice (oauthlib's validation, shared by both
# oauthlib requests, and django-oauth-toolkit's AuthorizationView.get), the Grant INSERT. The organization
# comes from the process's copy (applications.oauth.tenancy), warm after the first request.
AUTHORIZE_BUDGET = 4
# token exchange: the Grant (with its user, once), the Application, INSERTs of the IDToken, AccessToken,
# RefreshToken and audit event, the Grant DELETE, DOT's AccessToken read for its app_authorized signal
# (TokenView, after the response is made).
TOKEN_BUDGET = 8


def statements(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]


def on_table(sql_list: list[str], table: str, verb: str = "") -> list[str]:
    """The statements starting with `verb` whose own table (not a joined one) is `table`."""
    target = {
        "SELECT": f'FROM "{table}"',
        "INSERT": f'INSERT INTO "{table}"',
        "UPDATE": f'UPDATE "{table}"',
        "DELETE": f'DELETE FROM "{table}"',
    }.get(verb, f'"{table}"')
    return [sql for sql in sql_list if sql.startswith(verb) and target in sql]


@pytest.fixture
def signed_in(client, tenant_a):
    tenant_a.sign_in(client)
    tenant_a.tokens(client)  # the signing key view and the session are warm, as in production
    return client


def test_authorize_loads_the_application_once_per_oauthlib_pass_and_writes_the_grant_once(signed_in, tenant_a):
    with CaptureQueriesContext(connection) as queries:
        code, _ = tenant_a.code_for(signed_in)
    sql = statements(queries)
    assert len(sql) <= AUTHORIZE_BUDGET, "\n".join(sql)
    assert len(on_table(sql, "applications_application", "SELECT")) == 2
    assert len(on_table(sql, "applications_grant", "INSERT")) == 1
    assert not on_table(sql, "applications_grant", "UPDATE"), "the SSO sign-in goes into the INSERT"
    assert not on_table(sql, "organizations_organization", "SELECT"), "the tenant's organization is kept"
    grant = Grant.objects.get(code=code)
    assert (grant.idp_id, grant.provider_type) == (tenant_a.idp_id, "okta") and grant.auth_time is not None


@pytest.mark.parametrize("confidential", [False, True], ids=["public+pkce", "confidential"])
def test_a_token_exchange_reads_the_grant_once_and_the_key_table_never(signed_in, tenant_a, confidential):
    app = tenant_a.confidential_app if confidential else tenant_a.public_app
    code, verifier = tenant_a.code_for(signed_in, app, verifier=None if confidential else "")
    with CaptureQueriesContext(connection) as queries:
        response = tenant_a.exchange(signed_in, code, verifier, app)
    assert response.status_code == 200, response.content
    sql = statements(queries)  # now: the next request of the test client empties the query log
    transactions = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SAVEPOINT")]
    assert len(sql) <= TOKEN_BUDGET, "\n".join(sql)
    assert len(on_table(sql, "applications_grant", "SELECT")) == 1
    assert len(on_table(sql, "applications_application", "SELECT")) == 1
    assert not on_table(sql, "organizations_user", "SELECT"), "the user comes with the Grant"
    assert not on_table(sql, "organizations_organization", "SELECT"), "the tenant's organization is kept"
    assert not on_table(sql, "cryptr_sso_signingkey")
    assert not on_table(sql, "applications_idtoken", "SELECT"), "the ID token row is not read back"
    claims = tenant_a.decode(signed_in, response.json()["id_token"], audience=app.client_id)
    assert claims["sci"] == tenant_a.idp_id and claims["nonce"] == "n0nce"
    # One transaction (a savepoint inside the test's) for the five writes.
    assert len(transactions) == 1, transactions


def test_a_code_exchange_that_loses_the_grant_to_a_concurrent_one_keeps_no_tokens(signed_in, tenant_a, monkeypatch):
    code, verifier = tenant_a.code_for(signed_in)
    invalidate = GatewayOAuth2Validator.invalidate_authorization_code

    def concurrent_exchange_wins(self, client_id, code, request, *args, **kwargs):
        Grant.objects.filter(code=code).delete()  # what the other exchange's DELETE leaves
        return invalidate(self, client_id, code, request, *args, **kwargs)

    monkeypatch.setattr(GatewayOAuth2Validator, "invalidate_authorization_code", concurrent_exchange_wins)
    before = {model: model.objects.count() for model in (AccessToken, RefreshToken, IDToken, AuditEvent)}
    response = tenant_a.exchange(signed_in, code, verifier)
    # (oauthlib gives this error no Content-Type header.)
    assert response.status_code == 400 and json.loads(response.content)["error"] == "invalid_grant"
    assert {model: model.objects.count() for model in before} == before, "tokens nobody received are not kept"


def test_the_grant_read_once_is_still_only_its_own_clients(signed_in, tenant_a):
    """A code issued to the public client, presented by the confidential client of the same
    organization (with its valid secret): refused, as django-oauth-toolkit's per-client lookups do."""
    code, verifier = tenant_a.code_for(signed_in, tenant_a.public_app)
    response = tenant_a.exchange(signed_in, code, verifier, tenant_a.confidential_app)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert Grant.objects.filter(code=code).exists(), "the code stays usable by its own client"
    assert tenant_a.exchange(signed_in, code, verifier).status_code == 200


def test_a_grant_with_rfc8707_resources_still_gets_django_oauth_toolkit_s_checks(signed_in, tenant_a):
    code, verifier = tenant_a.code_for(signed_in, resource="https://api.app.example/")
    assert Grant.objects.get(code=code).resource == ["https://api.app.example/"]
    escalating = tenant_a.exchange(signed_in, code, verifier, resource="https://other.example/")
    assert escalating.status_code == 400 and json.loads(escalating.content)["error"] == "invalid_target"
    response = tenant_a.exchange(signed_in, code, verifier)
    assert response.status_code == 200, response.content
    assert AccessToken.objects.order_by("-id").first().resource == ["https://api.app.example/"]
