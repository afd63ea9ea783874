"""A unit of work made again, from its start, when the store was busy for a moment.

On SQLite a transaction that has read cannot start writing once another process has
committed since (the scoring workers write all the time), and only a fresh transaction
can; a server database may drop a connection or pick a deadlock victim. Each ends the
unit of work with ``TransientFailure`` and nothing of it kept, so doing it again is safe.
The stream's stages retry their batches themselves; this is for the commands and use
cases that change the store once, on a person's request.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fraud.application.stream.stage import Backoff
from fraud.domain.errors import TransientFailure

ATTEMPTS = 10
BACKOFF = Backoff(initial=0.025, maximum=0.5)  # the stages' growing waits, shorter

P = ParamSpec("P")
R = TypeVar("R")


def retried_when_busy(change: Callable[P, R]) -> Callable[P, R]:
    """``change`` made again, after a growing wait, while it fails with ``TransientFailure``;
    the last failure is raised after ``ATTEMPTS`` tries (about three seconds of waits between
    them, besides each try's own wait for the lock: SQLite's busy timeout).

    ``change`` must be whole units of work: each try starts and commits its own."""

    @functools.wraps(change)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS):
            try:
                return change(*args, **kwargs)
            except TransientFailure:
                time.sleep(BACKOFF.delay(attempt))
        return change(*args, **kwargs)

    return retried
