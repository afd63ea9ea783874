"""Answers for a client that waits: a transaction's verdict as soon as it is decided.

A card authorisation waits for its fraud decision, so a submission may ask to wait
a few hundred milliseconds for it (``POST /transaction?wait=MS``). The process
follows ``fraud-results`` from the moment the first client waits, outside any
consumer group (every API process sees every verdict, whichever worker decided
it), and hands each waited-for verdict to its waiter; only those are decoded.
The follower is positioned before the transaction is claimed, so its verdict
cannot go by unseen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import structlog

from fraud.application.stream.envelopes import (
    TRANSACTION_ID_HEADER,
    Envelopes,
    MalformedMessage,
)
from fraud.domain.assessment import TransactionRecord
from fraud.domain.ports import Message, MessageBus, MessageFollower, Topic

log = structlog.get_logger(__name__)

POLL_S = 0.2
BATCH = 1_000
RETRY_S = 1.0


class Waiting:
    """The verdicts some transactions are waited for with, as they arrive."""

    def __init__(self, transaction_ids: Iterable[str]) -> None:
        self.ids = frozenset(transaction_ids)
        self.found: dict[str, TransactionRecord] = {}
        self._all_found = threading.Event()

    def wait(self, timeout: float) -> dict[str, TransactionRecord]:
        """The verdicts found within ``timeout`` seconds (all of them as soon as they are)."""
        self._all_found.wait(timeout)
        return dict(self.found)

    def _found(self, record: TransactionRecord) -> None:
        self.found[record.transaction.transaction_id] = record
        if len(self.found) == len(self.ids):
            self._all_found.set()


class VerdictWaiter:
    def __init__(self, bus: MessageBus, envelopes: Envelopes) -> None:
        self.bus = bus
        self.envelopes = envelopes
        self._waiting: dict[str, list[Waiting]] = {}
        self._lock = threading.Lock()
        self._started = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def awaiting(self, transaction_ids: Sequence[str]) -> Iterator[Waiting]:
        """Waits for these transactions' verdicts while the block runs: enter it before
        submitting them."""
        self._start()
        waiting = Waiting(transaction_ids)
        with self._lock:
            for transaction_id in waiting.ids:
                self._waiting.setdefault(transaction_id, []).append(waiting)
        try:
            yield waiting
        finally:
            with self._lock:
                for transaction_id in waiting.ids:
                    others = [w for w in self._waiting.pop(transaction_id, ()) if w is not waiting]
                    if others:
                        self._waiting[transaction_id] = others

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _start(self) -> None:
        with self._started:
            if self._thread is not None:
                return
            follower = self.bus.follower([Topic.RESULTS])
            follower.skip_to_end()
            self._thread = threading.Thread(
                target=self._run, args=(follower,), name="verdict-waiter", daemon=True
            )
            self._thread.start()

    def _run(self, follower: MessageFollower) -> None:
        try:
            while not self._stop.is_set():
                try:
                    messages = follower.poll(BATCH, POLL_S)
                except Exception as error:  # a broker away: the waiters time out meanwhile
                    log.warning("following verdicts failed, retrying", error=str(error))
                    self._stop.wait(RETRY_S)
                    continue
                self._hand_out(messages)
        finally:
            follower.close()

    def _hand_out(self, messages: Sequence[Message]) -> None:
        with self._lock:
            waited = [
                (message, self._waiting[transaction_id])
                for message in messages
                if (transaction_id := message.headers.get(TRANSACTION_ID_HEADER, ""))
                in self._waiting
            ]
        for message, waiters in waited:
            try:
                record = self.envelopes.read_result(message)
            except MalformedMessage:
                continue  # the record stage dead-letters it; its waiter times out
            for waiting in waiters:
                waiting._found(record)
