"""Rules' expressions in CEL through ``common-expression-language``, the Python binding of the
cel-rust interpreter: the safe, non-Turing-complete language of Kubernetes, Envoy and Google
Cloud IAM, never Python's ``eval``.

An expression sees three names and nothing else: ``tx`` (the transaction's contract fields,
e.g. ``tx.amount``, ``tx.merchant_type``), ``features`` (its behaviour features by name,
e.g. ``features.new_merchant``) and ``score`` (the model's fraud probability). CEL has no
I/O and no way to reach Python objects; a name other than these three fails to evaluate, and
an expression is only accepted once it compiles and evaluates to true or false on a sample
transaction that has every field and every feature.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cel
import structlog

from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.rules import ExpressionError, InvalidExpression, Rule, RuleHit
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)

# The parser's message: "... ERROR: <input>:LINE:COLUMN: Syntax error: what\n| source\n| ..^"
_POSITION = re.compile(r"<input>:(\d+):(\d+): ([^\n]*)")
_EVALUATION_ERRORS = (KeyError, TypeError, ValueError, RuntimeError, ZeroDivisionError)

_SAMPLE = Transaction(
    transaction_id="sample",
    user_id="sample-user",
    amount=10.0,
    merchant="Sample Shop",
    timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    merchant_type="online",
    device_type="mobile",
    location_match=True,
)
_SAMPLE_FEATURES = FeatureVector(tuple(0.0 for _ in FEATURE_NAMES))


_NAMES = ("tx", "features")
_MEMBER = re.compile(r"\b(tx|features)\b(\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?")


@dataclass(frozen=True, slots=True)
class Needs:
    """The fields and features a rule set reads (None: all of them). Handing the interpreter
    only these matters: converting a value to CEL costs about as much as evaluating a rule,
    and a transaction has 45 of them."""

    fields: frozenset[str] | None = frozenset()
    features: frozenset[str] | None = frozenset()

    @classmethod
    def of(cls, expressions: Sequence[str]) -> Needs:
        """Every ``tx.NAME`` and ``features.NAME`` the expressions mention; a name used any
        other way (``tx["amount"]``, ``"amount" in tx``) needs the whole of it."""
        used: dict[str, set[str] | None] = {name: set() for name in _NAMES}
        for expression in expressions:
            for found in _MEMBER.finditer(expression):
                name, member = found.group(1), found.group(3)
                names = used[name]
                if member is None:
                    used[name] = None
                elif names is not None:
                    names.add(member)
        fields, features = (
            None if used[name] is None else frozenset(used[name] or ()) for name in _NAMES
        )
        return cls(fields, features)


ALL = Needs(None, None)
_FEATURE_PLACE = {name: place for place, name in enumerate(FEATURE_NAMES)}


def context_of(
    transaction: Transaction, features: FeatureVector, score: float, needs: Needs = ALL
) -> cel.Context:
    """What an expression sees of one transaction: of it, what ``needs`` says."""
    fields: dict[str, Any] = {}
    if needs.fields is None:
        fields = transaction.to_dict()
    elif needs.fields:
        every = transaction.to_dict()
        fields = {name: every[name] for name in needs.fields if name in every}
    if needs.features is None:
        named = features.as_dict()
    else:
        values = features.values
        named = {
            name: values[_FEATURE_PLACE[name]] for name in needs.features if name in _FEATURE_PLACE
        }
    return cel.Context({"tx": fields, "features": named, "score": float(score)})


class CelRules:
    """A rule set's expressions, compiled once."""

    def __init__(self, rules: Sequence[Rule], programs: Sequence[Any]) -> None:
        self._rules = tuple(rules)
        self._programs = tuple(programs)
        self._needs = Needs.of([rule.expression for rule in rules])

    @property
    def rules(self) -> Sequence[Rule]:
        return self._rules

    def hits(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        scores: Sequence[float],
    ) -> list[list[RuleHit]]:
        found: list[list[RuleHit]] = []
        if not self._rules:
            return [[] for _ in transactions]
        for transaction, vector, score in zip(transactions, features, scores, strict=True):
            context = context_of(transaction, vector, score, self._needs)
            hits = []
            for rule, program in zip(self._rules, self._programs, strict=True):
                try:
                    holds = program.execute(context) is True
                except _EVALUATION_ERRORS as error:
                    log.warning(
                        "rule could not be evaluated; it does not hit",
                        rule=rule.name,
                        version=rule.version,
                        error=str(error).splitlines()[0],
                        transaction_id=transaction.transaction_id,
                    )
                    holds = False
                if holds:
                    hits.append(
                        RuleHit(rule.name, rule.version, rule.action, rule.mode, rule.reason)
                    )
            found.append(hits)
        return found


class CelRuleCompiler:
    def check(self, expression: str) -> None:
        self._program(expression)

    def compile(self, rules: Sequence[Rule]) -> CelRules:
        programs = []
        for rule in rules:
            try:
                programs.append(self._program(rule.expression))
            except InvalidExpression as refused:
                error = refused.error
                raise InvalidExpression(
                    ExpressionError(
                        f"rule {rule.name!r}: {error.message}", error.line, error.column
                    )
                ) from None
        return CelRules(rules, programs)

    def _program(self, expression: str) -> Any:
        try:
            program = cel.compile(expression)
        except ValueError as error:
            raise InvalidExpression(_syntax_error(str(error))) from None
        try:
            result = program.execute(context_of(_SAMPLE, _SAMPLE_FEATURES, 0.5))
        except _EVALUATION_ERRORS as error:
            raise InvalidExpression(ExpressionError(_evaluation_error(error))) from None
        if not isinstance(result, bool):
            raise InvalidExpression(
                ExpressionError(f"must be true or false, not a {type(result).__name__}")
            )
        return program


def _syntax_error(message: str) -> ExpressionError:
    found = _POSITION.search(message)
    if found is None:
        return ExpressionError(message.splitlines()[0])
    line, column, what = found.groups()
    return ExpressionError(what.strip(), int(line), int(column))


def _evaluation_error(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"no field or feature {error.args[0]!r}: tx has the contract's fields, " + (
            "features the behaviour features by name"
        )
    first = str(error).splitlines()[0]
    if isinstance(error, RuntimeError) and "Undefined variable or function" in first:
        return f"{first.split('.')[0]}: an expression may use tx, features and score only"
    return first.split(". ")[0]
