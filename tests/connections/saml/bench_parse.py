"""Cost of one SamlResponseProcessor.parse, per kind of response (not collected by pytest).

    REDIS_URL=redis://127.0.0.1:6379/10 PYTHONPATH=. .venv/bin/python tests/connections/saml/bench_parse.py

Prints wall time and CPU time of this process and of child processes per parse. CPU time is the number
that matters for "logins per second per core" (wall time grows with whatever else the machine runs).
"""

import os
import sys
import time
import warnings

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptr_sso.settings")
django.setup()
warnings.simplefilter("ignore")

from connections.saml.response import SamlResponseProcessor  # noqa: E402
from tests.connections.saml.idp import TestIdp, post, sp_settings  # noqa: E402

KINDS = {
    "assertion signed": {},
    "response signed": {"sign_response": True, "sign_assertion": False},
    "both signed": {"sign_response": True},
    "encrypted + signed": {"encrypt": True},
}


def main(count: int) -> None:
    idp, settings = TestIdp("a"), sp_settings()
    outstanding = {"id-request-1": "/"}
    for kind, options in KINDS.items():
        messages = [post(idp.response(**options)) for _ in range(count + 1)]
        SamlResponseProcessor(settings, outstanding_requests=outstanding).parse(messages.pop())  # warm caches
        wall, cpu, before = time.perf_counter(), time.process_time(), os.times()
        for message in messages:
            SamlResponseProcessor(settings, outstanding_requests=outstanding).parse(message)
        after = os.times()
        wall, cpu = (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count
        children = (after.children_user + after.children_system - before.children_user - before.children_system) / count
        print(
            f"{kind:20} {wall * 1000:6.1f} ms wall  {cpu * 1000:6.1f} ms CPU  {children * 1000:5.1f} ms CPU in children"
            f"  -> {1 / (cpu + children):5.0f} parses/s per core"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
