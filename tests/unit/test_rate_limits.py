"""The per-identity rate limits as the HTTP API's threads use them: many at once."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from fraud.entrypoints.http.access import RateLimits


@pytest.fixture
def threads_switching_often() -> Iterator[None]:
    """Threads handing over every microsecond instead of every 5 ms: a moment between two
    steps that another thread could slip into is met far more often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("threads_switching_often")
def test_threads_counting_at_once_never_fail() -> None:
    """The server's threads count requests together; the memory storage's expiry timer failed
    a request with a 500 when two of them started it at once (two runs in three here, before
    the counting was serialised)."""
    rate_limits = RateLimits("1000000/hour", "memory://", anonymous="60/minute")
    failures: list[BaseException] = []

    def count() -> None:
        for _ in range(800):
            try:
                rate_limits.hit("key:load", None)
            except BaseException as error:  # what a request would have turned into a 500
                failures.append(error)
            time.sleep(0.0005)  # requests apart, so the expiry timer ends and is made again

    threads = [threading.Thread(target=count) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_every_request_counts_until_the_limit() -> None:
    tight = RateLimits("4800/hour", "memory://", anonymous="60/minute")
    assert all(tight.hit("key:load", None) is None for _ in range(4_800))
    assert tight.hit("key:load", None) is not None  # the 4,801st is refused


def test_a_cost_counts_as_that_many_requests() -> None:
    limits = RateLimits("10/hour", "memory://", anonymous="60/minute")
    assert limits.hit("key:batch", None, cost=6) is None
    assert limits.hit("key:batch", None, cost=4) is None
    refused = limits.hit("key:batch", None)
    assert refused is not None and (refused.limit, refused.amount) == ("10/hour", 10)


def test_what_does_not_fit_is_refused_whole_and_spends_nothing() -> None:
    limits = RateLimits("10/hour", "memory://", anonymous="60/minute")
    assert limits.hit("key:batch", None, cost=7) is None
    refused = limits.hit("key:batch", None, cost=4)
    assert refused is not None and 1 <= refused.retry_after <= 3600
    assert limits.hit("key:batch", None, cost=3) is None  # the 4 refused were not counted
    assert limits.hit("key:batch", None) is not None


def test_what_is_spent_can_be_seen_without_spending_and_cleared() -> None:
    limits = RateLimits("10/hour", "memory://", anonymous="60/minute")
    assert all(limits.hit("account", "5/15 minutes") is None for _ in range(5))
    seen = limits.spent("account", "5/15 minutes")
    assert seen is not None and seen.limit == "5/15 minutes" and seen.retry_after <= 900
    assert limits.spent("another", "5/15 minutes") is None
    limits.clear("account", "5/15 minutes")
    assert limits.spent("account", "5/15 minutes") is None


def test_a_refusal_says_the_limit_as_people_write_it() -> None:
    limits = RateLimits("2/minute", "memory://", anonymous="60/minute")
    limits.hit("key:k", None, cost=2)
    refused = limits.hit("key:k", None)
    assert refused is not None
    error = refused.error(" (a batch counts one per item: this one 3)")
    assert error.status == 429 and error.retry_after == refused.retry_after
    assert error.message == (
        "rate limit of 2/minute reached (a batch counts one per item: this one 3); slow down"
    )


def test_counting_in_memory_starts_no_thread_and_expires_as_it_reads() -> None:
    """limits' own memory storage started a timer thread every 10 ms of traffic to sweep
    expired counts; ours sweeps on the counting thread, and a count still ends with its
    window because it is checked when read."""
    limits = RateLimits("3/second", "memory://", anonymous="60/minute")
    threads = threading.active_count()
    assert [limits.hit("key", None) is None for _ in range(4)] == [True, True, True, False]
    assert threading.active_count() == threads
    window = limits._window.storage  # the storage the limiter counts in
    window.expirations = {key: 0.0 for key in window.expirations}  # as if the second ended
    assert limits.hit("key", None) is None
