"""Review cases: every transaction decided ``review`` (and a declined one where its queue
says so) opens one case, which an analyst claims, works and resolves.

* **Queues.** A case belongs to the first queue, in the queues' order, whose condition (CEL,
  over ``tx``, ``features``, ``score``, ``decision`` and ``rules``: the names of the active
  rules that hit) holds for its transaction; a review no queue takes goes to the
  ``default`` queue. A decline opens a case only in a queue that ``include_declines``.
* **Priority.** ``score^a * log10(amount + 10)^b * (1 + waited / SLA)^c``, the exponents
  ``a``, ``b`` and ``c`` a queue's own (1, 1, 1 by default; 0 drops a factor: ``0, 0, 1``
  is first come, first served). It grows as a case waits, so an old small case overtakes a
  fresh large one before its SLA runs out.
* **Status.** open, claimed (one analyst holds it: claiming is atomic), waiting (needs
  information: no label, it leaves the queue's next-case order until claimed again),
  resolved (fraud or not fraud: the analyst's label on the transaction).
* **SLA.** A case open or claimed longer than its queue's SLA is past it; waiting on
  information stops the clock (the team cannot act).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.errors import FieldError
from fraud.domain.rules import MAX_EXPRESSION_LENGTH, expression_problem, text_problem

DEFAULT_QUEUE = "default"
DEFAULT_SLA = timedelta(hours=4)
MAX_SLA_MINUTES = 30 * 24 * 60
MIN_SLA_MINUTES = 0.05  # three seconds: a drill of an alert on breaches
MAX_QUEUE_NAME_LENGTH = 64
QUEUE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
QUEUE_NAME_RULE = (
    f"must be 1 to {MAX_QUEUE_NAME_LENGTH} lower-case letters, digits, - or _, "
    "starting with a letter or digit"
)
MAX_NOTE_LENGTH = 2_000
MAX_DESCRIPTION_LENGTH = 200
MAX_WEIGHT = 4.0
# A queue whose oldest open case has waited this share of its SLA says it is near it.
NEAR_SLA_SHARE = 0.8


class CaseStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    WAITING = "waiting"  # needs information: no label yet
    RESOLVED = "resolved"

    @property
    def on_the_clock(self) -> bool:
        """Whether the SLA counts: waiting on information stops it, resolving ends it."""
        return self in (CaseStatus.OPEN, CaseStatus.CLAIMED)


class Disposition(StrEnum):
    FRAUD = "fraud"
    NOT_FRAUD = "not_fraud"
    NEEDS_INFO = "needs_info"

    @property
    def label(self) -> bool | None:
        """The label it gives the transaction: fraud or not; None for needs information."""
        return {Disposition.FRAUD: True, Disposition.NOT_FRAUD: False}.get(self)


class CaseAction(StrEnum):
    """What a line of a case's history records (its opening is the case's own row)."""

    CLAIMED = "claimed"
    RELEASED = "released"
    NOTED = "noted"
    WAITING = "waiting"
    RESOLVED = "resolved"
    LISTED = "listed"  # its card or merchant added to a list


class InvalidCaseRequest(ValueError):
    """A request about cases or queues that breaks a rule of its fields; one error per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class UnknownCase(LookupError):
    def __init__(self, case_id: int) -> None:
        super().__init__(f"no case {case_id}")
        self.case_id = case_id


class CaseTaken(ValueError):
    """Another analyst holds the case (or it is resolved): nothing was changed."""

    def __init__(self, case_id: int, holder: str | None, status: CaseStatus) -> None:
        if status is CaseStatus.RESOLVED:
            message = f"case {case_id} is resolved"
        else:
            message = f"case {case_id} is held by {holder}"
        super().__init__(message)
        self.case_id = case_id


class NoCaseWaiting(LookupError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} has no open case")


class UnknownQueue(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no queue named {name!r}")
        self.name = name


class QueueExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a queue named {name!r} exists: change it instead")


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    """The exponents of a queue's priority: of the score, of ``log10(amount + 10)``, and of
    ``1 + waited / SLA``."""

    score: float = 1.0
    amount: float = 1.0
    waiting: float = 1.0

    def priority(self, fraud_score: float, amount: float, waited: float, sla: float) -> float:
        score = math.pow(max(fraud_score, 0.0), self.score)
        size = math.pow(math.log10(max(amount, 0.0) + 10.0), self.amount)
        urgency = math.pow(1.0 + max(waited, 0.0) / max(sla, 1.0), self.waiting)
        return score * size * urgency


@dataclass(frozen=True, slots=True)
class Queue:
    """Where cases wait: the condition that routes a case here, its SLA, whether declines
    open cases here, how its cases are ordered, and where it stands in the routing order."""

    name: str
    condition: str = "true"
    sla: timedelta = DEFAULT_SLA
    include_declines: bool = False
    weights: PriorityWeights = field(default_factory=PriorityWeights)
    position: int = 100  # routing order: lower first (the default queue is always last)
    description: str = ""
    version: int = 1

    def takes(self, decision: Decision) -> bool:
        return decision is Decision.REVIEW or (
            decision is Decision.DECLINE and self.include_declines
        )

    def priority(self, case: Case, now: datetime) -> float:
        waited = (now - case.opened_at).total_seconds()
        return self.weights.priority(
            case.fraud_score, case.amount, waited, self.sla.total_seconds()
        )

    def due(self, case: Case) -> datetime:
        return case.opened_at + self.sla


def routing_order(queues: Sequence[Queue]) -> list[Queue]:
    """The queues in the order a case is routed: by position, then name; default last."""
    return sorted(queues, key=lambda q: (q.name == DEFAULT_QUEUE, q.position, q.name))


def route(
    decision: Decision, queues: Sequence[Queue], holds: Sequence[bool], default: str
) -> str | None:
    """The queue a case of this decision goes to: the first in ``queues`` (routing order)
    whose condition ``holds`` and that takes the decision; a review none takes goes to
    ``default``; a decline none takes opens no case (None)."""
    for queue, held in zip(queues, holds, strict=True):
        if held and queue.takes(decision):
            return queue.name
    return default if decision is Decision.REVIEW else None


@dataclass(frozen=True, slots=True)
class Case:
    """A case as stored: the transaction it is about (denormalised for the queue's order and
    the card's look-ups), its queue, who holds it and how it ended."""

    id: int
    transaction_id: str
    user_id: str
    merchant: str
    amount: float
    currency: str
    fraud_score: float
    decision: Decision
    queue: str
    opened_at: datetime
    status: CaseStatus = CaseStatus.OPEN
    assignee: str | None = None
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    disposition: Disposition | None = None
    resolved_by: str | None = None


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case to open for a decided transaction (the store gives it its id)."""

    transaction_id: str
    user_id: str
    merchant: str
    amount: float
    currency: str
    fraud_score: float
    decision: Decision
    queue: str
    opened_at: datetime


def new_case(record: TransactionRecord, queue: str, at: datetime) -> NewCase:
    assessment = record.assessment
    assert assessment is not None  # only decided records open cases
    transaction = record.transaction
    return NewCase(
        transaction.transaction_id,
        transaction.user_id,
        transaction.merchant,
        transaction.amount,
        transaction.currency,
        assessment.fraud_score,
        assessment.decision,
        queue,
        at,
    )


@dataclass(frozen=True, slots=True)
class CaseNote:
    at: datetime
    by: str
    text: str


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """A line of a case's history: who did what, when."""

    at: datetime
    by: str
    action: CaseAction
    detail: str = ""


@dataclass(frozen=True, slots=True)
class QueueState:
    """A queue as its page shows it: its cases waiting, those past the SLA, and how long
    the oldest open one has waited."""

    queue: Queue
    open: int
    claimed: int
    waiting: int
    past_sla: int
    oldest_open_at: datetime | None

    def oldest_share(self, now: datetime) -> float:
        """How much of the SLA the oldest case on the clock has used (0: none waits)."""
        if self.oldest_open_at is None:
            return 0.0
        return (now - self.oldest_open_at) / self.queue.sla

    def warning(self, now: datetime) -> str | None:
        share = self.oldest_share(now)
        if share >= 1.0:
            return f"{self.past_sla} past the SLA of {_minutes(self.queue.sla)}"
        if share >= NEAR_SLA_SHARE:
            return f"the oldest case has used {share:.0%} of the SLA of {_minutes(self.queue.sla)}"
        return None


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


# --- requests ------------------------------------------------------------------------------


def _object(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidCaseRequest([FieldError("body", "must be a JSON object")])
    return data


def _unknown(body: Mapping[str, Any], allowed: Sequence[str]) -> list[FieldError]:
    return [
        FieldError(str(name), f"is not one of {', '.join(allowed)}")
        for name in sorted(set(body) - set(allowed), key=str)
    ]


def note_problem(text: object) -> str | None:
    if not isinstance(text, str):
        return f"must be a string of 1 to {MAX_NOTE_LENGTH} characters"
    # A note may run over lines; other control characters are refused as elsewhere.
    return text_problem(text.replace("\n", " ").replace("\r", " "), MAX_NOTE_LENGTH)


@dataclass(frozen=True, slots=True)
class Resolution:
    """An analyst's disposition of a case, a note with it, and whether the card's other
    open cases are resolved the same way."""

    disposition: Disposition
    note: str | None = None
    whole_card: bool = False

    @classmethod
    def parse(cls, data: object) -> Resolution:
        body = _object(data)
        errors = _unknown(body, ("disposition", "note", "whole_card"))
        disposition: Disposition | None = None
        try:
            disposition = Disposition(str(body.get("disposition", "")).strip().lower())
        except ValueError:
            choices = ", ".join(d.value for d in Disposition)
            errors.append(FieldError("disposition", f"is required: one of {choices}"))
        note = body.get("note")
        if note is not None and (problem := note_problem(note)) is not None:
            errors.append(FieldError("note", problem))
        whole_card = body.get("whole_card", False)
        if not isinstance(whole_card, bool):
            errors.append(FieldError("whole_card", "must be true or false"))
        if errors:
            raise InvalidCaseRequest(errors)
        assert disposition is not None
        return cls(disposition, note, whole_card)


def parse_note(data: object) -> str:
    body = _object(data)
    errors = _unknown(body, ("text",))
    text = body.get("text")
    if (problem := note_problem(text)) is not None:
        errors.append(FieldError("text", problem))
    if errors:
        raise InvalidCaseRequest(errors)
    return str(text)


def queue_name_problem(name: object) -> str | None:
    if (
        not isinstance(name, str)
        or len(name) > MAX_QUEUE_NAME_LENGTH
        or not QUEUE_NAME_PATTERN.fullmatch(name)
    ):
        return QUEUE_NAME_RULE
    return None


_QUEUE_FIELDS = (
    "condition",
    "sla_minutes",
    "include_declines",
    "weights",
    "position",
    "description",
)


def new_queue(data: object) -> Queue:
    """A queue from a request's fields (``name`` required, the rest as the defaults say)."""
    body = _object(data)
    errors = _unknown(body, ("name", *_QUEUE_FIELDS))
    name = body.get("name")
    if (problem := queue_name_problem(name)) is not None:
        errors.append(FieldError("name", problem))
    values, problems = _queue_values(body)
    errors.extend(problems)
    if errors:
        raise InvalidCaseRequest(errors)
    return Queue(name=str(name), **values)


def changed_queue(queue: Queue, data: object) -> Queue:
    """``queue`` with the fields a request changes, as its next version."""
    body = _object(data)
    errors = _unknown(body, _QUEUE_FIELDS)
    values, problems = _queue_values(body)
    errors.extend(problems)
    if not errors and not values:
        errors.append(FieldError("body", f"must change at least one of {', '.join(_QUEUE_FIELDS)}"))
    if errors:
        raise InvalidCaseRequest(errors)
    return replace(queue, **values, version=queue.version + 1)


def _queue_values(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Each queue field the body gives, checked; and the errors of those that break a rule."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, check in _QUEUE_CHECKS.items():
        if name not in body:
            continue
        value, problem = check(body[name])
        if problem is None:
            values[_QUEUE_ATTRIBUTE.get(name, name)] = value
        else:
            errors.append(FieldError(name, problem))
    return values, errors


_QUEUE_ATTRIBUTE = {"sla_minutes": "sla"}


def _condition(value: object) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, f"must be a CEL expression of 1 to {MAX_EXPRESSION_LENGTH} characters"
    return value, expression_problem(value)


def _sla(value: object) -> tuple[Any, str | None]:
    rule = f"must be a number of minutes from {MIN_SLA_MINUTES:g} to {MAX_SLA_MINUTES}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, rule
    if not MIN_SLA_MINUTES <= value <= MAX_SLA_MINUTES:
        return None, rule
    return timedelta(minutes=value), None


def _flag(value: object) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, bool) else (None, "must be true or false")


def _position(value: object) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        return None, "must be a whole number from 0 to 1000000 (lower is routed first)"
    return value, None


def _description(value: object) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, f"must be a string of at most {MAX_DESCRIPTION_LENGTH} characters"
    if value and (problem := text_problem(value, MAX_DESCRIPTION_LENGTH)) is not None:
        return None, problem
    return value, None


def _weights(value: object) -> tuple[Any, str | None]:
    rule = f"must be an object of score, amount and waiting, each a number from 0 to {MAX_WEIGHT:g}"
    if not isinstance(value, Mapping) or set(value) - {"score", "amount", "waiting"}:
        return None, rule
    given = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return None, rule
        if not 0.0 <= weight <= MAX_WEIGHT:
            return None, rule
        given[name] = float(weight)
    return PriorityWeights(**given), None


_QUEUE_CHECKS = {
    "condition": _condition,
    "sla_minutes": _sla,
    "include_declines": _flag,
    "weights": _weights,
    "position": _position,
    "description": _description,
}
