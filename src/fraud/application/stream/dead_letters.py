"""Dead letters: a message a stage cannot handle, kept whole with where it came from and why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from fraud.domain.ports import Clock, Message, MessageBus, OutgoingMessage, Topic, UnitOfWorkFactory

DLQ_HEADER_PREFIX = "dlq."
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
STAGE = "dlq.stage"
ERROR = "dlq.error"
MAX_ERROR_LENGTH = 2_000


def dead_letter(message: Message, stage: str, error: str) -> OutgoingMessage:
    """The original bytes and headers, plus headers naming the source, the stage and the error."""
    headers = dict(message.headers)
    headers.update(
        {
            SOURCE_TOPIC: message.topic,
            SOURCE_PARTITION: str(message.partition),
            SOURCE_OFFSET: str(message.offset),
            STAGE: stage,
            ERROR: error[:MAX_ERROR_LENGTH],
        }
    )
    return OutgoingMessage(key=message.key, value=message.value, headers=headers)


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """A dead letter as an operator reads it."""

    partition: int
    offset: int
    stage: str
    source: str
    error: str
    transaction_id: str | None
    preview: str


def describe(letter: Message, preview_length: int = 160) -> DeadLetterView:
    headers = letter.headers
    source = (
        f"{headers.get(SOURCE_TOPIC, '?')}[{headers.get(SOURCE_PARTITION, '?')}]"
        f"@{headers.get(SOURCE_OFFSET, '?')}"
    )
    text = letter.value.decode("utf-8", errors="replace")
    return DeadLetterView(
        partition=letter.partition,
        offset=letter.offset,
        stage=headers.get(STAGE, "?"),
        source=source,
        error=headers.get(ERROR, "?"),
        transaction_id=headers.get("transaction_id"),
        preview=text if len(text) <= preview_length else text[:preview_length] + "...",
    )


class ListDeadLetters:
    """What the dead-letter topic holds, as an operator reads it."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    def __call__(self, limit: int | None = None) -> list[DeadLetterView]:
        return [describe(letter) for letter in self.bus.read_topic(Topic.DEAD_LETTERS, limit)]


class UnknownDeadLetters(LookupError):
    """Positions named for replay where the dead-letter topic holds nothing."""

    def __init__(self, positions: Collection[tuple[int, int]]) -> None:
        self.positions = sorted(positions)
        super().__init__("no dead letter at " + ", ".join(f"{p}:{o}" for p, o in self.positions))


def letter_key(letter: Message) -> str:
    """What identifies a dead letter across reads: where it came from and which stage
    refused it (its own offset in the dead-letter topic would not survive a new topic)."""
    headers = letter.headers
    return (
        f"{headers.get(SOURCE_TOPIC, '?')}[{headers.get(SOURCE_PARTITION, '?')}]"
        f"@{headers.get(SOURCE_OFFSET, '?')}/{headers.get(STAGE, '?')}"
    )


@dataclass(frozen=True, slots=True)
class Replayed:
    sent: int
    already_replayed: int  # skipped: replayed before (replay them again with ``force``)


class ReplayDeadLetters:
    """Send dead letters back to the topic they came from, once what broke them is fixed.

    Each letter is sent back once: a replay is recorded, and replaying it again does
    nothing unless forced.
    """

    def __init__(self, bus: MessageBus, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self.bus = bus
        self.unit_of_work = unit_of_work
        self.clock = clock

    def __call__(
        self, positions: Collection[tuple[int, int]] | None = None, *, force: bool = False
    ) -> Replayed:
        """Replay the letters at these (partition, offset) positions, or every one when
        None. Nothing is replayed if a position holds no letter."""
        letters = self.bus.read_topic(Topic.DEAD_LETTERS)
        if positions is not None:
            wanted = set(positions)
            letters = [m for m in letters if (m.partition, m.offset) in wanted]
            missing = wanted - {(m.partition, m.offset) for m in letters}
            if missing:
                raise UnknownDeadLetters(missing)
        keys = {letter_key(letter): letter for letter in letters}
        with self.unit_of_work() as uow:
            done = set() if force else uow.replays.replayed(list(keys))
        chosen = [letter for key, letter in keys.items() if key not in done]
        sent = self._send_back(chosen)
        with self.unit_of_work() as uow:
            uow.replays.mark_replayed([letter_key(letter) for letter in chosen], self.clock.now())
            uow.commit()
        return Replayed(sent, len(keys) - len(chosen))

    def _send_back(self, letters: Sequence[Message]) -> int:
        """Publish each letter's original bytes and headers back to the topic it came from."""
        by_topic: dict[str, list[OutgoingMessage]] = defaultdict(list)
        for letter in letters:
            source = letter.headers.get(SOURCE_TOPIC)
            if not source:
                where = f"{letter.partition}:{letter.offset}"
                raise ValueError(f"dead letter {where} names no source topic")
            headers = {
                k: v for k, v in letter.headers.items() if not k.startswith(DLQ_HEADER_PREFIX)
            }
            by_topic[source].append(OutgoingMessage(letter.key, letter.value, headers))
        for topic, messages in by_topic.items():
            self.bus.publish(topic, messages)
        return sum(len(messages) for messages in by_topic.values())
