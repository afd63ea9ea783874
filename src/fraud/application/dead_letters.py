"""Dead letters: a message a stage cannot handle, kept whole with where it came from and why."""

from __future__ import annotations

from fraud.domain.ports import Message, OutgoingMessage

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
