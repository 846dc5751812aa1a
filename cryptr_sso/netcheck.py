"""The outbound-request address check (SSRF) shared by every fetch the gateway makes to a URL someone
else gave it: IdP metadata URLs (connections/saml/metadata.py) and webhook endpoints
(organizations/webhooks/).

A host name is resolved once and every address is checked; the caller then connects to one of the
addresses returned, never to the name again, so a second DNS answer cannot point it inside (rebinding).
"""

import ipaddress
import socket


class HostNotFound(Exception):
    """The name does not resolve, or resolves to nothing."""


class PrivateAddress(Exception):
    """The name resolves to a private, loopback, link-local or otherwise non-global address."""

    def __init__(self, address: str):
        super().__init__(address)
        self.address = address


def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of `host`, each checked; raises PrivateAddress if any is not global (one bad
    answer refuses the name: an attacker's DNS may mix a public and an internal address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(host) from None
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global and not allow_private:
            raise PrivateAddress(str(address))
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise HostNotFound(host)
    return addresses


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
