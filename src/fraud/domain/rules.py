"""Rules analysts write: a condition on a transaction, its behaviour features and the model's
score, and what a hit does to the decision.

A rule's condition is an expression in the Common Expression Language (CEL),
compiled by an adapter behind :class:`~fraud.domain.ports.RuleCompiler`; the
domain only says what a rule is and how the hits of a rule set combine with the
model's decision:

* the decision is the most severe of the model policy's decision and the active
  rules' actions, except that an ``approve`` rule (an allow-list) overrides the
  model, never a ``review`` or ``decline`` rule;
* the reasons list the active rules' hits first, then the model's;
* a ``shadow`` rule's hits are recorded and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from fraud.domain.assessment import Decision
from fraud.domain.errors import FieldError

MAX_NAME_LENGTH = 64
MAX_EXPRESSION_LENGTH = 4_000
MAX_REASON_LENGTH = 200
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")


NAME_RULE = (
    f"must be 1 to {MAX_NAME_LENGTH} lower-case letters, digits, - or _, "
    "starting with a letter or digit"
)


def _bad_name(name: str) -> bool:
    return not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH


def text_problem(text: str, max_length: int) -> str | None:
    """What is wrong with a text an analyst typed (a reason, a note) by the contract's rule
    for text, or None: 1 to ``max_length`` characters, not only spaces, every one printable
    (no control characters, no zero-width or bidirectional formatting, which a page, a log
    or a spreadsheet would show otherwise than as typed)."""
    if not text.strip() or len(text) > max_length:
        return f"must be 1 to {max_length} characters"
    if not text.isprintable():
        return "must contain only printable characters (no control or invisible formatting)"
    return None


def expression_problem(expression: str) -> str | None:
    """What an expression breaks before it is even parsed: its length (a parser handed 30 KB
    of ``1+1+...`` overflowed its stack and took the process down), and the text rule: lines
    and tabs are fine, other control characters and invisible formatting (bidirectional
    overrides that make code read otherwise than it runs) are not."""
    if not expression.strip():
        return f"must be 1 to {MAX_EXPRESSION_LENGTH} characters"
    if len(expression) > MAX_EXPRESSION_LENGTH:
        return (
            f"must be at most {MAX_EXPRESSION_LENGTH:,} characters, not {len(expression):,} "
            f"(from line {expression.count(chr(10), 0, MAX_EXPRESSION_LENGTH) + 1}, column "
            f"{MAX_EXPRESSION_LENGTH - expression.rfind(chr(10), 0, MAX_EXPRESSION_LENGTH)} on)"
        )
    if not expression.replace("\n", " ").replace("\t", " ").replace("\r", " ").isprintable():
        return "must contain only printable characters, lines and tabs"
    return None


class RuleAction(StrEnum):
    DECLINE = "decline"
    REVIEW = "review"
    APPROVE = "approve"  # an allow-list: overrides the model, never another rule
    REASON = "reason"  # only adds its reason


class RuleMode(StrEnum):
    ACTIVE = "active"
    SHADOW = "shadow"  # hits are recorded, the decision is the one without it
    DISABLED = "disabled"  # kept with its history, evaluated no more

    @property
    def evaluated(self) -> bool:
        return self is not RuleMode.DISABLED


class RuleOnError(StrEnum):
    """What a rule does on a transaction it cannot be evaluated on (an error, or cut off by
    the evaluation budget)."""

    SKIP = "skip"  # it does not hit: the model's decision and the other rules stand
    APPLY = "apply"  # its action is taken: a decline or review rule that must fail closed


@dataclass(frozen=True, slots=True)
class ExpressionLimits:
    """How big and how costly a rule's expression may be, checked before it is ever run.

    A rule is evaluated on every transaction, in the scoring worker's thread, by an
    interpreter that cannot be interrupted; so whatever an analyst can save must be cheap in
    the worst case, not only on the sample it was checked on. Cost counts the interpreter's
    steps on the worst input (a comprehension's body once per element of its range, a
    regular expression compiled at every call), one step being about a quarter of a
    microsecond here: at the cap, one evaluation takes well under a millisecond.
    """

    length: int = MAX_EXPRESSION_LENGTH  # characters
    nesting: int = 32  # levels of brackets, calls, operators and branches
    comprehensions: int = 8  # all, exists, exists_one, map, filter
    comprehension_nesting: int = 2  # a comprehension inside another's body, no deeper
    literal_length: int = 1_000  # characters of one string or bytes literal
    literal_elements: int = 1_000  # elements of one list or map literal
    pattern_length: int = 200  # characters of a regular expression
    cost: int = 2_500  # interpreter steps per evaluation, in the worst case


EXPRESSION_LIMITS = ExpressionLimits()


class InvalidRule(ValueError):
    """A rule that breaks a rule of its own fields; one error per offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


@dataclass(frozen=True, slots=True)
class ExpressionError:
    """Why an expression was refused, and where: ``line`` and ``column`` count from 1 (None
    when the error is not at one place, e.g. a name the expression may not use)."""

    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.message}{where}"


class InvalidExpression(ValueError):
    def __init__(self, error: ExpressionError) -> None:
        self.error = error
        super().__init__(f"the expression cannot be used: {error}")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    expression: str
    action: RuleAction
    reason: str
    mode: RuleMode = RuleMode.ACTIVE
    version: int = 1
    on_error: RuleOnError = RuleOnError.SKIP

    def __post_init__(self) -> None:
        errors = []
        if _bad_name(self.name):
            errors.append(FieldError("name", NAME_RULE))
        if (problem := expression_problem(self.expression)) is not None:
            errors.append(FieldError("expression", problem))
        if (problem := text_problem(self.reason, MAX_REASON_LENGTH)) is not None:
            errors.append(FieldError("reason", problem))
        if self.version < 1:
            errors.append(FieldError("version", "must be 1 or more"))
        if errors:
            raise InvalidRule(errors)


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule whose condition held for a transaction, as the verdict records it."""

    name: str
    version: int
    action: RuleAction
    mode: RuleMode
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "action": self.action.value,
            "mode": self.mode.value,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleHit:
        """A hit as :meth:`to_dict` wrote it; KeyError or ValueError for anything else."""
        return cls(
            str(data["name"]),
            int(data["version"]),
            RuleAction(data["action"]),
            RuleMode(data["mode"]),
            str(data["reason"]),
        )


class RuleFaultKind(StrEnum):
    ERROR = "error"  # the expression raised on this transaction (an overflow, a missing key)
    BUDGET = "budget"  # not evaluated: the batch's evaluation budget ran out first


@dataclass(frozen=True, slots=True)
class RuleFault:
    """A rule that could not say whether it holds for a transaction, as the verdict records
    it: what went wrong, and whether its action was applied anyway (``on_error: apply``)."""

    name: str
    version: int
    kind: RuleFaultKind
    applied: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "version": self.version,
            "fault": self.kind.value,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleFault:
        """A fault as :meth:`to_dict` wrote it; KeyError or ValueError for anything else."""
        return cls(
            str(data["rule"]),
            int(data["version"]),
            RuleFaultKind(data["fault"]),
            bool(data["applied"]),
        )

    def describe(self) -> str:
        """The fault in words, as an analyst reads it beside the verdict."""
        what = (
            "raised an error"
            if self.kind is RuleFaultKind.ERROR
            else "was not evaluated (the batch's rule budget ran out)"
        )
        outcome = "its action was applied (on_error: apply)" if self.applied else "it did not hit"
        return f"rule {self.name!r} {what}; {outcome}"


@dataclass(frozen=True, slots=True)
class EvaluationBudget:
    """How long a rule set may take on one batch in the scoring worker: each rule at most
    ``per_rule_s``, all of them at most ``per_batch_s``. A rule past its budget is cut off
    for the rest of the batch (a :class:`RuleFault` of kind ``budget`` on each transaction it
    did not reach), so no rule, however costly, holds the pipeline for long."""

    per_rule_s: float = 0.004
    per_batch_s: float = 0.05


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """What a rule set found on a batch: each transaction's hits and faults, in the set's
    order (a fault whose rule applied its action anyway is among the hits too)."""

    hits: list[list[RuleHit]]
    faults: list[list[RuleFault]]

    @classmethod
    def nothing(cls, rows: int) -> RuleEvaluation:
        return cls([[] for _ in range(rows)], [[] for _ in range(rows)])

    def fault_counts(self, kind: RuleFaultKind) -> dict[str, int]:
        """How many transactions each rule had a fault of this kind on."""
        counts: dict[str, int] = {}
        for faults in self.faults:
            for fault in faults:
                if fault.kind is kind:
                    counts[fault.name] = counts.get(fault.name, 0) + 1
        return counts


# --- how the rules fare -------------------------------------------------------------------

RULE_HEALTH_WINDOW = timedelta(hours=1)
RULE_TALLY_PERIOD = timedelta(minutes=5)
FLAGGED_RATE = 0.01  # a rule failing on more than 1% of the transactions it met


def tally_period(instant: datetime) -> datetime:
    """The start of the five minutes ``instant`` falls in."""
    minutes = RULE_TALLY_PERIOD.seconds // 60
    return instant.replace(
        minute=instant.minute - instant.minute % minutes, second=0, microsecond=0
    )


@dataclass(frozen=True, slots=True)
class RuleHealth:
    """How a rule fared on the transactions it met: evaluated (whether it held or not), an
    error raised, or cut off by the evaluation budget before it was evaluated."""

    evaluated: int = 0
    errors: int = 0
    cut_off: int = 0

    def __add__(self, other: RuleHealth) -> RuleHealth:
        return RuleHealth(
            self.evaluated + other.evaluated,
            self.errors + other.errors,
            self.cut_off + other.cut_off,
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.evaluated if self.evaluated else 0.0

    @property
    def cut_off_rate(self) -> float:
        met = self.evaluated + self.cut_off
        return self.cut_off / met if met else 0.0

    @property
    def warning(self) -> str | None:
        """Why the rule needs looking at, or None: it errs, or the budget cuts it off, on more
        than 1% of the transactions it met."""
        problems = []
        if self.error_rate > FLAGGED_RATE:
            problems.append(f"raised an error on {self.error_rate:.1%} of its evaluations")
        if self.cut_off_rate > FLAGGED_RATE:
            problems.append(f"was cut off by the time budget on {self.cut_off_rate:.1%}")
        return "; ".join(problems) or None


_SEVERITY = {Decision.APPROVE: 0, Decision.REVIEW: 1, Decision.DECLINE: 2}
_DECISION_OF = {RuleAction.REVIEW: Decision.REVIEW, RuleAction.DECLINE: Decision.DECLINE}


def apply_rules(
    model_decision: Decision, model_reasons: Sequence[str], hits: Sequence[RuleHit]
) -> tuple[Decision, tuple[str, ...]]:
    """The decision and reasons once the hits of a rule set are taken into account."""
    active = [hit for hit in hits if hit.mode is RuleMode.ACTIVE]
    allowed = any(hit.action is RuleAction.APPROVE for hit in active)
    decision = Decision.APPROVE if allowed else model_decision
    for hit in active:
        ruled = _DECISION_OF.get(hit.action)
        if ruled is not None and _SEVERITY[ruled] > _SEVERITY[decision]:
            decision = ruled
    reasons = [hit.reason for hit in active]
    reasons += [reason for reason in model_reasons if reason not in reasons]
    return decision, tuple(reasons)


# --- changing rules ----------------------------------------------------------------------


class UnknownRule(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no rule named {name!r}")
        self.name = name


class RuleConflict(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"rule {name!r} was changed meanwhile: read it again and retry")
        self.name = name


class NoVerdict(LookupError):
    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"no scored transaction with id {transaction_id!r}")
        self.transaction_id = transaction_id


class RuleExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a rule named {name!r} exists: change it instead")
        self.name = name


_EDITABLE = ("expression", "action", "reason", "mode", "on_error")
_CHOICES: dict[str, type[RuleAction] | type[RuleMode] | type[RuleOnError]] = {
    "action": RuleAction,
    "mode": RuleMode,
    "on_error": RuleOnError,
}


def _choice(
    enum: type[RuleAction] | type[RuleMode] | type[RuleOnError], field: str, value: object
) -> Any:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        raise InvalidRule(
            [FieldError(field, f"must be one of {', '.join(member.value for member in enum)}")]
        ) from None


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRule([FieldError(field, "must be a string")])
    return value


def _parse(name: str, value: object) -> Any:
    if name in ("expression", "reason"):
        return _text(name, value)
    return _choice(_CHOICES[name], name, value)


def _parsed(body: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """Each given field parsed, and one InvalidRule naming every field that breaks its rule."""
    errors = [
        FieldError(str(name), f"is not one of {', '.join(allowed)}")
        for name in sorted(set(body) - set(allowed))
    ]
    values: dict[str, Any] = {}
    for name in allowed:
        if name in body and name != "name":
            try:
                values[name] = _parse(name, body[name])
            except InvalidRule as invalid:
                errors.extend(invalid.errors)
    if errors:
        raise InvalidRule(errors)
    return values


def request_object(data: object) -> Mapping[str, Any]:
    """A request's body as a mapping, or InvalidRule naming the body."""
    if not isinstance(data, Mapping):
        raise InvalidRule([FieldError("body", "must be a JSON object")])
    return data


def new_rule(data: object) -> Rule:
    """A rule from a request's fields (mode ``active`` unless given); InvalidRule names every
    field that breaks its rule."""
    body = request_object(data)
    required = ("name", "expression", "action", "reason")
    errors = [FieldError(name, "is required") for name in required if body.get(name) is None]
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or _bad_name(name)):
        errors.append(FieldError("name", NAME_RULE))
    given = {k: v for k, v in body.items() if not (v is None and k in required)}
    values: dict[str, Any] = {}
    try:
        values = _parsed(given, ("name", *_EDITABLE))
    except InvalidRule as invalid:
        errors.extend(invalid.errors)
    if errors:
        raise InvalidRule(errors)
    return Rule(name=str(name), **values)


DRAFT = "draft"


def draft_rule(data: Mapping[str, Any]) -> Rule:
    """A rule not stored (yet), to try or backtest: its name and reason may be left out."""
    fields = dict(data)
    fields["name"] = fields.get("name") or DRAFT
    fields.setdefault("reason", fields["name"])
    return new_rule(fields)


def changed_rule(rule: Rule, data: object) -> Rule:
    """``rule`` with the fields a request changes, as its next version; InvalidRule for a
    request that changes nothing or breaks a field's rule."""
    values = _parsed(request_object(data), _EDITABLE)
    if all(getattr(rule, name) == value for name, value in values.items()):
        raise InvalidRule(
            [FieldError("body", f"must change at least one of {', '.join(_EDITABLE)}")]
        )
    return replace(rule, **values, version=rule.version + 1)


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One entry of a rule's history, which only grows: the rule as it became, who changed
    it and when, and the rule-set version the change made."""

    rule: Rule
    by: str
    at: datetime
    set_version: int


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str
    after: str


def diff(before: Rule | None, after: Rule) -> list[FieldChange]:
    """What a change did to a rule, field by field (everything, for a new rule)."""
    changes = []
    for field in fields(Rule):
        if field.name in ("name", "version"):
            continue
        new = str(getattr(after, field.name))
        old = "" if before is None else str(getattr(before, field.name))
        if old != new:
            changes.append(FieldChange(field.name, old, new))
    return changes


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules the scoring workers evaluate, at a version of the whole set: every change
    to any rule makes a new version, and each verdict names the one it was decided under."""

    version: int
    rules: tuple[Rule, ...]
