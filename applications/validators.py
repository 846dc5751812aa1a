"""Checks of the URIs an application registers: redirect URIs after login and logout, and CORS origins.

Redirects are matched exactly at sign-in (RFC 9700 4.1.3), so what is registered must be a complete
absolute URI: https, or plain http only on the loopback interface (RFC 8252 7.3), no fragment
(RFC 6749 3.1.2), no user info, no wildcard, no whitespace (DOT stores them space-separated).
"""

from urllib.parse import urlsplit

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_URI_LENGTH = 2000
MAX_URIS = 50


class UriError(ValueError):
    pass


def _check_scheme_and_host(value: str, what: str):
    if len(value) > MAX_URI_LENGTH:
        raise UriError(f"A {what} must be at most {MAX_URI_LENGTH} characters long.")
    if any(char.isspace() for char in value):
        raise UriError(f"'{value}' contains whitespace; send one {what} per list item.")
    if "*" in value:
        raise UriError(f"'{value}' contains a wildcard; register each {what} exactly.")
    parts = urlsplit(value)
    try:
        hostname, _port = parts.hostname, parts.port
    except ValueError:
        raise UriError(f"'{value}' has an invalid port.") from None
    if not parts.scheme or not parts.netloc or not hostname:
        raise UriError(f"'{value}' is not an absolute URI such as https://app.example.com/callback.")
    if parts.username is not None or parts.password is not None:
        raise UriError(f"'{value}' must not contain a user name or password.")
    if parts.scheme == "https":
        return parts
    if parts.scheme == "http" and hostname in LOOPBACK_HOSTS:
        return parts
    if parts.scheme == "http":
        raise UriError(f"'{value}' must use https (plain http is accepted for localhost and 127.0.0.1 only).")
    raise UriError(f"'{value}' must be an https URL.")


def validate_redirect_uri(value: str) -> str:
    value = value.strip()
    if "#" in value:
        raise UriError(f"'{value}' has a fragment (#...), which a redirect URI may not have (RFC 6749 3.1.2).")
    _check_scheme_and_host(value, "redirect URI")
    return value


def validate_origin(value: str) -> str:
    value = value.strip()
    if value.endswith("/"):
        value = value[:-1]
    parts = _check_scheme_and_host(value, "origin")
    if parts.path or parts.query or "#" in value:
        raise UriError(
            f"'{value}' is not an origin: give the scheme, host and port only, such as https://app.example.com."
        )
    return value


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
