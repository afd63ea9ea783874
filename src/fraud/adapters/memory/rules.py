"""Analysts' rules in memory: each rule as it is now, and every version of it, numbered in
the order they were made (the highest number is the rule set's version)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import Staged, State
from fraud.domain.rules import Rule, RuleChange, RuleHealth, RuleSet


def _save(state: State, rule: Rule, by: str, at: datetime) -> RuleChange | None:
    stored = state.rules.get(rule.name)
    follows = (
        stored is None
        if rule.version == 1
        else (stored is not None and stored.version == rule.version - 1)
    )
    if not follows:
        return None
    state.rules[rule.name] = rule
    change = RuleChange(rule, by, at, max(state.rule_changes, default=0) + 1)
    state.rule_changes[change.set_version] = change
    return change


class InMemoryRuleRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def get(self, name: str) -> Rule | None:
        return self._staged.state.rules.get(name)

    def save(self, rule: Rule, by: str, at: datetime) -> RuleChange | None:
        change = self._staged.write(partial(_save, rule=rule, by=by, at=at))
        assert change is None or isinstance(change, RuleChange)
        return change


def _add(state: State, period: datetime, counts: Mapping[str, RuleHealth]) -> None:
    for rule, health in counts.items():
        state.rule_tallies[rule, period] = state.rule_tallies.get((rule, period), RuleHealth()) + (
            health
        )


class InMemoryRuleTallies:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def add(self, period: datetime, counts: Mapping[str, RuleHealth]) -> None:
        self._staged.write(partial(_add, period=period, counts=dict(counts)))


class InMemoryRuleQueries:
    """The read side of rules, over the committed state (``self.state``)."""

    state: State

    def rule_set_version(self) -> int:
        return max(self.state.rule_changes, default=0)

    def rule_set(self) -> RuleSet:
        return RuleSet(
            self.rule_set_version(),
            tuple(rule for rule in self.rules() if rule.mode.evaluated),
        )

    def rules(self) -> list[Rule]:
        return sorted(self.state.rules.values(), key=lambda rule: rule.name)

    def rule(self, name: str) -> Rule | None:
        return self.state.rules.get(name)

    def history(self, name: str) -> list[RuleChange]:
        return [
            change
            for _, change in sorted(self.state.rule_changes.items())
            if change.rule.name == name
        ]

    def evaluated_at(self, set_version: int) -> frozenset[str]:
        latest: dict[str, Rule] = {}
        for version, change in sorted(self.state.rule_changes.items()):
            if version <= set_version:
                latest[change.rule.name] = change.rule
        return frozenset(name for name, rule in latest.items() if rule.mode.evaluated)

    def health(self, since: datetime) -> dict[str, RuleHealth]:
        summed: dict[str, RuleHealth] = {}
        for (rule, period), health in list(self.state.rule_tallies.items()):
            if period >= since:
                summed[rule] = summed.get(rule, RuleHealth()) + health
        return summed
