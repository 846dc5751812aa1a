"""Requests the gateway sent to an OIDC IdP and whose answer comes back through the browser (sign-in, logout):
kept in the browser's session under their `state`, a few at a time (tabs), each used once, for one connection,
for a limited time."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingRequests:
    session_key: str
    max_pending: int
    lifetime_seconds: int

    def _all(self, request) -> dict:
        pending = request.session.get(self.session_key)
        return pending if isinstance(pending, dict) else {}

    def add(self, request, state: str, *, idp_id: str, **data) -> None:
        """Remember a request under `state`; past `max_pending`, the oldest is dropped."""
        pending = self._all(request)
        pending[state] = {"idp_id": idp_id, **data, "added_on": time.time()}
        while len(pending) > self.max_pending:
            pending.pop(min(pending, key=lambda key: pending[key]["added_on"]))
        request.session[self.session_key] = pending

    def take(self, request, *, idp_id: str, invalid: type[Exception]) -> dict:
        """The request the `state` of this answer names, removed; `invalid` (an exception class taking
        `detail=`) raised when the state is missing, unknown, of another connection or too old."""
        state = request.GET.get("state")
        if not state:
            raise invalid(detail="no state")
        pending = self._all(request)
        started = pending.pop(state, None)
        request.session[self.session_key] = pending
        if not isinstance(started, dict):
            raise invalid(detail="unknown state")
        if started.get("idp_id") != idp_id:
            raise invalid(detail="state of another connection")
        if time.time() - started.get("added_on", 0) > self.lifetime_seconds:
            raise invalid(detail="expired")
        return started
