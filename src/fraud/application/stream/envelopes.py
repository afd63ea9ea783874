"""How each topic's messages are written and read.

``transactions`` carries a bare transaction in DESIGN.md's contract (any producer
may write it); the later topics wrap the transaction with what the stages added.
The bytes come from a :class:`~fraud.domain.ports.Serializer` (JSON by
default), so the wire format is an adapter like the broker.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import structlog

from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.features import FeatureVector
from fraud.domain.label_risk import LabelEvent
from fraud.domain.ports import TRACEPARENT, Message, OutgoingMessage, Serializer
from fraud.domain.reasons import Reason
from fraud.domain.rules import RuleFault, RuleHit
from fraud.domain.transaction import (
    DEFAULT_MAX_SKEW,
    Transaction,
    format_instant,
    parse_instant,
)

log = structlog.get_logger(__name__)

TRANSACTION_ID_HEADER = "transaction_id"
RECEIVED_AT_HEADER = "received_at"


class MalformedMessage(ValueError):
    """A message a stage cannot read; it goes to the dead-letter topic with this reason."""


class Envelopes:
    def __init__(self, serializer: Serializer, max_skew: timedelta = DEFAULT_MAX_SKEW) -> None:
        self.serializer = serializer
        self.max_skew = max_skew
        # One per field: the same instant recurs through a batch, field by field.
        self._preprocessed_at = SharedInstants()
        self._scored_at = SharedInstants()

    def decode(self, message: Message) -> dict[str, Any]:
        try:
            data = self.serializer.loads(message.value)
        except ValueError as error:
            raise MalformedMessage(f"value is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("value is not a JSON object")
        return data

    def label_message(self, label: LabelEvent) -> OutgoingMessage:
        """A label event, keyed like the transaction it is about (by user): ``fraud-labels``
        has as many partitions as ``transactions``, so the worker that owns a card's
        partition of one gets the card's labels in the same partition of the other."""
        return OutgoingMessage(
            label.user_id,
            self.serializer.dumps(
                {
                    "transaction_id": label.transaction_id,
                    "is_fraud": label.is_fraud,
                    "labelled_at": _instant_of(label.labelled_at),
                    "user_id": label.user_id,
                    "merchant": label.merchant,
                    "timestamp": _instant_of(label.event_at),
                }
            ),
            {TRANSACTION_ID_HEADER: label.transaction_id},
        )

    def read_label(self, message: Message) -> LabelEvent:
        data = self.decode(message)
        try:
            return LabelEvent(
                transaction_id=_string(data, "transaction_id"),
                is_fraud=_flag(data, "is_fraud"),
                labelled_at=parse_instant(_string(data, "labelled_at")).timestamp(),
                user_id=_string(data, "user_id"),
                merchant=_string(data, "merchant"),
                event_at=parse_instant(_string(data, "timestamp")).timestamp(),
            )
        except ValueError as error:
            raise MalformedMessage(f"not a label event: {error}") from None

    def read_transaction(self, message: Message, received_at: datetime) -> Transaction:
        """A transaction from any producer, validated against the contract as received at
        ``received_at`` (see :meth:`received_at`).

        One sent without a ``transaction_id`` gets an id derived from its content, the
        same each time it is redelivered or replayed from the dead-letter topic, so it
        never becomes two transactions.
        """
        return Transaction.parse(
            self.decode(message),
            new_id=lambda: _content_id(message),
            received_at=received_at,
            max_skew=self.max_skew,
        )

    def received_at(self, message: Message) -> datetime | None:
        """When the service received a message of ``transactions``: the API's header, unless
        it claims a moment after the broker took the message (a producer may write any
        header); otherwise the broker's time (the topic is stamped on append)."""
        accepted = (
            None if message.timestamp is None else datetime.fromtimestamp(message.timestamp, UTC)
        )
        header = message.headers.get(RECEIVED_AT_HEADER)
        if header:
            try:
                stamped = parse_instant(header)
            except ValueError:
                stamped = None
            if stamped is not None and (accepted is None or stamped <= accepted + self.max_skew):
                return stamped
        return accepted

    def transaction_message(
        self, transaction: Transaction, received_at: datetime, trace: str | None = None
    ) -> OutgoingMessage:
        headers = {
            TRANSACTION_ID_HEADER: transaction.transaction_id,
            RECEIVED_AT_HEADER: format_instant(received_at),
        }
        return OutgoingMessage(
            key=transaction.user_id,
            value=self.serializer.dumps(transaction.to_dict()),
            headers=_traced(headers, trace),
        )

    def preprocessed_message(
        self,
        transaction: Transaction,
        received_at: datetime,
        features: FeatureVector,
        preprocessed_at: datetime | None,
        trace: str | None = None,
    ) -> OutgoingMessage:
        return OutgoingMessage(
            key=transaction.user_id,
            value=self.serializer.dumps(
                {
                    "transaction": transaction.to_dict(),
                    "received_at": format_instant(received_at),
                    "features": features.as_dict(),
                    "preprocessed_at": self._preprocessed_at.format_optional(preprocessed_at),
                }
            ),
            headers=_traced({TRANSACTION_ID_HEADER: transaction.transaction_id}, trace),
        )

    def read_preprocessed(self, message: Message) -> Preprocessed:
        data = self.decode(message)
        try:
            return Preprocessed(
                transaction=Transaction.from_dict(data["transaction"]),
                received_at=parse_instant(data["received_at"]),
                features=FeatureVector.from_dict(data["features"]),
                preprocessed_at=self._preprocessed_at.parse_optional(data.get("preprocessed_at")),
                trace=message.headers.get(TRACEPARENT),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedMessage(f"not a preprocessed transaction: {error}") from None

    def result_message(self, record: TransactionRecord) -> OutgoingMessage:
        assessment = record.assessment
        assert assessment is not None, "only scored records are results"
        return OutgoingMessage(
            key=record.transaction.user_id,
            value=self.serializer.dumps(
                {
                    "transaction": record.transaction.to_dict(),
                    "received_at": format_instant(record.received_at),
                    "preprocessed_at": self._preprocessed_at.format_optional(
                        record.preprocessed_at
                    ),
                    "features": record.features or {},
                    "assessment": self._assessment(assessment),
                    # A challenger's scorings, in shadow: kept as versions, never decisions.
                    "shadow": [self._assessment(shadow) for shadow in record.versions],
                }
            ),
            headers=_traced(
                {TRANSACTION_ID_HEADER: record.transaction.transaction_id}, record.trace
            ),
        )

    def read_result(
        self, message: Message, *, recorded_at: datetime | None = None
    ) -> TransactionRecord:
        """A scored record from ``fraud-results``; ``recorded_at`` when the caller stores it."""
        data = self.decode(message)
        try:
            transaction = Transaction.from_dict(data["transaction"])
            assessment = self._read_assessment(transaction.transaction_id, data["assessment"])
            shadows = self._read_shadows(transaction.transaction_id, data.get("shadow"))
            return TransactionRecord(
                transaction=transaction,
                received_at=parse_instant(data["received_at"]),
                status=Status.SCORED,
                assessment=assessment,
                features={str(k): float(v) for k, v in data.get("features", {}).items()},
                preprocessed_at=self._preprocessed_at.parse_optional(data.get("preprocessed_at")),
                recorded_at=recorded_at,
                versions=shadows,
                trace=message.headers.get(TRACEPARENT),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedMessage(f"not a fraud result: {error}") from None

    def _assessment(self, assessment: Assessment) -> dict[str, object]:
        return {
            "fraud_score": assessment.fraud_score,
            "decision": assessment.decision.value,
            "reasons": list(assessment.reasons),
            "model_version": assessment.model_version,
            "scored_at": self._scored_at.format(assessment.scored_at),
            "rules_version": assessment.rules_version,
            "rule_hits": [hit.to_dict() for hit in assessment.rule_hits],
            "explanation": [reason.to_dict() for reason in assessment.explanation],
            **(
                {"rule_faults": [fault.to_dict() for fault in assessment.rule_faults]}
                if assessment.rule_faults
                else {}
            ),
        }

    def _read_shadows(self, transaction_id: str, shadows: object) -> tuple[Assessment, ...]:
        """A challenger's scorings; one that cannot be read is left out (logged), never the
        champion's decision with it."""
        read = []
        for shadow in shadows if isinstance(shadows, list) else ():
            try:
                read.append(self._read_assessment(transaction_id, shadow))
            except (KeyError, TypeError, ValueError) as error:
                log.warning(
                    "a shadow scoring could not be read; it is left out",
                    transaction_id=transaction_id,
                    error=str(error),
                )
        return tuple(read)

    def _read_assessment(self, transaction_id: str, verdict: dict[str, Any]) -> Assessment:
        return Assessment(
            transaction_id=transaction_id,
            fraud_score=float(verdict["fraud_score"]),
            decision=Decision(verdict["decision"]),
            reasons=tuple(str(reason) for reason in verdict["reasons"]),
            model_version=str(verdict["model_version"]),
            scored_at=self._scored_at.parse(verdict["scored_at"]),
            rule_hits=tuple(map(RuleHit.from_dict, verdict.get("rule_hits") or ())),
            rules_version=_optional_int(verdict.get("rules_version")),
            explanation=tuple(map(Reason.from_dict, verdict.get("explanation") or ())),
            rule_faults=tuple(map(RuleFault.from_dict, verdict.get("rule_faults") or ())),
        )


class Preprocessed(NamedTuple):
    """A transaction with its features, as the score stage receives it."""

    transaction: Transaction
    received_at: datetime
    features: FeatureVector
    preprocessed_at: datetime | None  # None from producers older than the field
    trace: str | None = None  # its trace's traceparent, as it came


class SharedInstants:
    """Formats and parses the instants a whole batch shares (when it was preprocessed, when
    scored) once per batch instead of once per message, by remembering the last one.

    Each cache is one tuple swapped whole, so stage threads sharing it stay consistent.
    """

    def __init__(self) -> None:
        self._formatted: tuple[datetime | None, str] = (None, "")
        self._parsed: tuple[str | None, datetime | None] = (None, None)

    def format(self, instant: datetime) -> str:
        last, text = self._formatted
        if instant != last:
            text = format_instant(instant)
            self._formatted = (instant, text)
        return text

    def parse(self, text: str) -> datetime:
        last, instant = self._parsed
        if text != last or instant is None:
            instant = parse_instant(text)
            self._parsed = (text, instant)
        return instant

    def format_optional(self, instant: datetime | None) -> str | None:
        return None if instant is None else self.format(instant)

    def parse_optional(self, text: str | None) -> datetime | None:
        return None if text is None else self.parse(text)


CONTENT_IDS = uuid.UUID("6f4a4e0e-8a53-4d47-9a6c-2f0b7d3c9e51")  # the namespace of content ids


def _content_id(message: Message) -> str:
    return str(uuid.uuid5(CONTENT_IDS, hashlib.sha256(message.value).hexdigest()))


def _traced(headers: dict[str, str], trace: str | None) -> dict[str, str]:
    """The headers, with the transaction's trace context when it has one."""
    if trace is not None:
        headers[TRACEPARENT] = trace
    return headers


def _instant_of(at: float) -> str:
    return format_instant(datetime.fromtimestamp(at, UTC))


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"rules_version must be an integer, not {value!r}")
    return value


def _string(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
