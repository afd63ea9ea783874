"""Analysts' rules on SQLAlchemy Core: each rule as it is now in ``rules``, every version of
it in ``rule_changes`` (whose highest id is the rule set's version).

The write side works on the unit of work's connection and never commits; the read
side (``SqlRuleQueries``) borrows a pooled connection per question.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.rows import rule_row, to_rule
from fraud.adapters.sqlalchemy.tables import rule_changes, rule_tallies, rules
from fraud.adapters.sqlalchemy.upserts import add_counts, insert_missing
from fraud.domain.rules import Rule, RuleChange, RuleHealth, RuleMode, RuleSet

_EVALUATED = tuple(mode.value for mode in RuleMode if mode.evaluated)


class SqlRuleRepository:
    """The ``RuleRepository`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def get(self, name: str) -> Rule | None:
        with transient_errors_translated():
            rows = fetch(self._executor, select(rules).where(rules.c.name == name))
        return to_rule(rows[0]) if rows else None

    def save(self, rule: Rule, by: str, at: datetime) -> RuleChange | None:
        row = rule_row(rule, at, by)
        with transient_errors_translated():
            if rule.version == 1:
                stored = insert_missing(self._executor, rules, [row], dialect_of(self._executor))
            else:  # only over the version it follows: of two racing changes, one wins
                stored = self._executor.execute(
                    update(rules)
                    .where(rules.c.name == rule.name, rules.c.version == rule.version - 1)
                    .values(row)
                ).rowcount
            if not stored:
                return None
            set_version = self._executor.execute(
                insert(rule_changes).values(row).returning(rule_changes.c.id)
            ).scalar_one()
        return RuleChange(rule, by, at, int(set_version))


class SqlRuleTallies:
    """The ``RuleTallies`` port, written on the caller's transaction: one row per rule and
    period, added to in place, so any number of record workers share a period."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def add(self, period: datetime, counts: Mapping[str, RuleHealth]) -> None:
        rows = [
            {
                "rule": rule,
                "period": period,
                "evaluated": health.evaluated,
                "errors": health.errors,
                "cut_off": health.cut_off,
            }
            for rule, health in counts.items()
        ]
        with transient_errors_translated():
            add_counts(
                self._executor,
                rule_tallies,
                ("rule", "period"),
                ("evaluated", "errors", "cut_off"),
                rows,
                dialect_of(self._executor),
            )


class SqlRuleQueries:
    """The ``RuleQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def rule_set_version(self) -> int:
        with transient_errors_translated(), self._engine.connect() as connection:
            return int(connection.execute(select(func.max(rule_changes.c.id))).scalar() or 0)

    def rule_set(self) -> RuleSet:
        with transient_errors_translated(), self._engine.connect() as connection:
            # The version first: a change landing between the two reads makes the set newer
            # than its version, and the next look at the version reads it again.
            version = connection.execute(select(func.max(rule_changes.c.id))).scalar() or 0
            rows = fetch(
                connection,
                select(rules).where(rules.c.mode.in_(_EVALUATED)).order_by(rules.c.name),
            )
        return RuleSet(int(version), tuple(map(to_rule, rows)))

    def rules(self) -> list[Rule]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return [to_rule(row) for row in fetch(connection, select(rules).order_by(rules.c.name))]

    def rule(self, name: str) -> Rule | None:
        with transient_errors_translated(), self._engine.connect() as connection:
            rows = fetch(connection, select(rules).where(rules.c.name == name))
        return to_rule(rows[0]) if rows else None

    def history(self, name: str) -> list[RuleChange]:
        statement = (
            select(rule_changes).where(rule_changes.c.name == name).order_by(rule_changes.c.id)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            rows = fetch(connection, statement)
        return [
            RuleChange(to_rule(row), row["changed_by"], row["changed_at"], row["id"])
            for row in rows
        ]

    def evaluated_at(self, set_version: int) -> frozenset[str]:
        latest = (
            select(func.max(rule_changes.c.id))
            .where(rule_changes.c.id <= set_version)
            .group_by(rule_changes.c.name)
        )
        statement = select(rule_changes.c.name).where(
            rule_changes.c.id.in_(latest), rule_changes.c.mode.in_(_EVALUATED)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            return frozenset(connection.execute(statement).scalars())

    def health(self, since: datetime) -> dict[str, RuleHealth]:
        statement = (
            select(
                rule_tallies.c.rule,
                func.sum(rule_tallies.c.evaluated),
                func.sum(rule_tallies.c.errors),
                func.sum(rule_tallies.c.cut_off),
            )
            .where(rule_tallies.c.period >= since)
            .group_by(rule_tallies.c.rule)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            return {
                rule: RuleHealth(int(evaluated), int(errors), int(cut_off))
                for rule, evaluated, errors, cut_off in connection.execute(statement)
            }
