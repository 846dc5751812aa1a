"""How a webhook request is signed, and how a receiver checks it (the same scheme as Stripe's).

    POST <endpoint url>
    Content-Type: application/json
    X-Cryptr-Event: connection.activated
    X-Cryptr-Delivery: 3f0c...      (the delivery id: the same on every retry; receivers deduplicate on it)
    X-Cryptr-Signature: t=1764450000,v1=5257a8...

    {"id": "<event id>", "type": "connection.activated", "created_at": "...", "organization": "misapret",
     "data": {...}}

`v1` is the lowercase hex HMAC-SHA256, keyed with the endpoint's secret (the `whsec_...` string as
UTF-8 bytes), of `"<t>.<raw body>"`. A receiver recomputes it over the raw body bytes it received
(before any JSON parsing), compares in constant time, and refuses a `t` further than a few minutes
from its clock (replays). `t` changes on each attempt, so the signature does too.
"""

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Cryptr-Signature"
EVENT_HEADER = "X-Cryptr-Event"
DELIVERY_HEADER = "X-Cryptr-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], body: bytes, *, timestamp: int | None = None) -> str:
    """The X-Cryptr-Signature header value for `body`: one `v1=` per secret (the current one first, then
    the previous one during a rotation's overlap)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    secrets = [secret] if isinstance(secret, str) else list(secret)
    return ",".join([f"t={timestamp}", *(f"v1={_digest(each, body, timestamp)}" for each in secrets)])


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """What a receiver does (kept here for the tests and as the reference for integrators)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
