"""The relying party's code exchange, on mozilla-django-oidc's backend with one configuration per connection.

OIDCAuthenticationBackend reads the global OIDC_OP_* settings in __init__, looks users up by email
across the whole database, trusts the token header's algorithm and calls the IdP without timeouts.
This subclass takes everything from the connection, calls the IdP through connections.oidc.http
(https, public addresses, timeouts, size caps), validates the ID token with IdTokenValidator and
hands the verified subject to sso_sign_in, which keys users on (connection, sub).
"""

import base64
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from django.utils.translation import gettext_lazy
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from connections.exceptions import (
    EmailNotVerified,
    IdTokenMalformed,
    OidcFetchError,
    OidcTokenRequestFailed,
    OidcUserinfoError,
)
from connections.models import SSOConnection
from connections.providers import MAPPED_CLAIMS, default_attribute_mapping
from connections.sign_in import AssertedIdentity, sso_sign_in
from organizations.models import User

from . import http
from .config import OidcSettings
from .tokens import IdTokenValidator

logger = logging.getLogger(__name__)

# Claims about the token itself: only ever read from the validated ID token, never from userinfo.
PROTOCOL_CLAIMS = frozenset(
    {
        "iss",
        "aud",
        "azp",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "auth_time",
        "at_hash",
        "c_hash",
        "acr",
        "amr",
        "sid",
        "jti",
        "hd",
        "tid",
    }
)
# Recorded on the identity as this subject-format marker, so that an email-looking `sub` is never taken for
# the email address (sign_in.mapped_claims falls back to the subject only for SAML email NameIDs).
SUBJECT_FORMAT = "urn:openid:connect:sub"


class ConnectionOidcBackend(OIDCAuthenticationBackend):
    def __init__(self, settings: OidcSettings):  # no super().__init__: it reads the global settings
        self.settings = settings
        self.OIDC_OP_TOKEN_ENDPOINT = settings.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = settings.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = settings.jwks_uri
        self.OIDC_RP_CLIENT_ID = settings.client_id
        self.OIDC_RP_CLIENT_SECRET = settings.client_secret
        self.OIDC_RP_SIGN_ALGO = None  # the allow-list of IdTokenValidator decides, not a single setting
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.validator = IdTokenValidator(settings)
        self.id_token = ""  # the ID token of the last verified_claims (the logout's id_token_hint)

    def filter_users_by_claims(self, claims):
        raise NotImplementedError("users are found by (connection, sub) in connections.sign_in, never by email")

    def retrieve_matching_jwk(self, token):
        raise NotImplementedError("IdTokenValidator picks the key")

    # --- the calls to the IdP ----------------------------------------------------------------------

    def get_token(self, payload: dict) -> dict:
        """Authorization code -> tokens at the IdP's token endpoint (RFC 6749 4.1.3)."""
        payload = dict(payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.settings.token_endpoint_auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: client id and secret are form-urlencoded before the Basic encoding.
            credentials = f"{quote(payload.pop('client_id'), safe='')}:{quote(payload.pop('client_secret'), safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        try:
            answer = http.call(
                "POST",
                self.OIDC_OP_TOKEN_ENDPOINT,
                what="token endpoint",
                headers=headers,
                body=urlencode(payload).encode("ascii"),
            )
        except OidcFetchError as error:
            raise OidcTokenRequestFailed(detail=error.detail) from None
        if answer.status != 200:
            error_code = ""
            with contextlib.suppress(OidcFetchError):
                error_code = str(answer.json("token error").get("error", ""))[:64]
            raise OidcTokenRequestFailed(detail=f"HTTP {answer.status} {error_code}".strip())
        try:
            return answer.json("token response")
        except OidcFetchError:
            raise OidcTokenRequestFailed(detail="not JSON") from None

    def verify_token(self, token, **kwargs):
        return self.validator.validate(token, nonce=kwargs.get("nonce") or "")

    def get_userinfo(self, access_token, id_token, payload) -> dict:
        """Userinfo (OpenID Connect Core 5.3), read only when the ID token lacks a mapped claim."""
        answer = http.call(
            "GET",
            self.OIDC_OP_USER_ENDPOINT,
            what="userinfo endpoint",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if answer.status != 200:
            raise OidcUserinfoError(detail=f"HTTP {answer.status}")
        if answer.content_type.lower().startswith("application/jwt"):
            raise OidcUserinfoError(
                gettext_lazy(
                    "The IdP answers userinfo as a signed JWT, which the gateway does not read: choose a JSON "
                    "userinfo response, or put the claims in the ID token."
                ),
                detail="application/jwt",
            )
        try:
            userinfo = answer.json("userinfo answer")
        except OidcFetchError:
            raise OidcUserinfoError(detail="not JSON") from None
        # OpenID Connect Core 5.3.2: the sub of userinfo MUST be the ID token's, or it is not used.
        if userinfo.get("sub") != payload["sub"]:
            raise OidcUserinfoError(detail="sub differs from the ID token's")
        return userinfo

    # --- the sign-in -------------------------------------------------------------------------------

    def _needs_userinfo(self, connection: SSOConnection, claims: dict) -> bool:
        mapping = {**default_attribute_mapping(connection.provider_type), **(connection.attribute_mapping or {})}
        wanted = [mapping[claim] for claim in MAPPED_CLAIMS if mapping.get(claim)]
        return bool(self.OIDC_OP_USER_ENDPOINT) and any(name not in claims for name in wanted)

    def verified_claims(self, request, *, connection: SSOConnection, code: str, nonce: str, code_verifier: str) -> dict:
        """Code -> tokens -> the validated ID token's claims (completed from userinfo where a mapped
        claim is missing)."""
        self.request = request
        tokens = self.get_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.settings.redirect_uri,
                "code_verifier": code_verifier,
                "client_id": self.OIDC_RP_CLIENT_ID,
                "client_secret": self.OIDC_RP_CLIENT_SECRET,
            }
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise IdTokenMalformed(detail="no id_token in the token response")
        claims = self.verify_token(id_token, nonce=nonce)
        self.id_token = id_token
        access_token = tokens.get("access_token")
        if isinstance(access_token, str) and access_token and self._needs_userinfo(connection, claims):
            userinfo = self.get_userinfo(access_token, id_token, claims)
            claims = {**{k: v for k, v in userinfo.items() if k not in PROTOCOL_CLAIMS}, **claims}
        if claims.get("email_verified") in (False, "false"):
            raise EmailNotVerified()
        return claims

    def authenticate(self, request, *, connection: SSOConnection, code: str, nonce: str, code_verifier: str) -> User:
        """mozilla-django-oidc's authenticate, with its email lookup replaced by sso_sign_in (users keyed on
        (connection, sub))."""
        claims = self.verified_claims(
            request, connection=connection, code=code, nonce=nonce, code_verifier=code_verifier
        )
        return sso_sign_in(connection=connection, identity=asserted_identity(claims), request=request)


@dataclass(frozen=True)
class OidcLogin:
    """A verified OIDC sign-in, in the shape the IT admin's test login reads (admin_test_login)."""

    name_id: str
    name_id_format: str
    issuer: str
    attributes: dict[str, list[str]]
    authn_instant: datetime


def asserted_identity(claims: dict) -> AssertedIdentity:
    return AssertedIdentity(
        subject=str(claims["sub"]),
        attributes=claims_as_attributes(claims),
        authenticated_at=_authenticated_at(claims),
        name_id_format=SUBJECT_FORMAT,
    )


def oidc_login(claims: dict) -> OidcLogin:
    identity = asserted_identity(claims)
    return OidcLogin(
        name_id=identity.subject,
        name_id_format=SUBJECT_FORMAT,
        issuer=str(claims.get("iss", "")),
        attributes=identity.attributes,
        authn_instant=identity.authenticated_at,
    )


def claims_as_attributes(claims: dict) -> dict[str, list[str]]:
    """Claims in the protocol-neutral shape of sign_in (name -> list of strings); nested objects are
    kept as their JSON text only when small, token bookkeeping claims are left out."""
    attributes: dict[str, list[str]] = {}
    for name, value in claims.items():
        if name in ("nonce", "at_hash", "c_hash"):
            continue
        values = value if isinstance(value, list) else [value]
        strings = [
            str(item).lower() if isinstance(item, bool) else str(item)
            for item in values
            if isinstance(item, str | int | float | bool)
        ]
        if strings:
            attributes[name] = strings
    return attributes


def _authenticated_at(claims: dict) -> datetime:
    moment = claims.get("auth_time") or claims.get("iat")
    return datetime.fromtimestamp(int(moment), tz=UTC)
