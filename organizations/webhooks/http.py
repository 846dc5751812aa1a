"""One POST to a webhook endpoint: to an address checked against SSRF, within WEBHOOKS_TIMEOUT seconds,
never following a redirect (a receiver that moved must be updated, not trusted to send us elsewhere)."""

import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

from cryptr_sso.netcheck import HostNotFound, PrivateAddress, checked_addresses, is_loopback_host

MAX_RESPONSE_BYTES = 1024  # the start of the receiver's answer, for the delivery log


class UrlRefused(ValueError):
    """An endpoint URL the gateway will not call. `message` is a sentence for the person who gave it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SendFailed(Exception):
    """No HTTP answer: the host did not resolve, refused the connection, timed out, or broke TLS."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_URLS", False))


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable endpoint URL, or UrlRefused. https, or http to a loopback
    host in development (DEBUG) and tests (WEBHOOKS_ALLOW_PRIVATE_URLS)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise UrlRefused("The webhook URL must be an absolute https:// URL.")
    if parts.username or parts.password:
        raise UrlRefused("The webhook URL must not contain a user name or password.")
    if parts.fragment:
        raise UrlRefused("The webhook URL must not contain a #fragment.")
    if parts.scheme == "http":
        if not (is_loopback_host(parts.hostname) and (settings.DEBUG or allow_private())):
            raise UrlRefused(
                "The webhook URL must start with https:// (plain http is accepted only for "
                "localhost during development)."
            )
    elif parts.scheme != "https":
        raise UrlRefused("The webhook URL must start with https://.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("The webhook URL has an invalid port.") from None
    _check_literal_address(parts.hostname)
    return parts.scheme, parts.hostname, port


def _check_literal_address(host: str) -> None:
    """An address written in the URL is refused when the endpoint is saved, not only at the first send (a
    name is resolved and checked at each send: its answer may change)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_global or allow_private() or (settings.DEBUG and address.is_loopback):
        return
    raise UrlRefused(
        f"The webhook URL points to a private, loopback or link-local address ({address}); the gateway only "
        f"calls public addresses."
    )


def resolve(url: str) -> tuple[str, str, int, list[str]]:
    """check_url plus the SSRF check of every address the host resolves to."""
    scheme, host, port = check_url(url)
    try:
        addresses = checked_addresses(host, port, allow_private=allow_private())
    except PrivateAddress as refused:
        raise UrlRefused(
            f"The webhook URL points to a private, loopback or link-local address "
            f"({refused.address}); the gateway only calls public addresses."
        ) from None
    except HostNotFound:
        raise SendFailed(f"The host {host} could not be resolved.") from None
    return scheme, host, port, addresses


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    scheme, host, port, addresses = resolve(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = float(getattr(settings, "WEBHOOKS_TIMEOUT", 5))
    default_port = 443 if scheme == "https" else 80
    authority = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets (RFC 3986 3.2.2)
    headers = {
        "Host": authority if port == default_port else f"{authority}:{port}",
        "Content-Type": "application/json",
        "User-Agent": "sso-gateway-webhooks",
        **headers,
    }
    last_error: Exception | None = None
    for address in addresses:
        if scheme == "https":
            # Connect to the checked address; verify the certificate for (and send SNI of) the host name.
            ca_file = getattr(settings, "WEBHOOKS_CA_BUNDLE", None) or certifi.where()
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                retries=False,
                maxsize=1,
                cert_reqs=ssl.CERT_REQUIRED,
                ca_certs=ca_file,
                server_hostname=host,
                assert_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, retries=False, maxsize=1)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
                timeout=urllib3.Timeout(total=timeout),
            )
            try:
                data = response.read(MAX_RESPONSE_BYTES, decode_content=False)
            except urllib3.exceptions.HTTPError:
                data = b""
            return Answer(status=response.status, body=data.decode("utf-8", "replace"))
        except urllib3.exceptions.NewConnectionError as error:
            last_error = error
            continue  # e.g. an IPv6 address without a route: try the next one
        except urllib3.exceptions.HTTPError as error:
            raise SendFailed(f"{type(error).__name__} talking to {host}") from None
        finally:
            pool.close()
    raise SendFailed(f"Could not connect to {host} ({type(last_error).__name__}).")
