"""Queues' conditions in CEL: which queue a decided transaction's case goes to.

A condition reads what a rule reads (``tx``, ``features``, ``score``) and what was decided:
``decision`` (``"review"`` or ``"decline"``) and ``rules``, the names of the active rules
that hit (``"gift-cards" in rules``). It is measured by the same bounds and compiled by the
same interpreter as a rule, and evaluated only on the transactions that open a case (one in
ten of a stream, say), each handed over once with the names its queues' conditions read. A
condition that is literally ``true`` (the default queue's) is never evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cel
import structlog

from fraud.adapters.cel.bounds import RULE_NAMES, Names, Shape, measure
from fraud.adapters.cel.rules import (
    FIELD_VALUE,
    SAMPLE,
    Needs,
    evaluation_error,
    syntax_error,
    unknown_member,
)
from fraud.domain.assessment import Assessment, Decision, TransactionRecord
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.rules import (
    EXPRESSION_LIMITS,
    MAX_NAME_LENGTH,
    ExpressionError,
    ExpressionLimits,
    InvalidExpression,
    RuleMode,
    expression_problem,
)

log = structlog.get_logger(__name__)

CONDITION_NAMES = Names(
    {
        **RULE_NAMES.roots,
        "decision": Shape(len(Decision.DECLINE.value)),
        "rules": Shape(64, Shape(MAX_NAME_LENGTH)),
    },
    "tx, features, score, decision and rules",
)
ALWAYS = "true"
_NO_FEATURES = dict.fromkeys(FEATURE_NAMES, 0.0)


def _variables(record: TransactionRecord, needs: Needs) -> dict[str, Any]:
    """What a condition sees of a decided transaction: of it, what ``needs`` says."""
    transaction = record.transaction
    assessment = record.assessment
    assert assessment is not None  # only decided transactions open cases
    if needs.fields is None:
        fields = transaction.to_dict()
    else:
        fields = {name: FIELD_VALUE[name](transaction) for name in needs.fields}
    features = record.features or _NO_FEATURES
    if needs.features is not None:
        features = {name: features.get(name, 0.0) for name in needs.features}
    return {
        "tx": fields,
        "features": features,
        "score": float(assessment.fraud_score),
        "decision": assessment.decision.value,
        "rules": [hit.name for hit in assessment.rule_hits if hit.mode is RuleMode.ACTIVE],
    }


class CelConditions:
    """Conditions compiled once (a queue set's), evaluated on the records opening cases."""

    def __init__(self, expressions: Sequence[str], programs: Sequence[Any | None]) -> None:
        self._expressions = tuple(expressions)
        self._programs = tuple(programs)  # None: always true
        self._needs = Needs.of([e for e, p in zip(expressions, programs, strict=True) if p])
        self._failed: set[str] = set()

    def holding(self, records: Sequence[TransactionRecord]) -> list[list[bool]]:
        if not any(self._programs):
            return [[True] * len(self._programs) for _ in records]
        found = []
        for record in records:
            context = cel.Context(_variables(record, self._needs))
            found.append(
                [self._holds(i, program, context) for i, program in enumerate(self._programs)]
            )
        return found

    def _holds(self, index: int, program: Any | None, context: cel.Context) -> bool:
        if program is None:
            return True
        try:
            return program.execute(context) is True
        except Exception as error:  # whatever the interpreter raises: this queue, this case
            expression = self._expressions[index]
            if expression not in self._failed:  # said once per condition
                self._failed.add(expression)
                log.warning(
                    "queue condition could not be evaluated", condition=expression, error=str(error)
                )
            return False


class CelConditionCompiler:
    """The ``ConditionCompiler`` port: checks and compiles queues' conditions."""

    def __init__(self, limits: ExpressionLimits = EXPRESSION_LIMITS) -> None:
        self.limits = limits

    def check(self, expression: str) -> None:
        self._program(expression)

    def compile(self, expressions: Sequence[str]) -> CelConditions:
        return CelConditions(expressions, [self._program(e) for e in expressions])

    def _program(self, expression: str) -> Any | None:
        if expression.strip() == ALWAYS:
            return None
        if (problem := expression_problem(expression)) is not None:
            raise InvalidExpression(ExpressionError(f"the condition {problem}"))
        measure(expression, self.limits, CONDITION_NAMES)
        try:
            program = cel.compile(expression)
        except ValueError as error:
            raise InvalidExpression(syntax_error(str(error))) from None
        if (unknown := unknown_member(expression)) is not None:
            raise InvalidExpression(unknown)
        try:
            result = program.execute(cel.Context(_variables(_SAMPLE, Needs(None, None))))
        except Exception as error:
            raise InvalidExpression(ExpressionError(evaluation_error(error))) from None
        if not isinstance(result, bool):
            raise InvalidExpression(
                ExpressionError(f"must be true or false, not a {type(result).__name__}")
            )
        return program


# A decided sample every condition must evaluate to true or false on.
_SAMPLE = TransactionRecord(
    SAMPLE,
    SAMPLE.timestamp,
    assessment=Assessment(
        SAMPLE.transaction_id, 0.5, Decision.REVIEW, (), "sample-model", SAMPLE.timestamp
    ),
)
