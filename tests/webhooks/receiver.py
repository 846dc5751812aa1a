"""A webhook receiver for the tests: a plain HTTP server on 127.0.0.1, in a thread, that checks every
request's X-Cryptr-Signature the way an integrator would (HMAC-SHA256 of "<t>.<raw body>" with the
endpoint's secret, constant-time comparison, timestamp within the tolerance), written here from the
documented scheme rather than with the gateway's own verify(), and answers with the statuses it is told."""

import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time
from dataclasses import dataclass, field

from tests.connections.metadata_server import _self_signed


@dataclass
class Received:
    headers: dict
    body: bytes
    signature_valid: bool
    timestamp: int | None

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def valid_for(self, secret: str) -> bool:
        """Whether a receiver holding `secret` accepts this request."""
        return check_signature(secret, self.body, self.headers.get("X-Cryptr-Signature", ""))[0]


def check_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> tuple[bool, int | None]:
    """Valid when any `v1` of the header matches (during a secret rotation there is one per secret)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            fields.setdefault(key.strip(), []).append(value.strip())
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False, None
    if abs(time.time() - timestamp) > tolerance:
        return False, timestamp
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", [])), timestamp


@dataclass
class Receiver:
    """`statuses`: the answers to give, in order; once used up, `default_status`."""

    secret: str = ""
    statuses: list = field(default_factory=list)
    default_status: int = 200
    refuse_invalid: bool = False  # answer 400 to a request whose signature fails, as a real receiver does
    delay: float = 0.0  # seconds to wait before answering
    headers_to_send: dict = field(default_factory=dict)
    received: list = field(default_factory=list)
    url: str = ""
    tls_dir: object = None  # a directory: serve https with a self-signed certificate for 127.0.0.1/localhost
    ca_file: str = ""

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                valid, timestamp = check_signature(receiver.secret, body, self.headers.get("X-Cryptr-Signature", ""))
                receiver.received.append(Received(dict(self.headers), body, valid, timestamp))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                if receiver.refuse_invalid and not valid:
                    status = 400
                answer = b'{"ok": true}' if status < 300 else b"receiver says no"
                self.send_response(status)
                for name, value in receiver.headers_to_send.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if self.tls_dir is not None:
            cert_path, key_path = _self_signed(self.tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme, self.ca_file = "https", str(cert_path)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/cryptr"
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
