"""HTTPS calls to a customer's OpenID provider: discovery, JWKS, token and userinfo endpoints.

The URLs come from people (the issuer typed in the API or the wizard) or from documents they point
at, so each call is made like the SAML metadata fetcher's: https only, every resolved address public
(SSRF) unless OIDC_DISCOVERY_ALLOW_PRIVATE_URLS (or SAML_METADATA_ALLOW_PRIVATE_URLS) is set, the
connection pinned to the address checked (no DNS rebinding), the certificate verified for the host
name, one overall deadline, a size cap, no redirects followed (OIDC endpoints do not redirect).
"""

import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from connections.exceptions import OidcFetchError, _filled

DEFAULT_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
USER_AGENT = "sso-gateway-oidc-rp"

# What the callers name in `what` (in English: the logs and the audit trail read the English hint); the
# hint a page shows names it in the reader's language. A name not listed here (or already a lazy
# translation) is used as given.
_NAMES = {
    "discovery document": _("discovery document"),
    "issuer URL": _("issuer URL"),
    "IdP's key set (JWKS)": _("IdP's key set (JWKS)"),
    "token endpoint": _("token endpoint"),
    "userinfo endpoint": _("userinfo endpoint"),
}


def _named(what):
    return _NAMES.get(what, what) if isinstance(what, str) else what


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes

    def json(self, what: str) -> dict:
        try:
            document = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise OidcFetchError(_filled(_("The %(what)s is not JSON."), what=_named(what)), detail="json") from None
        if not isinstance(document, dict):
            raise OidcFetchError(_filled(_("The %(what)s is not a JSON object."), what=_named(what)), detail="json")
        return document


def allow_private() -> bool:
    return bool(
        getattr(settings, "OIDC_DISCOVERY_ALLOW_PRIVATE_URLS", False)
        or getattr(settings, "SAML_METADATA_ALLOW_PRIVATE_URLS", False)
    )


def check_https_url(url: str, what: str) -> tuple[str, int]:
    """(host, port) of an https URL without credentials; OidcFetchError with a sentence otherwise."""
    parts, named = urlsplit(url), _named(what)
    if parts.scheme != "https" or not parts.hostname:
        raise OidcFetchError(
            _filled(_("The %(what)s '%(url)s' must be an https:// URL."), what=named, url=url[:200]), detail="scheme"
        )
    if parts.username or parts.password:
        raise OidcFetchError(
            _filled(_("The %(what)s must not contain a user name or password."), what=named), detail="userinfo"
        )
    try:
        port = parts.port or 443
    except ValueError:
        raise OidcFetchError(_filled(_("The %(what)s has an invalid port."), what=named), detail="port") from None
    return parts.hostname, port


def _public_addresses(host: str, port: int, what: str) -> list[str]:
    what = _named(what)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OidcFetchError(
            _filled(_("The host '%(host)s' of the %(what)s could not be found."), host=host, what=what), detail="dns"
        ) from None
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global and not allow_private():
            raise OidcFetchError(
                _filled(
                    _(
                        "The %(what)s points to a private, loopback or link-local address "
                        "(%(address)s), which the gateway does not call. Give the IdP's public "
                        "https URL."
                    ),
                    what=what,
                    address=str(address),
                ),
                detail="private address",
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise OidcFetchError(
            _filled(_("The host '%(host)s' of the %(what)s has no address."), host=host, what=what), detail="dns"
        )
    return addresses


def call(
    method: str,
    url: str,
    *,
    what: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> HttpAnswer:
    """One HTTPS request to the IdP; raises OidcFetchError (never with the request's secrets in it)."""
    host, port = check_https_url(url, what)
    named = _named(what)
    timeout = float(getattr(settings, "OIDC_HTTP_TIMEOUT", DEFAULT_TIMEOUT))
    seconds = f"{timeout:g}"
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    ca_file = (
        getattr(settings, "OIDC_CA_BUNDLE", None)
        or getattr(settings, "SAML_METADATA_CA_BUNDLE", None)
        or certifi.where()
    )
    sent_headers = {
        "Host": host if port == 443 else f"{host}:{port}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        **(headers or {}),
    }
    addresses = _public_addresses(host, port, what)
    for index, address in enumerate(addresses):
        left = deadline - time.monotonic()
        if left <= 0:
            break
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
        try:
            response = pool.urlopen(
                method,
                target,
                headers=sent_headers,
                body=body,
                redirect=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=left, read=left),
            )
        except urllib3.exceptions.NewConnectionError:
            if index + 1 < len(addresses):
                continue
            raise OidcFetchError(
                _filled(_("Could not connect to %(host)s (%(what)s)."), host=host, what=named), detail="connect"
            ) from None
        except urllib3.exceptions.SSLError:
            raise OidcFetchError(
                _filled(_("The TLS certificate of %(host)s could not be verified (%(what)s)."), host=host, what=named),
                detail="tls",
            ) from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise OidcFetchError(
                _filled(
                    _("%(host)s did not answer within %(seconds)s seconds (%(what)s)."),
                    host=host,
                    seconds=seconds,
                    what=named,
                ),
                detail="timeout",
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise OidcFetchError(
                _filled(
                    _("The %(what)s could not be read from %(host)s (%(error)s)."),
                    what=named,
                    host=host,
                    error=error.__class__.__name__,
                ),
                detail="http",
            ) from None
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(named, max_bytes)
            data = bytearray()
            try:
                while chunk := response.read1(64 * 1024):
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise _too_large(named, max_bytes)
                    if time.monotonic() > deadline:
                        raise OidcFetchError(
                            _filled(
                                _("%(host)s took more than %(seconds)s seconds to send the %(what)s."),
                                host=host,
                                seconds=seconds,
                                what=named,
                            ),
                            detail="timeout",
                        )
            except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError, TimeoutError):
                raise OidcFetchError(
                    _filled(
                        _("The %(what)s from %(host)s was cut off or took more than %(seconds)s seconds."),
                        what=named,
                        host=host,
                        seconds=seconds,
                    ),
                    detail="timeout",
                ) from None
            return HttpAnswer(
                status=response.status, content_type=response.headers.get("Content-Type", ""), body=bytes(data)
            )
        finally:
            response.release_conn()
    raise OidcFetchError(
        _filled(
            _("%(host)s did not answer within %(seconds)s seconds (%(what)s)."), host=host, seconds=seconds, what=named
        ),
        detail="timeout",
    )


def _too_large(what, max_bytes: int) -> OidcFetchError:
    return OidcFetchError(
        _filled(_("The %(what)s is larger than %(size)s kB."), what=what, size=max_bytes // 1024), detail="size"
    )


def get_json(url: str, *, what: str) -> dict:
    answer = call("GET", url, what=what)
    if answer.status != 200:
        raise OidcFetchError(
            _filled(_("Reading the %(what)s answered HTTP %(status)s."), what=_named(what), status=answer.status),
            detail=f"http {answer.status}",
        )
    return answer.json(what)
