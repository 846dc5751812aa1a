"""Assertions shared by the v2 API tests."""

import json

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.test import APIClient
from rest_framework.views import APIView

ERROR_KEYS = {"error", "error_description", "fields"}


def assert_error(response, status: int, error: str | None = None) -> dict:
    """The response is the API's one error shape, with this status (and machine code)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert isinstance(body["fields"], dict)
    if error is not None:
        assert body["error"] == error, body
    return body


def send(client: APIClient, method: str, path: str, body=None, *, as_: str = "json"):
    """Send a body as JSON, as a form, or as raw bytes with a content type (as_="raw:<type>")."""
    call = getattr(client, method.lower())
    if body is None:
        return call(path)
    if as_ == "json":
        # json.dumps escapes what the test client's encoder cannot (lone surrogates, as a hostile client sends).
        return call(path, json.dumps(body), content_type="application/json")
    if as_ == "form":
        from urllib.parse import urlencode

        return call(path, urlencode(body, doseq=True), content_type="application/x-www-form-urlencoded")
    assert as_.startswith("raw:")
    return call(path, body, content_type=as_[4:])


METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> dict[str, set[str]]:
    """Every /api/v2 path the URLconf routes to an API view, with the methods the view answers."""
    routes: dict[str, set[str]] = {}

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if (
                    route.startswith("api/v2/")
                    and view is not None
                    and issubclass(view, APIView)
                    and not issubclass(view, SpectacularAPIView | SpectacularSwaggerView)
                ):
                    path = "/" + route.replace("<str:", "{").replace("<slug:", "{").replace("<uuid:", "{")
                    path = path.replace("<", "{").replace(">", "}")
                    routes[path] = {method for method in METHODS if hasattr(view, method)}

    walk(get_resolver().url_patterns, "")
    return routes
