"""Start the samlify SAML IdP test peer (tests/peers/saml-idp/server.mjs) as a separate process.

    with run_saml_idp(sp_metadata_url=live_server.url + "/sso/sp/metadata/<idp_id>") as idp:
        idp.base_url, idp.metadata_url, idp.entity_id, idp.metadata_xml()

The peer fetches the SP metadata lazily (at the first SAML request), so the SP may be configured after the IdP has
started: create the connection from ``idp.metadata_xml()`` first, then send users to the SP.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

PEER_DIR = Path(__file__).resolve().parent / "saml-idp"
SERVER = PEER_DIR / "server.mjs"
DEFAULT_USERS = PEER_DIR / "users.json"
START_TIMEOUT = 20.0


class SamlIdpPeerError(RuntimeError):
    pass


@dataclass(frozen=True)
class SamlIdpPeer:
    base_url: str
    metadata_url: str
    entity_id: str
    sso_url: str = ""
    idp_initiated_url: str = ""
    slo_url: str = ""
    process: subprocess.Popen | None = None

    def metadata_xml(self) -> str:
        with urlopen(self.metadata_url, timeout=10) as response:
            return response.read().decode("utf-8")


def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise SamlIdpPeerError("node (Node.js 20) is not on PATH: the SAML IdP test peer needs it")
    return node


def _check_installed() -> None:
    if not (PEER_DIR / "node_modules" / "samlify").is_dir():
        raise SamlIdpPeerError(
            f"{PEER_DIR}/node_modules is missing: run `npm ci --prefix tests/peers/saml-idp` (or `make install`)"
        )


@contextlib.contextmanager
def run_saml_idp(
    sp_metadata_url: str | None = None,
    sp_metadata_xml: str | None = None,
    users: list[dict] | str | os.PathLike | None = None,
    sign_response: bool = False,
    entity_id: str | None = None,
    key_pem: str | None = None,
    cert_pem: str | None = None,
    want_authn_requests_signed: bool = False,
) -> Iterator[SamlIdpPeer]:
    """Run the IdP peer for the duration of the block.

    ``users``: None (tests/peers/saml-idp/users.json: alice/alice-password, bob/bob-password), a path to a JSON
    file, or a list of ``{"username", "password", "email", "attributes": {name: value | [values]}}``.
    """
    if not sp_metadata_url and sp_metadata_xml is None:
        raise ValueError("give sp_metadata_url or sp_metadata_xml")
    if (key_pem is None) != (cert_pem is None):
        raise ValueError("key_pem and cert_pem go together")
    _check_installed()
    node = _node()
    with tempfile.TemporaryDirectory(prefix="saml-idp-peer-") as tmp:
        args = [node, str(SERVER), "--port", "0", "--exit-on-stdin-close"]
        if sp_metadata_url:
            args += ["--sp-metadata-url", sp_metadata_url]
        if sp_metadata_xml is not None:
            path = Path(tmp, "sp-metadata.xml")
            path.write_text(sp_metadata_xml, encoding="utf-8")
            args += ["--sp-metadata-file", str(path)]
        if users is not None:
            if isinstance(users, list):
                path = Path(tmp, "users.json")
                path.write_text(json.dumps({"users": users}), encoding="utf-8")
                users = path
            args += ["--users", str(users)]
        if entity_id:
            args += ["--entity-id", entity_id]
        if key_pem is not None:
            Path(tmp, "key.pem").write_text(key_pem, encoding="utf-8")
            Path(tmp, "cert.pem").write_text(cert_pem, encoding="utf-8")
            args += ["--key", str(Path(tmp, "key.pem")), "--cert", str(Path(tmp, "cert.pem"))]
        if sign_response:
            args.append("--sign-response")
        if want_authn_requests_signed:
            args.append("--want-authn-requests-signed")

        stderr_path = Path(tmp, "stderr.log")
        with open(stderr_path, "wb") as stderr_file:
            process = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file, cwd=PEER_DIR
            )
            try:
                info = _read_ready_line(process, stderr_path)
                base = info["base_url"]
                yield SamlIdpPeer(
                    base_url=base,
                    metadata_url=info["metadata_url"],
                    entity_id=info["entity_id"],
                    process=process,
                    sso_url=f"{base}/sso",
                    idp_initiated_url=f"{base}/idp-initiated",
                    slo_url=f"{base}/slo",
                )
            finally:
                _stop(process)
                if os.environ.get("SAML_IDP_PEER_LOG"):
                    print(stderr_path.read_text(errors="replace"))


def _read_ready_line(process: subprocess.Popen, stderr_path: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _stop(process)
            raise SamlIdpPeerError(
                f"the SAML IdP peer did not report ready within {START_TIMEOUT:.0f} s; stderr:\n{_tail(stderr_path)}"
            )
        ready, _, _ = select.select([process.stdout], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                process.wait(timeout=5)
                raise SamlIdpPeerError(
                    f"the SAML IdP peer exited (code {process.returncode}) before it was ready; stderr:\n"
                    f"{_tail(stderr_path)}"
                )
            buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    try:
        return json.loads(line)
    except ValueError as exc:
        _stop(process)
        raise SamlIdpPeerError(f"unexpected first line from the SAML IdP peer: {line[:200]!r}") from exc


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no stderr)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdin, process.stdout):
        if stream:
            stream.close()
