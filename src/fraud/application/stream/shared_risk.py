"""What every preprocess worker needs from the others: all labels, every partition's merchant
counts, and how far in event time each partition of ``transactions`` has got.

A merchant's transactions belong to many cards, so to many partitions and workers. Each
worker counts the merchants of its own partitions per day and writes the counts to
``merchant-counts``, in the partition of the transactions counted, followed by a progress
record: the offset counted up to, the day the partition has reached, and whether it is
idle. Every worker follows the whole topic (and the whole of ``fraud-labels``), so each
holds every partition's counts.

A merchant's figures cover whole days before the transaction's own day. A transaction of
day D is therefore handled only once every partition has reached day D (or is idle, with
nothing more to hand out): the days before are then complete everywhere, whichever worker
counts them and in whatever order the partitions were read. A partition that runs ahead
waits; the one furthest behind never does, so the stream always moves. This is the
event-time watermark of Flink and Kafka Streams at the grain of a day: with N workers or
one, and after any restart, a transaction sees the counts replay sees, for input that is
in time order per card. A transaction that arrives after its partition went idle and the
others moved past its day is late: it counts from then on, as it would in a replay of the
input in the order it arrived.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from fraud.application.stream.envelopes import Envelopes, MalformedMessage
from fraud.application.stream.stage import BatchOutput
from fraud.domain.features import BehaviourProfiles
from fraud.domain.label_risk import CountKey, LabelEvent, LabelRisk
from fraud.domain.ports import Message, MessageFollower, OutgoingMessage, Serializer, Topic

log = structlog.get_logger(__name__)

# The progress record of a partition; no count key starts with this character.
PROGRESS_KEY = "\x00progress"
FOLLOW_BATCH = 10_000
_NEVER = -math.inf


def count_key(merchant: str, day: int) -> str:
    return f"{day}\x1f{merchant}"


def parse_count_key(key: str) -> tuple[str, int]:
    day, merchant = key.split("\x1f", 1)
    return merchant, int(day)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a partition of ``transactions`` is counted: every message before ``offset``;
    no message of a day before ``day`` will be handled from it again (in-order input); and
    whether it is idle (read to its end, nothing on its way)."""

    offset: int
    day: float
    idle: bool

    def message(self, partition: int, serializer: Serializer) -> OutgoingMessage:
        """The record on ``merchant-counts``, in the pipeline's wire format (a day never
        reached has no number there: null)."""
        day = None if self.day == _NEVER else self.day
        body = serializer.dumps({"offset": self.offset, "day": day, "idle": self.idle})
        return OutgoingMessage(PROGRESS_KEY, body, partition=partition)

    @classmethod
    def read(cls, value: bytes, serializer: Serializer) -> Progress:
        data = serializer.loads(value)
        day = data["day"]
        return cls(int(data["offset"]), _NEVER if day is None else int(day), bool(data["idle"]))


def count_records(
    changes: dict[CountKey, int | None], owned: Iterable[int]
) -> list[OutgoingMessage]:
    """The changed day counts of the partitions this worker owns (another's are its to write)."""
    mine = set(owned)
    return [
        OutgoingMessage(
            count_key(merchant, day),
            None if count is None else str(count).encode("ascii"),
            partition=partition,
        )
        for (merchant, day, partition), count in changes.items()
        if partition in mine
    ]


class DayBarrier:
    """Whether a partition may hand out a transaction of a given day: every other partition
    has reached that day, or is idle."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.reached: dict[int, float] = {}
        self.idle: set[int] = set()
        self._floor: float | None = None  # the day every partition has reached

    def allows(self, partition: int, day: int) -> bool:
        if self._floor is None:
            self._floor = min(
                (self._effective(q) for q in range(self.partitions)), default=math.inf
            )
        if day <= self._floor:
            return True
        return all(self._effective(q) >= day for q in range(self.partitions) if q != partition)

    def behind(self, partition: int, day: int) -> dict[int, float]:
        """The partitions ``partition`` waits for at ``day``, and the day each has reached."""
        return {
            q: self._effective(q)
            for q in range(self.partitions)
            if q != partition and self._effective(q) < day
        }

    def reach(self, partition: int, day: float) -> None:
        if day > self.reached.get(partition, _NEVER):
            self.reached[partition] = day
            self._floor = None

    def set_idle(self, partition: int, idle: bool) -> None:
        if idle != (partition in self.idle):
            (self.idle.add if idle else self.idle.discard)(partition)
            self._floor = None

    def _effective(self, partition: int) -> float:
        return math.inf if partition in self.idle else self.reached.get(partition, _NEVER)


class SharedRisk:
    """The follower of ``fraud-labels`` and ``merchant-counts``: labels are learnt as they
    come; a partition's counts are taken once its progress record says they are complete
    (a batch whose progress was never written was never committed, and is handled again),
    and only for partitions another worker owns."""

    def __init__(self, follower: MessageFollower, envelopes: Envelopes, partitions: int) -> None:
        self.follower = follower
        self.envelopes = envelopes
        self.barrier = DayBarrier(partitions)
        self.progress: dict[int, Progress] = {}
        self.owned: set[int] = set()
        self._uncommitted: dict[int, list[tuple[str, int, int]]] = defaultdict(list)

    def restore(self, profiles: BehaviourProfiles, owned: set[int], output: BatchOutput) -> None:
        """Everything from the start, into ``profiles`` (emptied by the caller): every label,
        every partition's committed counts; then ``owned`` are this worker's to count."""
        self.follower.rewind()
        self.progress.clear()
        self._uncommitted.clear()
        self.barrier = DayBarrier(self.barrier.partitions)
        self.owned = set()
        self._take(profiles, self.follower.read_to_end(), output)
        self.owned = owned
        for partition in owned:
            self._uncommitted.pop(partition, None)  # never committed: handled again by us
            self.barrier.set_idle(partition, False)  # until the consumer says it is

    def catch_up(self, profiles: BehaviourProfiles, output: BatchOutput, wait: float = 0.0) -> None:
        """Learn what has arrived, waiting at most ``wait`` seconds for the first of it."""
        while batch := self.follower.poll(FOLLOW_BATCH, wait):
            self._take(profiles, batch, output)
            if len(batch) < FOLLOW_BATCH:
                return
            wait = 0.0

    def _take(
        self, profiles: BehaviourProfiles, messages: Iterable[Message], output: BatchOutput
    ) -> None:
        labels: list[LabelEvent] = []
        for message in messages:
            try:
                if message.topic == Topic.LABELS:
                    labels.append(self.envelopes.read_label(message))
                elif message.key == PROGRESS_KEY:
                    progress = Progress.read(message.value, self.envelopes.serializer)
                    self._commit(profiles.risk, message.partition, progress)
                    log.debug(
                        "a partition's progress read",
                        partition=message.partition,
                        day=None if progress.day == _NEVER else progress.day,
                        idle=progress.idle,
                        written_at=message.timestamp,
                    )
                elif message.key is not None:
                    merchant, day = parse_count_key(message.key)
                    count = int(message.value) if message.value else 0
                    self._uncommitted[message.partition].append((merchant, day, count))
            except (MalformedMessage, ValueError, KeyError, TypeError) as error:
                # Every worker reads it; the one owning the partition of that number says so.
                if message.partition in self.owned:
                    output.dead_letter(message, "preprocess", f"unreadable: {error}")
        profiles.learn(labels)

    def _commit(self, risk: LabelRisk, partition: int, progress: Progress) -> None:
        counts = self._uncommitted.pop(partition, [])
        if partition in self.owned:
            return  # this worker's own, counted here
        for merchant, day, count in counts:
            risk.load_count(merchant, day, partition, count)
        self.progress[partition] = progress
        self.barrier.reach(partition, progress.day)
        self.barrier.set_idle(partition, progress.idle)
