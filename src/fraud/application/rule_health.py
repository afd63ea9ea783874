"""How the analysts' rules fare on what is decided: per rule and five minutes, the verdicts
it was evaluated on, those on which it raised an error and those the evaluation budget cut
it off from, counted by the record stage from the decided verdicts (each names the rule
set's version it was decided under, and its rules' faults).

A rule set's version says which rules it evaluated (read once per version from the rules'
history), so a verdict without faults still counts as an evaluation of every rule then in
force: the rules page's error rate is errors over evaluations, exact up to a flush interval.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable

from fraud.application.tallies import FLUSH_EVERY_S, PeriodicFlush
from fraud.domain.assessment import TransactionRecord
from fraud.domain.ports import Clock, RuleQueries, UnitOfWork
from fraud.domain.rules import (
    RULE_HEALTH_WINDOW,
    RuleFaultKind,
    RuleHealth,
    tally_period,
)

Counts = dict[str, RuleHealth]


def _merged(a: Counts, b: Counts) -> Counts:
    merged = dict(a)
    for rule, health in b.items():
        merged[rule] = merged.get(rule, RuleHealth()) + health
    return merged


class RuleTally:
    """The record stage's tally of the rules, written every ``flush_s`` seconds."""

    def __init__(
        self,
        queries: RuleQueries,
        clock: Clock,
        flush_s: float = FLUSH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.clock = clock
        self._flush: PeriodicFlush[Counts] = PeriodicFlush(_merged, dict, flush_s, monotonic)
        self._evaluated: dict[int, frozenset[str]] = {}

    def count(self, decided: Iterable[TransactionRecord]) -> Counts:
        versions: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        cut_off: Counter[str] = Counter()
        for record in decided:
            assessment = record.assessment
            if assessment is None or assessment.rules_version is None:
                continue
            versions[assessment.rules_version] += 1
            for fault in assessment.rule_faults:
                (errors if fault.kind is RuleFaultKind.ERROR else cut_off)[fault.name] += 1
        met: Counter[str] = Counter()
        for version, verdicts in versions.items():
            for rule in self._rules_of(version):
                met[rule] += verdicts
        return {
            rule: RuleHealth(count - cut_off[rule], errors[rule], cut_off[rule])
            for rule, count in met.items()
        }

    def _rules_of(self, version: int) -> frozenset[str]:
        rules = self._evaluated.get(version)
        if rules is None:
            rules = self._evaluated[version] = self.queries.evaluated_at(version)
        return rules

    def flush_if_due(self, uow: UnitOfWork, counts: Counts) -> bool:
        due = self._flush.due(counts)
        if due is None:
            return False
        # Counted since the last flush: filed under the period the flush falls in.
        uow.rule_tallies.add(tally_period(self.clock.now()), due)
        return True

    def committed(self, counts: Counts, flushed: bool) -> None:
        self._flush.committed(counts, flushed)

    def check(self) -> None:
        return None

    def warm_up(self) -> None:
        """The rules of the set in force now."""
        self._rules_of(self.queries.rule_set_version())


class RulesHealth:
    """Each rule's health over the last hour, for the rules pages and the API."""

    def __init__(self, queries: RuleQueries, clock: Clock) -> None:
        self.queries = queries
        self.clock = clock

    def last_hour(self) -> dict[str, RuleHealth]:
        return self.queries.health(tally_period(self.clock.now() - RULE_HEALTH_WINDOW))
