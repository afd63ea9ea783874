"""Rules: compiling analysts' expressions once per version, and finding a batch's hits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fraud.domain.features import FeatureVector
from fraud.domain.rules import Rule, RuleHit
from fraud.domain.transaction import Transaction


class CompiledRules(Protocol):
    """A rule set compiled once: evaluated for every transaction until the set changes."""

    @property
    def rules(self) -> Sequence[Rule]: ...

    def hits(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        scores: Sequence[float],
    ) -> list[list[RuleHit]]:
        """Each transaction's hits, in the rule set's order. A rule that cannot be evaluated
        on a transaction (a comparison of mismatched types, say) does not hit it."""


class RuleCompiler(Protocol):
    def check(self, expression: str) -> None:
        """Raise :class:`~fraud.domain.rules.InvalidExpression`, with the error's position
        where it has one, for an expression that does not compile or uses a name other
        than ``tx``, ``features`` and ``score``."""

    def compile(self, rules: Sequence[Rule]) -> CompiledRules:
        """Every rule compiled; raises InvalidExpression naming the first that is not."""
