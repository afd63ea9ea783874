"""What a decision sets going, written in the record stage's unit of work with the verdicts
that decide it: a review (or a decline its queue takes) opens a case, and a decline or a
review is an event for the webhooks' outbox.

It rides the record stage's hook for work added to a batch (the :class:`Tallying`
protocol of :mod:`fraud.application.tallies`): ``count`` is given the verdicts the batch
decided (a redelivered verdict decides nothing, so it opens nothing and tells nothing), and
``flush_if_due`` writes the batch's cases and events in the batch's unit of work, every
batch: two statements a batch, however many cases (the unique transaction of a case and the
event id of an event keep a retried batch from writing either twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from fraud.application.queues import LiveQueues
from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.cases import NewCase, new_case
from fraud.domain.ports import UnitOfWork
from fraud.domain.webhooks import WebhookEvent, decision_event

_FLAGGED = (Decision.REVIEW, Decision.DECLINE)


@dataclass(frozen=True, slots=True)
class FollowUps:
    """A batch's cases to open and events to send."""

    cases: list[NewCase] = field(default_factory=list)
    events: list[WebhookEvent] = field(default_factory=list)


class DecisionFollowUps:
    """Cases and events of what a batch decided, for the record stage to write."""

    def __init__(self, queues: LiveQueues) -> None:
        self.queues = queues

    def count(self, decided: Iterable[TransactionRecord]) -> FollowUps:
        flagged = [
            record
            for record in decided
            if record.assessment is not None and record.assessment.decision in _FLAGGED
        ]
        if not flagged:
            return FollowUps()
        routed = self.queues.current().route(flagged)
        cases = [
            new_case(record, queue, _decided_at(record))
            for record, queue in zip(flagged, routed, strict=True)
            if queue is not None
        ]
        events = [event for record in flagged if (event := decision_event(record)) is not None]
        return FollowUps(cases, events)

    def flush_if_due(self, uow: UnitOfWork, counts: FollowUps) -> bool:
        if counts.cases:
            uow.cases.open(counts.cases)
        if counts.events:
            uow.webhooks.enqueue(counts.events, counts.events[0].occurred_at)
        return False  # nothing kept between batches: nothing to check after a commit

    def committed(self, counts: FollowUps, flushed: bool) -> None:
        return None

    def check(self) -> None:
        return None

    def warm_up(self) -> None:
        """The queues' routing, read and its conditions compiled."""
        self.queues.current()


def _decided_at(record: TransactionRecord) -> datetime:
    assessment = record.assessment
    assert assessment is not None
    return record.recorded_at or assessment.scored_at
