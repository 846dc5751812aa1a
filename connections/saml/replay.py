"""Every SAML assertion is accepted once (SAML Profiles 4.1.4.5), by all gateway processes together.

The assertion ID is claimed with one atomic `cache.add` (Redis `SET NX PX` when REDIS_URL is set)
that lives until the assertion's NotOnOrAfter plus the clock skew: after that the assertion is refused
as expired anyway. pysaml2 keeps no such record (and none at all for IdP-initiated logins).
"""

import hashlib
import math
import time

from django.core.cache import cache

_PREFIX = "saml-assertion-seen"
_MIN_TIMEOUT = 60
_MAX_TIMEOUT = 7 * 24 * 3600


def _key(idp_id: str, issuer: str, assertion_id: str) -> str:
    # Assertion IDs are chosen by IdPs: scope them by connection and issuer, and hash them so a long or
    # odd ID never makes an invalid cache key.
    digest = hashlib.sha256(f"{idp_id}\x00{issuer}\x00{assertion_id}".encode()).hexdigest()
    return f"{_PREFIX}:{digest}"


def claim_assertion_id(*, idp_id: str, issuer: str, assertion_id: str, not_on_or_after: float, clock_skew: int) -> bool:
    """True the first time this assertion is seen; False if it was already used (a replay).

    `not_on_or_after` is a POSIX timestamp: the record must outlive the assertion's validity.
    """
    timeout = math.ceil(not_on_or_after + clock_skew - time.time()) + 1
    timeout = min(max(timeout, _MIN_TIMEOUT), _MAX_TIMEOUT)
    return bool(cache.add(_key(idp_id, issuer, assertion_id), 1, timeout=timeout))
