"""The outbox relay: claimed transactions onto the bus, in batches, whatever the bus does.

A submission claims its transaction id in the database and answers at once; the
committed claim is the promise. The relay publishes what was claimed: what this
process claimed, as soon as it is handed over, and any claim still unpublished
a while after it was made (a crash between claim and publish, a broker that was
down), from the database. A message is marked published only once the bus says
it is durable, so a claim is published at least once; the pipeline downstream
is idempotent by transaction id.

Run as a thread (``start``), it never makes a request wait on the broker. Not
started (a test, a one-off command), ``hand_over`` publishes before returning.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta

import structlog

from fraud.application.stream.envelopes import Envelopes
from fraud.domain.assessment import TransactionRecord
from fraud.domain.errors import TransientFailure
from fraud.domain.ports import Clock, MessageBus, Topic, UnitOfWorkFactory

log = structlog.get_logger(__name__)

BATCH = 1_000
SWEEP_EVERY_S = 2.0
# A claim unpublished this long is not in flight in the process that made it: it was
# left behind (a crash, a broker away), and any relay takes it.
ORPHANED_AFTER = timedelta(seconds=10)
MAX_BACKOFF_S = 5.0
# Published claims are marked so in one write at most this often (a mark per publish cost a
# second write transaction per request at low load, each contending with the next claim for
# SQLite's one writer). Far under ORPHANED_AFTER, so no relay takes a marked-late claim for
# one left behind.
MARK_EVERY_S = 0.25


class OutboxRelay:
    def __init__(
        self,
        bus: MessageBus,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        envelopes: Envelopes,
        *,
        orphaned_after: timedelta = ORPHANED_AFTER,
    ) -> None:
        self.bus = bus
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.envelopes = envelopes
        self.orphaned_after = orphaned_after
        self._handed: list[TransactionRecord] = []
        self._unmarked: list[str] = []  # published, but the database did not take the mark yet
        self._marked_at = float("-inf")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def hand_over(self, records: Sequence[TransactionRecord]) -> None:
        """Publish these claims: soon when the relay runs, now otherwise."""
        if self._thread is None:
            self._publish(records)
            return
        with self._lock:
            self._handed.extend(records)
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Publish what was handed over (as far as the bus lets within ``timeout``), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sweep(self, *, everything: bool = False) -> int:
        """Publish every claim left unpublished for a while (or, with ``everything``, every
        unpublished claim made before now); returns how many."""
        cutoff = self.clock.now() - (timedelta(0) if everything else self.orphaned_after)
        swept = 0
        while True:
            with self.unit_of_work() as uow:
                waiting = uow.verdicts.unpublished(BATCH, claimed_before=cutoff)
            unmarked = set(self._unmarked)
            waiting = [r for r in waiting if r.transaction.transaction_id not in unmarked]
            if not waiting:
                return swept
            self._publish(waiting)
            swept += len(waiting)
            if len(waiting) < BATCH:
                return swept

    def _run(self) -> None:
        failures = 0
        next_sweep = 0.0
        while True:
            self._wake.wait(MARK_EVERY_S if self._unmarked else SWEEP_EVERY_S)
            self._wake.clear()
            with self._lock:
                pending, self._handed = self._handed, []
            try:
                self._mark_published(due_only=True)
                while pending:
                    self._publish(pending[:BATCH])
                    pending = pending[BATCH:]
                # Only with nothing of its own in hand, so it never publishes those twice.
                if time.monotonic() >= next_sweep:
                    if swept := self.sweep():
                        log.info("outbox: claims left unpublished now published", count=swept)
                    next_sweep = time.monotonic() + SWEEP_EVERY_S
                failures = 0
            except TransientFailure as failure:
                with self._lock:  # kept, in order, for the next attempt
                    self._handed[:0] = pending
                failures += 1
                delay = min(MAX_BACKOFF_S, 0.1 * 2**failures)
                log.warning(
                    "outbox: publishing failed, retrying", error=str(failure), retry_in_s=delay
                )
                if self._stop.wait(delay) and failures > 3:
                    return  # stopping, and the bus is away: the sweep of a later run has them
                self._wake.set()
                continue
            if self._stop.is_set():
                with self._lock:
                    if not self._handed:
                        self._mark_leaving()
                        return

    def _mark_leaving(self) -> None:
        """The last marks, so the next start has nothing to publish again."""
        try:
            self._mark_published()
        except TransientFailure as failure:
            log.warning("outbox: leaving with claims unmarked", error=str(failure))

    def _publish(self, records: Sequence[TransactionRecord]) -> None:
        if not records:
            return
        self.bus.publish(
            Topic.TRANSACTIONS,
            [
                self.envelopes.transaction_message(r.transaction, r.received_at, r.trace)
                for r in records
            ],
        )
        self.published += len(records)
        # Once on the bus, never published again for a database that was briefly away:
        # only the mark is retried.
        self._unmarked.extend(r.transaction.transaction_id for r in records)
        try:
            self._mark_published(due_only=self._thread is not None)
        except TransientFailure as failure:
            log.warning("outbox: published, marking them later", error=str(failure))

    def _mark_published(self, *, due_only: bool = False) -> None:
        """Mark what was published; with ``due_only``, only once ``MARK_EVERY_S`` has passed
        since the last mark (or a batch's worth waits), so marks go in few writes."""
        if not self._unmarked:
            return
        now = time.monotonic()
        if due_only and now - self._marked_at < MARK_EVERY_S and len(self._unmarked) < BATCH:
            return
        with self.unit_of_work() as uow:
            uow.verdicts.mark_published(self._unmarked, self.clock.now())
            uow.commit()
        self._unmarked = []
        self._marked_at = now
