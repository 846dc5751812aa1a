"""POST /api/v2/oauth/token: the client credentials grant of API keys (RFC 6749 4.4)."""

import base64
import hashlib
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from organizations import services
from organizations.models import ApiAccessToken, ApiKey

from .helpers import assert_error, send

TOKEN_URL = "/api/v2/oauth/token"


@pytest.fixture
def key(db):
    api_key, secret = services.api_key_create(
        name="backend", scopes=["read:organizations", "write:organizations", "read:users"]
    )
    return api_key, secret


def token_rate_limit() -> int:
    """Requests per window the token endpoint allows one client (API_TOKEN_RATE, 60/min by default)."""
    from organizations.apis import TokenRateThrottle

    return TokenRateThrottle().num_requests


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote(client_id)}:{quote(client_secret)}".encode()).decode()


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize("as_", ["json", "form"])
def test_client_credentials_in_the_body_issue_a_working_bearer_token(key, as_):
    api_key, secret = key
    response = send(
        APIClient(),
        "post",
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        as_=as_,
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.API_ACCESS_TOKEN_LIFETIME
    assert body["scope"].split() == ["read:organizations", "write:organizations", "read:users"]
    assert response["Cache-Control"] == "no-store"
    assert bearer_client(body["access_token"]).get("/api/v2/organizations").status_code == 200


def test_client_credentials_as_http_basic_issue_a_working_token(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials"},
        format="json",
        HTTP_AUTHORIZATION=basic(api_key.client_id, secret),
    )
    assert response.status_code == 200, response.json()
    assert bearer_client(response.json()["access_token"]).get("/api/v2/organizations").status_code == 200


def test_access_token_is_stored_only_as_its_hash(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        format="json",
    )
    token = response.json()["access_token"]
    stored = ApiAccessToken.objects.get(api_key=api_key)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([stored.token_hash, stored.scopes])
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_token_can_be_narrowed_to_some_scopes_of_the_key(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": api_key.client_id,
            "client_secret": secret,
            "scope": "read:organizations",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "read:organizations"
    client = bearer_client(response.json()["access_token"])
    assert client.get("/api/v2/organizations").status_code == 200
    refused = client.post("/api/v2/organizations", {"name": "Acme", "locality": "Paris"}, format="json")
    assert_error(refused, 403, "insufficient_scope")


def test_scope_the_key_does_not_have_is_refused(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": api_key.client_id,
            "client_secret": secret,
            "scope": "read:organizations write:users",
        },
        format="json",
    )
    body = assert_error(response, 400, "invalid_scope")
    assert "write:users" in body["error_description"]
    assert not ApiAccessToken.objects.exists()


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda key_id, secret: {"client_id": key_id, "client_secret": secret + "x"}, id="wrong-secret"),
        pytest.param(lambda key_id, secret: {"client_id": key_id, "client_secret": ""}, id="empty-secret"),
        pytest.param(lambda key_id, secret: {"client_id": "key_unknown", "client_secret": secret}, id="unknown-client"),
        pytest.param(lambda key_id, secret: {"client_id": key_id}, id="no-secret"),
        pytest.param(lambda key_id, secret: {}, id="no-credentials"),
    ],
)
def test_bad_client_credentials_are_refused_with_invalid_client(key, credentials):
    api_key, secret = key
    body = {"grant_type": "client_credentials", **credentials(api_key.client_id, secret)}
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"] == 'Basic realm="api"'  # RFC 6749 5.2
    assert not ApiAccessToken.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda key_id, secret: basic(key_id, secret + "x"), id="wrong-secret"),
        pytest.param(lambda key_id, secret: "Basic !!!not-base64!!!", id="not-base64"),
        pytest.param(lambda key_id, secret: "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), id="not-utf8"),
        pytest.param(lambda key_id, secret: "Basic ", id="empty"),
    ],
)
def test_bad_http_basic_credentials_are_refused(key, header):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials"},
        format="json",
        HTTP_AUTHORIZATION=header(api_key.client_id, secret),
    )
    assert_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic")
    assert not ApiAccessToken.objects.exists()


def test_revoked_key_gets_no_token_and_its_tokens_stop_working(key):
    api_key, secret = key
    issued = (
        APIClient()
        .post(
            TOKEN_URL,
            {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
            format="json",
        )
        .json()["access_token"]
    )
    services.api_key_revoke(api_key=api_key)

    response = APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        format="json",
    )
    assert_error(response, 401, "invalid_client")
    assert_error(bearer_client(issued).get("/api/v2/organizations"), 401, "invalid_token")
    assert not ApiAccessToken.objects.exists()


def test_expired_token_is_refused(key):
    api_key, _ = key
    token, access_token = services.api_token_issue(api_key=api_key)
    ApiAccessToken.objects.filter(pk=access_token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = assert_error(bearer_client(token).get("/api/v2/organizations"), 401, "invalid_token")
    assert "expired" in body["error_description"]


def test_issuing_a_token_drops_the_expired_ones_of_that_key(key):
    api_key, secret = key
    _, old = services.api_token_issue(api_key=api_key)
    ApiAccessToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        format="json",
    )
    assert list(ApiAccessToken.objects.values_list("pk", flat=True)) != [old.pk]
    assert not ApiAccessToken.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"])
def test_unknown_grant_type_is_refused(key, grant_type):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL, {"grant_type": grant_type, "client_id": api_key.client_id, "client_secret": secret}, format="json"
    )
    assert_error(response, 400, "unsupported_grant_type")
    assert not ApiAccessToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "as_", "error"),
    [
        pytest.param({"client_id": "x", "client_secret": "y"}, "json", "invalid_request", id="missing-grant-type"),
        pytest.param(
            {"grant_type": "client_credentials", "audience": "x"}, "json", "invalid_request", id="unknown-field"
        ),
        pytest.param(
            {"grant_type": "client_credentials", "client_id": "k" * 101, "client_secret": "s"},
            "json",
            "invalid_request",
            id="overlong-client-id",
        ),
        pytest.param({"grant_type": ["client_credentials"]}, "json", "invalid_request", id="grant-type-not-a-string"),
        pytest.param(
            b'{"grant_type": "client_credentials",', "raw:application/json", "malformed_body", id="malformed-json"
        ),
        pytest.param(b'["client_credentials"]', "raw:application/json", "malformed_body", id="json-array"),
        pytest.param(b"grant_type=client_credentials", "raw:text/plain", "unsupported_media_type", id="text-plain"),
    ],
)
def test_bad_token_requests_get_the_error_shape(key, body, as_, error):
    response = send(APIClient(), "post", TOKEN_URL, body, as_=as_)
    status = 415 if error == "unsupported_media_type" else 400
    assert_error(response, status, error)
    assert not ApiAccessToken.objects.exists()


def test_token_endpoint_is_rate_limited_per_client_ip(key):
    client = APIClient(REMOTE_ADDR="192.0.2.77")
    body = {"grant_type": "client_credentials", "client_id": "key_unknown", "client_secret": "nope"}
    statuses = [client.post(TOKEN_URL, body, format="json").status_code for _ in range(token_rate_limit())]
    assert set(statuses) == {401}
    response = client.post(TOKEN_URL, body, format="json")
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0
    # Another address is not affected.
    assert APIClient(REMOTE_ADDR="192.0.2.78").post(TOKEN_URL, body, format="json").status_code == 401
    from django.core.cache import cache

    cache.delete_many(["throttle_api_token_192.0.2.77", "throttle_api_token_192.0.2.78"])


def test_token_endpoint_answers_get_with_method_not_allowed(db):
    assert_error(APIClient().get(TOKEN_URL), 405, "method_not_allowed")


def test_api_key_secret_is_stored_only_as_its_hash(key):
    api_key, secret = key
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.secret_hash, stored.client_id, stored.name}


def test_credentials_in_both_the_body_and_http_basic_are_refused(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": api_key.client_id, "client_secret": secret},
        format="json",
        HTTP_AUTHORIZATION=basic(api_key.client_id, secret),
    )
    assert_error(response, 400, "invalid_request")
    assert not ApiAccessToken.objects.exists()


def test_rate_limit_cannot_be_dodged_with_a_forged_x_forwarded_for(key):
    client = APIClient(REMOTE_ADDR="192.0.2.90")
    body = {"grant_type": "client_credentials", "client_id": "key_unknown", "client_secret": "nope"}
    statuses = [
        client.post(TOKEN_URL, body, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(token_rate_limit() + 1)
    ]
    assert statuses[:-1] == [401] * token_rate_limit()
    assert statuses[-1] == 429
    from django.core.cache import cache

    cache.delete("throttle_api_token_192.0.2.90")


def test_repeated_scopes_are_granted_once(key):
    api_key, secret = key
    response = APIClient().post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": api_key.client_id,
            "client_secret": secret,
            "scope": "read:users read:users",
        },
        format="json",
    )
    assert response.json()["scope"] == "read:users"
    assert ApiAccessToken.objects.get().scopes == ["read:users"]


@pytest.mark.parametrize("client_id", [b"key\x00x", "kéy".encode(), b"k" * 5000])
def test_client_ids_that_cannot_exist_are_invalid_client_over_http_basic(key, client_id):
    header = "Basic " + base64.b64encode(client_id + b":secret").decode()
    response = APIClient().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, format="json", HTTP_AUTHORIZATION=header
    )
    assert_error(response, 401, "invalid_client")
    assert not ApiAccessToken.objects.exists()


@pytest.mark.parametrize("client_id", ["key\x00x", "key\ud800"])
def test_client_ids_with_unstorable_characters_in_the_body_are_refused(key, client_id):
    response = send(
        APIClient(),
        "post",
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s"},
    )
    assert "client_id" in assert_error(response, 400, "invalid_request")["fields"]
    assert not ApiAccessToken.objects.exists()
