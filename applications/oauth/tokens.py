"""The JWTs the gateway signs: access tokens (RFC 9068 shape) and the signing helper the ID tokens share.

`access_token_generator` is django-oauth-toolkit's ACCESS_TOKEN_GENERATOR: oauthlib calls it with its
request once the grant is validated, so the client, the user, the scopes and the SSO sign-in (put
on the request by the validator) are known. DOT stores only the SHA-256 of the returned string.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from jwcrypto import jwt

from applications.oauth.keys import signing_jwk
from applications.oauth.tenancy import issuer_for, request_organization_domain

ACCESS_TOKEN_VERSION = 1


@dataclass(frozen=True)
class SsoSignIn:
    """Which connection signed the user in, carried from the session to the grant to every token."""

    idp_id: str = ""
    provider_type: str = ""
    auth_time: datetime | None = None

    @classmethod
    def of(cls, row) -> "SsoSignIn":
        return cls(idp_id=row.idp_id, provider_type=row.provider_type, auth_time=row.auth_time)

    def fields(self) -> dict:
        return {"idp_id": self.idp_id, "provider_type": self.provider_type, "auth_time": self.auth_time}


def sso_sign_in(request) -> SsoSignIn:
    """What the validator learnt about the sign-in while validating this (oauthlib) request."""
    return getattr(request, "cryptr_sso", None) or SsoSignIn()


def sign_jwt(claims: dict, *, typ: str = "JWT") -> str:
    key = signing_jwk()
    header = {"alg": "RS256", "typ": typ, "kid": key.thumbprint()}
    token = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims, default=str))
    token.make_signed_token(key)
    return token.serialize()


def access_token_generator(request, refresh_token: bool = False) -> str:
    client, user = request.client, request.user
    domain = request_organization_domain(request)
    sso = sso_sign_in(request)
    now = int(time.time())
    claims = {
        "iss": issuer_for(domain),
        "sub": str(user.pk),
        "aud": client.client_id,
        "exp": now + int(request.expires_in),
        "iat": now,
        "jti": str(uuid.uuid4()),
        "scp": list(request.scopes or []),
        "cid": client.client_id,
        "tnt": domain,
        "sci": sso.idp_id,
        "ips": sso.provider_type,
        "email": user.email,
        "jtt": "access",
        "ver": ACCESS_TOKEN_VERSION,
    }
    # RFC 9068 section 2.1: access tokens are typed so they can never pass for ID tokens.
    return sign_jwt(claims, typ="at+jwt")
