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
    """gunicorn's threads count requests together; the memory storage's expiry timer failed
    a request with a 500 when two of them started it at once (two runs in three here, before
    the counting was serialised)."""
    rate_limits = RateLimits("1000000/hour", "memory://")
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
    tight = RateLimits("4800/hour", "memory://")
    assert all(tight.hit("key:load", None) is None for _ in range(4_800))
    assert tight.hit("key:load", None) is not None  # the 4,801st is refused
