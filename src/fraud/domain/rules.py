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
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from fraud.domain.assessment import Decision
from fraud.domain.errors import FieldError

MAX_NAME_LENGTH = 64
MAX_EXPRESSION_LENGTH = 4_000
MAX_REASON_LENGTH = 200
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")


class RuleAction(StrEnum):
    DECLINE = "decline"
    REVIEW = "review"
    APPROVE = "approve"  # an allow-list: overrides the model, never another rule
    REASON = "reason"  # only adds its reason


class RuleMode(StrEnum):
    ACTIVE = "active"
    SHADOW = "shadow"  # hits are recorded, the decision is the one without it


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
        super().__init__(str(error))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    expression: str
    action: RuleAction
    reason: str
    mode: RuleMode = RuleMode.ACTIVE
    version: int = 1

    def __post_init__(self) -> None:
        errors = []
        if not NAME_PATTERN.fullmatch(self.name) or len(self.name) > MAX_NAME_LENGTH:
            errors.append(
                FieldError(
                    "name",
                    f"must be 1 to {MAX_NAME_LENGTH} lower-case letters, digits, - or _, "
                    "starting with a letter or digit",
                )
            )
        if not self.expression.strip() or len(self.expression) > MAX_EXPRESSION_LENGTH:
            errors.append(
                FieldError("expression", f"must be 1 to {MAX_EXPRESSION_LENGTH} characters")
            )
        if not self.reason.strip() or len(self.reason) > MAX_REASON_LENGTH:
            errors.append(FieldError("reason", f"must be 1 to {MAX_REASON_LENGTH} characters"))
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
