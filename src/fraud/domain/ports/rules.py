"""Rules: compiling analysts' expressions once per version, and finding a batch's hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from fraud.domain.features import FeatureVector
from fraud.domain.rules import (
    EvaluationBudget,
    Rule,
    RuleChange,
    RuleEvaluation,
    RuleHealth,
    RuleSet,
)
from fraud.domain.transaction import Transaction


class CompiledRules(Protocol):
    """A rule set compiled once: evaluated for every transaction until the set changes."""

    @property
    def rules(self) -> Sequence[Rule]: ...

    def evaluate(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        scores: Sequence[float],
        budget: EvaluationBudget | None = None,
    ) -> RuleEvaluation:
        """Each transaction's hits and faults, in the rule set's order. A rule that cannot be
        evaluated on a transaction (an error, or past ``budget``) is a fault there: it does
        not hit, unless its ``on_error`` says to apply its action."""


class RuleCompiler(Protocol):
    def check(self, expression: str) -> None:
        """Raise :class:`~fraud.domain.rules.InvalidExpression`, with the error's position
        where it has one, for an expression that does not compile, uses a name other than
        ``tx``, ``features`` and ``score``, or breaks a limit of
        :class:`~fraud.domain.rules.ExpressionLimits`."""

    def compile(self, rules: Sequence[Rule]) -> CompiledRules:
        """Every rule compiled; raises InvalidExpression naming the first that is not."""


class RuleRepository(Protocol):
    """The write side of rules, in a unit of work."""

    def get(self, name: str) -> Rule | None: ...

    def save(self, rule: Rule, by: str, at: datetime) -> RuleChange | None:
        """Store ``rule`` as its name's next version (version 1: a new rule) and append it to
        the history; None when the stored rule is not at the version before it (another
        change came first, or a new rule's name is taken)."""


class RuleQueries(Protocol):
    """What the API, the dashboard and the scoring workers read of rules."""

    def rule_set_version(self) -> int:
        """The version of the whole set: it grows with every change (0: never changed)."""

    def rule_set(self) -> RuleSet:
        """The rules evaluated now (active and shadow), in name order, with the version."""

    def rules(self) -> list[Rule]:
        """Every rule, disabled ones too, in name order."""

    def rule(self, name: str) -> Rule | None: ...

    def history(self, name: str) -> list[RuleChange]:
        """The rule's versions, oldest first."""

    def evaluated_at(self, set_version: int) -> frozenset[str]:
        """The rules the set evaluated at that version (active or shadow then)."""

    def health(self, since: datetime) -> dict[str, RuleHealth]:
        """Each rule's tallies of the periods from ``since`` on, summed."""


class RuleTallies(Protocol):
    """How the rules fared, per five minutes: the write side, in a unit of work."""

    def add(self, period: datetime, counts: Mapping[str, RuleHealth]) -> None:
        """Add ``counts`` (per rule) to the tallies of the period starting at ``period``."""
