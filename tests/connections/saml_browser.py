"""A scripted browser for SAML logins: follows redirects and auto-submitting forms like a person
whose browser runs the page's script, and types into the test IdP's login form."""

import re
from html import unescape
from urllib.parse import urljoin

import requests

FORM_RE = re.compile(r"<form[^>]*action=\"([^\"]*)\"[^>]*>(.*?)</form>", re.S | re.I)
INPUT_RE = re.compile(r"<input[^>]*>", re.I)
ATTR_RE = re.compile(r"(\w+)=\"([^\"]*)\"")


class LoopbackBrowser(requests.Session):
    """Browsers send Secure cookies to loopback hosts over plain http (a secure context); requests
    does not, so the flag is dropped here before each request (the gateway under test runs on
    http://localhost)."""

    def request(self, *args, **kwargs):
        for cookie in self.cookies:
            cookie.secure = False
        return super().request(*args, **kwargs)


def browser() -> requests.Session:
    return LoopbackBrowser()


def form_of(html: str, base_url: str) -> tuple[str, dict[str, str]]:
    match = FORM_RE.search(html)
    assert match, f"no form in the page: {html[:500]}"
    fields = {}
    for tag in INPUT_RE.findall(match.group(2)):
        attrs = dict(ATTR_RE.findall(tag))
        if attrs.get("name"):
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return urljoin(base_url, unescape(match.group(1))), fields


def follow(session: requests.Session, response: requests.Response, *, stop_at: str) -> requests.Response:
    """Follow redirects by hand until the Location starts with `stop_at` (the app's redirect URI,
    which does not exist here), and return that redirect response."""
    for _ in range(20):
        if response.status_code in (301, 302, 303, 307):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                return response
            response = session.get(location, allow_redirects=False)
        else:
            return response
    raise AssertionError("too many redirects")


def sign_in_at_idp(session, response, *, username: str, password: str, stop_at: str):
    """On the IdP's login page: fill it, submit, post the SAMLResponse to the ACS, follow on."""
    action, fields = form_of(response.text, response.url)
    fields.update(username=username, password=password)
    response = session.post(action, data=fields, allow_redirects=False)
    assert "SAMLResponse" in response.text, response.text[:500]
    action, fields = form_of(response.text, response.url)
    response = session.post(action, data=fields, allow_redirects=False)
    return follow(session, response, stop_at=stop_at)
