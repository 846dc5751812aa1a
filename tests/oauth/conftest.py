import base64
import hashlib
import secrets
from importlib import import_module
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from django.conf import settings
from django.test import RequestFactory

from applications.models import Application
from connections.login_session import end_user_login
from connections.models import SSOConnection, new_idp_id
from organizations import services

REDIRECT_URI = "https://app.example/callback"
LOGOUT_URI = "https://app.example/signed-out"
ORIGIN = "https://app.example"
CONFIDENTIAL_SECRET = "s3cret-" + "x" * 40


def pkce_pair(verifier: str | None = None) -> tuple[str, str]:
    verifier = verifier or secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def issuer(org) -> str:
    return f"{settings.BASE_URL}/t/{org.domain}"


def session_cookie_for(user, *, idp_id: str, provider_type: str = "okta") -> tuple[str, str]:
    """An end-user session exactly as an SSO login leaves it (through the login_session contract)."""
    request = RequestFactory().get("/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    end_user_login(request, user=user, idp_id=idp_id, provider_type=provider_type)
    request.session.save()
    return settings.SESSION_COOKIE_NAME, request.session.session_key


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


class Tenant:
    """One organization with a user, an SSO connection, a public and a confidential application."""

    def __init__(self, name: str):
        self.org = services.organization_create(name=name, locality="Paris")
        self.user = services.user_create(
            organization=self.org,
            email=f"jane@{self.org.domain}.example",
            email_verified=True,
            profile={"given_name": "Jane", "family_name": "Doe"},
        )
        self.public_app = make_application(self.org, client_type=Application.CLIENT_PUBLIC)
        self.confidential_app = make_application(self.org, client_type=Application.CLIENT_CONFIDENTIAL)
        self.connection = SSOConnection.objects.create(
            id=new_idp_id(self.org.domain), organization=self.org, application=self.public_app, provider_type="okta"
        )
        self.idp_id = self.connection.id

    @property
    def issuer(self) -> str:
        return issuer(self.org)

    def url(self, path: str) -> str:
        return f"/t/{self.org.domain}{path}"

    def session_cookie(self, user=None) -> tuple[str, str]:
        return session_cookie_for(user or self.user, idp_id=self.idp_id)

    def sign_in(self, client, user=None) -> None:
        name, value = self.session_cookie(user)
        client.cookies[name] = value

    def authorize(self, client, app=None, *, verifier: str | None = "", **params):
        """GET the authorize endpoint; `verifier=None` sends no PKCE. Returns (response, verifier)."""
        app = app or self.public_app
        query = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile",
            "state": "st4te",
            "nonce": "n0nce",
        }
        if verifier is not None:
            verifier, challenge = pkce_pair(verifier or None)
            query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        query |= params
        return client.get(self.url("/oauth2/authorize") + "?" + urlencode(query)), verifier

    def code_for(self, client, app=None, **params) -> tuple[str, str]:
        response, verifier = self.authorize(client, app, **params)
        assert response.status_code == 302, response.content
        location = query_of(response["Location"])
        assert response["Location"].startswith(REDIRECT_URI), response["Location"]
        return location["code"], verifier

    def exchange(self, client, code: str, verifier: str | None, app=None, headers=None, **extra):
        app = app or self.public_app
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
        }
        if verifier:
            data["code_verifier"] = verifier
        if app.client_type == Application.CLIENT_CONFIDENTIAL:
            data["client_secret"] = CONFIDENTIAL_SECRET
        data |= extra
        return client.post(self.url("/oauth2/token"), data, headers=headers or {})

    def tokens(self, client, app=None) -> dict:
        self.sign_in(client)
        code, verifier = self.code_for(client, app)
        response = self.exchange(client, code, verifier, app)
        assert response.status_code == 200, response.content
        return response.json()

    def refresh(self, client, refresh_token: str, app=None):
        app = app or self.public_app
        return client.post(
            self.url("/oauth2/token"),
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id},
        )

    def decode(self, client, token: str, *, audience: str | None = None) -> dict:
        jwks = jwt.PyJWKSet.from_dict(client.get(self.url("/.well-known/jwks")).json())
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(key for key in jwks.keys if key.key_id == kid)
        return jwt.decode(
            token, key=key, algorithms=["RS256"], audience=audience or self.public_app.client_id, issuer=self.issuer
        )


def make_application(org, *, client_type: str, **extra) -> Application:
    fields = {
        "organization": org,
        "name": f"{org.name} {client_type} app",
        "client_type": client_type,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": REDIRECT_URI,
        "post_logout_redirect_uris": LOGOUT_URI,
        "allowed_origins": ORIGIN,
        "client_secret": CONFIDENTIAL_SECRET if client_type == Application.CLIENT_CONFIDENTIAL else "",
    } | extra
    return Application.objects.create(**fields)


@pytest.fixture(autouse=True)
def fast_client_secret_hashing(settings):
    # Client secrets are hashed like passwords; the production hasher's cost only slows the tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant_a(db):
    return Tenant("Misapret")


@pytest.fixture
def tenant_b(db):
    return Tenant("B'Oréal")
