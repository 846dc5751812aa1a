"""A small OpenID provider in a thread of the test process, over real HTTPS on 127.0.0.1: discovery,
JWKS, token and userinfo endpoints whose answers each test crafts (the outside world, faked so that
every malformed or hostile ID token can be produced). The authorization endpoint is never visited:
tests read `state` and `nonce` from the gateway's redirect and call the callback themselves.

    with fake_idp(tmp_path) as idp:
        idp.issuer, idp.ca_file, idp.sign(claims, alg="RS256", kid=...), idp.token_response = {...}
"""

import base64
import http.server
import json
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.connections.metadata_server import _self_signed


@dataclass
class FakeIdp:
    issuer: str
    ca_file: str
    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid: str = "rsa-1"
    discovery_overrides: dict = field(default_factory=dict)
    jwks_override: dict | None = None
    token_response: dict | None = None  # what the token endpoint answers (None: 400)
    userinfo: dict | None = None
    token_requests: list = field(default_factory=list)
    jwks_fetches: int = 0

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            **self.discovery_overrides,
        }

    def public_jwks(self) -> dict:
        if self.jwks_override is not None:
            return self.jwks_override
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }

    def claims(self, *, client_id: str, nonce: str, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "user-123",
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "alice@example.com",
            "email_verified": True,
            "given_name": "Alice",
            "family_name": "Liddell",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict, *, alg: str = "RS256", kid: str | None = None, key=None) -> str:
        headers = {"kid": kid if kid is not None else (self.kid if alg.startswith(("RS", "PS")) else "ec-1")}
        if key is None:
            key = self.ec_key if alg.startswith("ES") else self.rsa_key
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def unsigned(claims: dict, header: dict | None = None) -> str:
    """An `alg: none` JWT (RFC 7519 6.1), built by hand as PyJWT refuses to."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header or {'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def hs256_with_public_key(claims: dict, public_pem: bytes, kid: str) -> str:
    """The key-confusion attack: an HMAC "signature" whose secret is the IdP's public key."""
    import hashlib
    import hmac

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing_input = (
        f"{part(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}.{part(json.dumps(claims).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def tls_pair(directory):
    """A self-signed certificate for 127.0.0.1, to give the gateway as its CA bundle (OIDC_CA_BUNDLE)."""
    return _self_signed(directory)


@contextmanager
def fake_idp(tls: tuple):
    cert_path, key_path = tls
    state: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict | None, content_type="application/json"):
            data = json.dumps(body).encode() if body is not None else b'{"error": "invalid_grant"}'
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            idp: FakeIdp = state["idp"]
            if self.path == "/.well-known/openid-configuration":
                self._send(200, idp.discovery())
            elif self.path == "/jwks":
                idp.jwks_fetches += 1
                self._send(200, idp.public_jwks())
            elif self.path == "/userinfo":
                self._send(200 if idp.userinfo is not None else 401, idp.userinfo)
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self):
            idp: FakeIdp = state["idp"]
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/token":
                idp.token_requests.append({"form": form, "authorization": self.headers.get("Authorization", "")})
                response = idp.token_response(form) if callable(idp.token_response) else idp.token_response
                self._send(200 if response is not None else 400, response)
            else:
                self._send(404, {"error": "not_found"})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state["idp"] = FakeIdp(issuer=f"https://127.0.0.1:{server.server_address[1]}", ca_file=str(cert_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["idp"]
    finally:
        server.shutdown()
        server.server_close()
