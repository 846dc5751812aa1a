"""Start the OpenID Provider test peer (tests/peers/oidc-op/server.mjs: panva's oidc-provider) as a
separate process, over HTTPS with a self-signed certificate the gateway is given as its CA bundle.

    with run_oidc_op(clients=[{"client_id": "gw", "client_secret": "...", "redirect_uris": [...]}]) as op:
        op.issuer, op.ca_file, op.users

The peer prints one JSON line when ready ({"issuer", "port"}), like the SAML IdP peer.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.connections.metadata_server import _self_signed
from tests.peers.saml_idp import _node, _read_ready_line, _stop

PEER_DIR = Path(__file__).resolve().parent / "oidc-op"
SERVER = PEER_DIR / "server.mjs"

DEFAULT_USERS = [
    {
        "username": "alice",
        "password": "alice-password",
        "sub": "sub-alice",
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Liddell",
    },
    {
        "username": "bob",
        "password": "bob-password",
        "sub": "sub-bob",
        "email": "bob@example.com",
        "given_name": "Bob",
        "family_name": "Builder",
    },
]


class OidcOpPeerError(RuntimeError):
    pass


@dataclass(frozen=True)
class OidcOpPeer:
    issuer: str
    ca_file: str
    users: list[dict] = field(default_factory=list)
    process: object | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


@contextlib.contextmanager
def run_oidc_op(
    clients: list[dict], users: list[dict] | None = None, *, id_token_claims: bool = False
) -> Iterator[OidcOpPeer]:
    """Run the OP for the duration of the block. ``clients``: oidc-provider client metadata
    (client_id, client_secret, redirect_uris, ...). ``users``: DEFAULT_USERS when None."""
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise OidcOpPeerError(
            f"{PEER_DIR}/node_modules is missing: run `npm ci --prefix tests/peers/oidc-op` (or `make install`)"
        )
    import subprocess

    users = DEFAULT_USERS if users is None else users
    with tempfile.TemporaryDirectory(prefix="oidc-op-peer-") as tmp:
        cert_path, key_path = _self_signed(Path(tmp))
        Path(tmp, "clients.json").write_text(json.dumps(clients), encoding="utf-8")
        Path(tmp, "users.json").write_text(json.dumps(users), encoding="utf-8")
        args = [
            _node(),
            str(SERVER),
            "--port",
            "0",
            "--cert",
            str(cert_path),
            "--key",
            str(key_path),
            "--clients",
            str(Path(tmp, "clients.json")),
            "--users",
            str(Path(tmp, "users.json")),
            "--exit-on-stdin-close",
        ]
        if id_token_claims:
            args.append("--id-token-claims")
        stderr_path = Path(tmp, "stderr.log")
        with open(stderr_path, "wb") as stderr_file:
            process = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file, cwd=PEER_DIR
            )
            try:
                info = _read_ready_line(process, stderr_path)
                yield OidcOpPeer(issuer=info["issuer"], ca_file=str(cert_path), users=users, process=process)
            finally:
                _stop(process)
                if os.environ.get("OIDC_OP_PEER_LOG"):
                    print(stderr_path.read_text(errors="replace"))
