"""A real HTTPS server on 127.0.0.1 serving metadata, for the metadata fetcher's tests.

Its self-signed certificate (for 127.0.0.1 and localhost) is given to the fetcher as its CA bundle, so
the TLS verification path is the one production uses.
"""

import http.server
import ipaddress
import ssl
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Routes(dict):
    """path -> (status, headers, body or callable(handler))"""


@contextmanager
def metadata_server(tmp_path, routes: Routes):
    cert_path, key_path = _self_signed(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = routes.get(self.path, (404, {}, b"not found"))
            if callable(body):
                body(self)
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(cert_path)
    finally:
        server.shutdown()
        server.server_close()


def slow_body(seconds: float):
    def send(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        handler.end_headers()
        handler.wfile.write(b"<")
        handler.wfile.flush()
        time.sleep(seconds)

    return send


def unbounded_body(chunk: bytes, total: int):
    """No Content-Length: the fetcher must stop reading at its own cap."""

    def send(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        handler.end_headers()
        sent = 0
        try:
            while sent < total:
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the fetcher hung up once it had enough

    return send
