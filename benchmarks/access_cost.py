"""What the access hooks add to a request: authenticating a key the process remembers,
authorizing, and counting the request against the key's rate limit (the hot path of every
API call), next to one count alone and a whole request through Flask's test client.

    python benchmarks/access_cost.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import structlog
from flask import Flask

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.system.clock import SystemClock
from fraud.application.identity import Authenticate, ManageKeys
from fraud.domain.identity import Actor, Permission, Role
from fraud.entrypoints.http.access import install_access, requires
from fraud.entrypoints.http.rate_limits import RateLimits

UNLIMITED = "100000000/second"


def per_call_us(work: Callable[[], object], number: int) -> float:
    """The best of seven runs, per call: the least the machine's other work added."""
    return min(timeit.repeat(work, number=number, repeat=7)) / number * 1e6


def main() -> None:
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # no log lines timed
    store, clock = InMemoryStore(), SystemClock()
    by = Actor("benchmark", "benchmark")
    secret = ManageKeys(store, store, clock).create("bench", Role.VIEWER, by).secret
    app = Flask(__name__)
    install_access(
        app,
        Authenticate(store, clock),
        secret_key="x" * 32,
        default_limit=UNLIMITED,
        anonymous_limit="60/minute",
        limit_storage="memory://",
        session_hours=8,
        trusted_proxies=0,
    )

    @app.get("/probe")
    @requires(Permission.READ)
    def probe() -> str:
        return ""

    hooks = {hook.__name__: hook for hook in app.before_request_funcs[None]}
    limits = RateLimits(UNLIMITED, "memory://", anonymous="60/minute")
    shown = "{:<36}{:7.2f} µs".format
    print(shown("one count (RateLimits.hit):", per_call_us(lambda: limits.hit("k", None), 20000)))
    with app.test_request_context("/probe", headers={"Authorization": f"Bearer {secret}"}):
        hooks["authorize"]()
        both = (hooks["authorize"], hooks["count"])
        print(shown("count hook, a key:", per_call_us(hooks["count"], 20000)))
        known = per_call_us(lambda: [hook() for hook in both], 20000)
        print(shown("authorize and count, a known key:", known))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    assert client.get("/probe").status_code == 200
    print(shown("a whole request (test client):", per_call_us(lambda: client.get("/probe"), 2000)))


if __name__ == "__main__":
    main()
