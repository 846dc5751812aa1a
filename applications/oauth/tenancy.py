"""One issuer per organization: `/t/<domain>/...` serves django-oauth-toolkit's views.

`TenantMiddleware` strips `/t/<domain>` from the path, switches the request to the tenant urlconf
(`applications.oauth.urls`) and makes `/t/<domain>/` the script prefix for the request, so every URL
django-oauth-toolkit reverses (discovery, redirects, the logout form) carries the tenant. The
organization is put on the request and, for the oauthlib side, into `request.META` under keys no
HTTP client can set (headers arrive as `HTTP_*`), which the validator reads back.
"""

import copy
import functools
import logging
import re
import secrets
import threading
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from django.urls import get_script_prefix, set_script_prefix
from django.utils.cache import patch_vary_headers
from django.views.defaults import page_not_found
from oauth2_provider.models import is_origin_allowed
from redis.exceptions import RedisError

from cryptr_sso.api.errors import json_error
from cryptr_sso.queries import one_by_key
from organizations.models import Organization

logger = logging.getLogger(__name__)

TENANT_URLCONF = "applications.oauth.urls"
META_ORGANIZATION_ID = "cryptr.organization_id"
META_ORGANIZATION_DOMAIN = "cryptr.organization_domain"
# Set by the authorize view: the end user signed in to this organization, for oauthlib's prompt=none.
META_END_USER_ID = "cryptr.end_user_id"
# Applications the validator loaded during this HTTP request (one LoadedClients, shared by the oauthlib
# requests DOT builds from copies of META): see GatewayOAuth2Validator._load_application.
META_LOADED_CLIENTS = "cryptr.loaded_clients"


class LoadedClients:
    """Applications by client_id, for one HTTP request. Not a dict: oauthlib copies the dicts among
    the headers it is given (oauthlib.common.to_unicode), and this one must be shared."""

    def __init__(self):
        self.by_client_id = {}


_TENANT_PATH = re.compile(r"^/t/(?P<domain>[^/]+)(?P<rest>/.*)?$")
# Browser-based clients (SPAs) call these across origins; the application's allowed origins decide.
_CORS_PATHS = {"/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/.well-known/jwks", "/.well-known"}
_BROWSER_PATHS = {"/oauth2/authorize", "/oauth2/logout"}


def issuer_for(domain: str) -> str:
    """`{BASE_URL}/t/{domain}`. Taken from the configured BASE_URL, never from the Host header."""
    return f"{settings.BASE_URL}/t/{domain}"


def _meta(request) -> dict:
    # A Django request keeps the keys in META; oauthlib's request got a copy of META as headers.
    if isinstance(request, HttpRequest):
        return request.META
    return getattr(request, "headers", None) or {}


def request_organization_id(request) -> str | None:
    return _meta(request).get(META_ORGANIZATION_ID)


def request_organization_domain(request) -> str | None:
    return _meta(request).get(META_ORGANIZATION_DOMAIN)


def request_end_user_id(request) -> str | None:
    return _meta(request).get(META_END_USER_ID)


def request_issuer(request) -> str:
    domain = request_organization_domain(request)
    if not domain:
        # Reached only if a provider view were served outside /t/<domain>: refuse to make up an issuer.
        raise LookupError("This request was not served under /t/<domain>.")
    return issuer_for(domain)


# --- the organization of a /t/<domain>/ request, kept per process ------------------------------------------
#
# Every /t/<domain>/ request needs its organization; a process keeps the rows it read, each with the
# domain's version token from Redis, and uses one only while Redis still holds that token (one GET instead
# of a SELECT). Saving or deleting an organization (any process: signals connected in ApplicationsConfig)
# drops the token once the transaction commits, and this process's copy at once; a write that bypasses the
# signals (raw SQL, QuerySet.update) is seen within VERSION_SECONDS, when the token expires. Unknown
# domains are never kept, so a new organization is found at once. Without the Redis cache (the embedded
# default), every request reads the row.

VERSION_SECONDS = 300
_MAX_KEPT = 1000
_kept: dict[str, tuple[str, tuple]] = {}  # domain -> (version token, the row's values)
_kept_lock = threading.Lock()


def _version_key(domain: str) -> str:
    return f"tenant-organization-version:{domain}"


@functools.cache
def _fields() -> list[str]:
    return [field.attname for field in Organization._meta.concrete_fields]


def _read(domain: str) -> Organization | None:
    return one_by_key(Organization.objects.filter(domain=domain))


def organization_for_domain(domain: str) -> Organization | None:
    if not isinstance(caches["default"], RedisCache):
        return _read(domain)
    key = _version_key(domain)
    try:
        version = cache.get(key)
        if version is None:
            cache.add(key, secrets.token_hex(8), timeout=VERSION_SECONDS)
            version = cache.get(key)
    except RedisError:  # Redis down: the row, as without the cache (token requests keep working)
        logger.warning("Tenant lookup without Redis for %s", domain)
        return _read(domain)
    kept = _kept.get(domain)
    if kept is not None and version is not None and kept[0] == version:
        # A new instance per request (its own copies of the values): nothing a request does to it is shared.
        return Organization.from_db("default", _fields(), copy.deepcopy(kept[1]))
    organization = _read(domain)  # read after the token: a write committed meanwhile drops the token
    with _kept_lock:
        if organization is None or version is None:
            _kept.pop(domain, None)
        else:
            if len(_kept) >= _MAX_KEPT:
                _kept.clear()
            _kept[domain] = (version, tuple(copy.deepcopy(getattr(organization, name)) for name in _fields()))
    return organization


def forget_organization(domain: str) -> None:
    """This process's copy now; every process's once the current transaction commits (or at once outside one).
    If Redis cannot be told, the other processes see the change when the token expires (VERSION_SECONDS)."""
    with _kept_lock:
        _kept.pop(domain, None)

    def drop_version():
        with _kept_lock:
            _kept.pop(domain, None)
        try:
            cache.delete(_version_key(domain))
        except RedisError:  # the write is committed; only other processes' copies wait for the expiry
            logger.exception("Could not drop the tenant version token of %s", domain)

    transaction.on_commit(drop_version)


def _organization_changed(sender, instance, **kwargs):
    forget_organization(instance.domain)


def connect_signals() -> None:
    """Called by ApplicationsConfig.ready(), in every process (web, Celery, management commands)."""
    post_save.connect(_organization_changed, sender=Organization, dispatch_uid="tenancy-organization-saved")
    post_delete.connect(_organization_changed, sender=Organization, dispatch_uid="tenancy-organization-deleted")


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for key in (META_ORGANIZATION_ID, META_ORGANIZATION_DOMAIN, META_END_USER_ID, META_LOADED_CLIENTS):
            request.META.pop(key, None)
        match = _TENANT_PATH.match(request.path_info)
        if not match:
            return self.get_response(request)

        domain, rest = match["domain"], match["rest"] or "/"
        organization = organization_for_domain(domain)
        if organization is None:
            return _unknown_tenant(request, domain, rest)

        request.organization = organization
        request.META[META_ORGANIZATION_ID] = str(organization.pk)
        request.META[META_ORGANIZATION_DOMAIN] = organization.domain
        request.urlconf = TENANT_URLCONF
        request.path_info = rest
        previous_prefix = get_script_prefix()
        set_script_prefix(f"{previous_prefix}t/{organization.domain}/")
        try:
            response = self.get_response(request)
        finally:
            set_script_prefix(previous_prefix)
        if rest.rstrip("/") in _CORS_PATHS:
            _add_cors_headers(request, organization, response)
        return response


def _unknown_tenant(request, domain, rest):
    if rest in _BROWSER_PATHS:
        return page_not_found(request, exception=None)
    return json_error(404, "not_found", f"There is no organization with the domain {domain!r} on this gateway.")


def _add_cors_headers(request, organization, response) -> None:
    """CORS for browser clients: an origin listed by one of this organization's applications may
    call the token, userinfo, revocation and JWKS endpoints (preflight included). Client
    authentication, PKCE and the bearer token still decide what the call may do."""
    origin = request.headers.get("Origin")
    patch_vary_headers(response, ("Origin",))
    if not origin or not urlsplit(origin).netloc:
        return
    allowed_lists = organization.applications.exclude(allowed_origins="").values_list("allowed_origins", flat=True)
    if not any(is_origin_allowed(origin, allowed.split()) for allowed in allowed_lists):
        return
    response["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
        response["Access-Control-Max-Age"] = "600"
