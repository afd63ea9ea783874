"""The state store of the embedded bus (``fraud run``), which keeps no log to replay after a
restart: the profiles are rebuilt from the transactions the database stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import structlog

from fraud.application.stream.stage import BatchOutput
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import AssignedPartition, MessageBus, VerdictQueries
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)

RESTORE_CHUNK = 10_000
_EVER = datetime(1, 1, 1, tzinfo=UTC)


class FromTheDatabase:
    """The embedded bus of ``fraud run`` keeps no log to replay after a restart: every
    transaction the database stored, that no stage refused, in time order. Features
    depend only on which transactions a user had, not on when the profiles learnt of
    them, so the next verdict after a restart is the one it would have been without.

    One process owns every partition, so no merchant count is written for another."""

    shares_counts = False

    def __init__(self, queries: VerdictQueries) -> None:
        self.queries = queries

    def changes(
        self,
        profiles: BehaviourProfiles,
        owners: Mapping[str, int],
        handled: Mapping[int, int],
        owned: set[int],
    ) -> BatchOutput:
        profiles.take_changes()  # the database holds every transaction already
        profiles.risk.take_changes()
        return BatchOutput()

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        profiles.learn(self.queries.label_events(_EVER))
        restored = 0
        chunk: list[Transaction] = []
        for transaction in self.queries.accepted_since(_EVER):
            chunk.append(transaction)
            if len(chunk) == RESTORE_CHUNK:
                profiles.observe(chunk)
                restored += len(chunk)
                chunk = []
        profiles.observe(chunk)
        profiles.expire()
        profiles.take_changes()
        profiles.risk.take_changes()
        log.info("state rebuilt from the database", transactions=restored + len(chunk))
        return []
