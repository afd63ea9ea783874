"""Counts the record stage keeps of what it stores (drift bins, how the rules fared),
written as tallies in the unit of work of a batch every few seconds.

A batch's counts are kept only once its unit of work commits, so a batch retried is never
counted twice; at most a flush interval of counts is lost if a worker dies. Writing them
every few seconds rather than with every batch keeps the record stage's hot path at one
statement per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from fraud.domain.assessment import TransactionRecord
from fraud.domain.ports import UnitOfWork

FLUSH_EVERY_S = 10.0

Counts = TypeVar("Counts")


class Tallying(Protocol[Counts]):
    """What the record stage asks of each tally it keeps."""

    def count(self, decided: Iterable[TransactionRecord]) -> Counts:
        """A batch's counts of the verdicts it decided (a redelivery decides nothing)."""

    def flush_if_due(self, uow: UnitOfWork, counts: Counts) -> bool:
        """Write what was counted, this batch's too, in ``uow``, when the interval passed."""

    def committed(self, counts: Counts, flushed: bool) -> None:
        """The batch's unit of work committed: forget what was written, or keep it for the
        next flush."""

    def check(self) -> None:
        """After a flush is committed: look at what the tallies say (a warning to log)."""

    def warm_up(self) -> None:
        """Before the first batch: read what counting one reads (a model's card, the rule
        set, the queues), so that the first transactions do not wait for it."""


class PeriodicFlush(Generic[Counts]):
    """What is counted and not yet written, and when to write it: at most every
    ``flush_s`` seconds, the first batch's counts at once.

    ``merge`` gives the sum of two counts and changes neither; ``accumulate``, when given,
    adds a batch's counts into what is pending in place (what ``merge`` gives otherwise): a
    batch of a row or two then costs its own counts, not a copy of all that is pending."""

    def __init__(
        self,
        merge: Callable[[Counts, Counts], Counts],
        empty: Callable[[], Counts],
        flush_s: float = FLUSH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
        accumulate: Callable[[Counts, Counts], Counts] | None = None,
    ) -> None:
        self.merge = merge
        self.accumulate = accumulate or merge
        self.empty = empty
        self.flush_s = flush_s
        self.monotonic = monotonic
        self._pending = empty()
        self._flushed = float("-inf")

    def due(self, counts: Counts) -> Counts | None:
        """Everything to write now (what is pending and ``counts``), or None when it is not
        yet time or there is nothing."""
        if not (self._pending or counts) or self.monotonic() - self._flushed < self.flush_s:
            return None
        return self.merge(self._pending, counts)

    def committed(self, counts: Counts, flushed: bool) -> None:
        if flushed:
            self._pending = self.empty()
            self._flushed = self.monotonic()
        else:
            self._pending = self.accumulate(self._pending, counts)
