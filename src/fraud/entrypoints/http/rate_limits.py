"""Fixed-window rate limits, counted by the ``limits`` library (the one Flask-Limiter is
built on; its generic per-route machinery cost 150 µs a request here, a count 3 µs).

The counts live in a ``limits`` storage: in memory by default, so each process counts on
its own; in Redis or Memcached (``FRAUD_RATE_LIMIT_STORAGE``) for one count across
processes and machines. What is counted against what is decided in ``access`` (identities,
addresses, batches) and ``signin`` (accounts).
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from fraud.entrypoints.http.errors import RateLimited

SWEEP_EVERY_HITS = 10_000


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage without its timer thread. The library starts a new
    ``threading.Timer`` whenever the last one (10 ms) has ended, to sweep expired counts
    out of memory: under steady traffic a thread start every 10 ms, each taking the
    interpreter lock from the requests (a fifth of a POST's time in a profile of `fraud
    run`). A count's expiry is checked anyway when it is read (``get``), so the sweep only
    frees memory: here it runs every ``SWEEP_EVERY_HITS`` counts, on the counting thread."""

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: object):
        super().__init__(uri, wrap_exceptions, **options)
        self._hits = 0

    # Overrides the library's private ``__schedule_expiry`` (name-mangled), which every
    # count calls; tests/unit/test_rate_limits.py checks that counting starts no thread.
    def _MemoryStorage__schedule_expiry(self) -> None:
        self._hits += 1
        if self._hits % SWEEP_EVERY_HITS == 0:
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def limits_storage(uri: str) -> Storage:
    """The storage a URI names; ``memory://`` is the swept one above."""
    if uri.split("://", 1)[0] == "memory":
        return SweptMemoryStorage()
    return storage_from_string(uri)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A limit reached: which, how much it allows, and the whole seconds until its window
    ends."""

    limit: str  # as people write it: "60/minute", "5/15 minutes"
    amount: int
    retry_after: int

    def error(self, how: str = "") -> RateLimited:
        """The 429 to answer; ``how`` says what was counted, when it is not one request."""
        return RateLimited(f"rate limit of {self.limit} reached{how}; slow down", self.retry_after)


class RateLimits:
    """Fixed windows per identity (a key, a person, an address, an account name)."""

    def __init__(self, default: str, storage_uri: str, *, anonymous: str) -> None:
        self._window = FixedWindowRateLimiter(limits_storage(storage_uri))
        self._default = parse(default)
        self.anonymous = anonymous  # per address, for requests that prove no identity
        self._parsed: dict[str, RateLimitItem] = {}
        # limits' memory storage starts its expiry timer unguarded: two threads counting at
        # once can both start the same timer, and the second request failed with a 500
        # ("threads can only be started once", seen under load). Its counts live in this
        # process, so one lock around them costs a few microseconds and no round trip.
        self._serial: AbstractContextManager[object] = (
            threading.Lock() if storage_uri.startswith("memory") else nullcontext()
        )

    def hit(self, identity: str, limit: str | None, cost: int = 1) -> Refusal | None:
        """Count ``cost`` requests (None: the service's default limit); None when they fit
        within the limit. What does not fit is refused whole and, when it is more than one,
        not counted: a batch refused spends nothing of what is left."""
        item = self._default if limit is None else self._item(limit)
        with self._serial:
            if (cost == 1 or self._window.test(item, identity, cost=cost)) and self._window.hit(
                item, identity, cost=cost
            ):
                return None
            reset_at, _ = self._window.get_window_stats(item, identity)
        return _refusal(item, reset_at)

    def spent(self, identity: str, limit: str | None) -> Refusal | None:
        """The refusal one more request would meet, without counting it."""
        item = self._item(limit)
        with self._serial:
            if self._window.test(item, identity):
                return None
            reset_at, _ = self._window.get_window_stats(item, identity)
        return _refusal(item, reset_at)

    def clear(self, identity: str, limit: str | None) -> None:
        """Forget what ``identity`` spent in the current window."""
        item = self._item(limit)
        with self._serial:
            self._window.clear(item, identity)

    def _item(self, limit: str | None) -> RateLimitItem:
        if limit is None:
            return self._default
        item = self._parsed.get(limit)
        if item is None:
            item = self._parsed[limit] = parse(limit)
        return item


def _refusal(item: RateLimitItem, reset_at: float) -> Refusal:
    wait = min(max(math.ceil(reset_at - time.time()), 1), item.get_expiry())
    period = item.GRANULARITY.name
    shown = f"{item.multiples} {period}s" if item.multiples > 1 else period
    return Refusal(f"{item.amount}/{shown}", item.amount, wait)
