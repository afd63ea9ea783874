"""Analysts' rules: changing them (every change a version, audited), the set the scoring
workers evaluate (re-read within a second of a change, no restart), trying a rule on one
stored transaction, and backtesting rules on the verdicts of a period."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Protocol

import structlog

from fraud.application.identity import rule_event
from fraud.application.live import Versioned, Wording
from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.backtest import (
    MAX_BACKTEST_DAYS,
    Backtest,
    BacktestRequest,
    BacktestTally,
)
from fraud.domain.features import FeatureVector
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.ports import (
    Clock,
    CompiledRules,
    RuleCompiler,
    RuleQueries,
    UnitOfWorkFactory,
    VerdictQueries,
)
from fraud.domain.rules import (
    InvalidExpression,
    NoVerdict,
    Rule,
    RuleChange,
    RuleConflict,
    RuleExists,
    RuleMode,
    UnknownRule,
    apply_rules,
    changed_rule,
    diff,
)

log = structlog.get_logger(__name__)


class ManageRules:
    """Add, change, disable and read rules; every change is a new version of the rule and of
    the rule set, and a line in the audit log."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: RuleQueries,
        compiler: RuleCompiler,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.compiler = compiler
        self.clock = clock

    def rules(self) -> list[Rule]:
        return self.queries.rules()

    def get(self, name: str) -> Rule:
        rule = self.queries.rule(name)
        if rule is None:
            raise UnknownRule(name)
        return rule

    def backtested(self, request: BacktestRequest) -> list[Rule]:
        """The rules a backtest request names: every one evaluated now, a stored one, or
        its draft."""
        if request.every:
            return [rule for rule in self.rules() if rule.mode.evaluated]
        if request.draft is not None:
            return [request.draft]
        assert request.name is not None
        return [self.get(request.name)]

    def history(self, name: str) -> list[RuleChange]:
        changes = self.queries.history(name)
        if not changes:
            raise UnknownRule(name)
        return changes

    def check(self, expression: str) -> None:
        """Raise InvalidExpression, with the error's position, for one that cannot be used."""
        self.compiler.check(expression)

    def add(self, rule: Rule, by: Actor) -> RuleChange:
        self.compiler.check(rule.expression)
        first = replace(rule, version=1)
        now = self.clock.now()
        with self.unit_of_work() as uow:
            change = uow.rules.save(first, by.subject, now)
            if change is None:
                raise RuleExists(rule.name)
            uow.audit.append(
                [rule_event(by, AuditAction.RULE_ADDED, change, _described(None, first))]
            )
            uow.commit()
        log.info("rule added", rule=rule.name, mode=rule.mode.value, rule_set=change.set_version)
        return change

    def change(self, name: str, changes: object, by: Actor) -> RuleChange:
        """Apply a request's changes (any of expression, action, reason, mode) as the rule's
        next version."""
        now = self.clock.now()
        with self.unit_of_work() as uow:
            current = uow.rules.get(name)
            if current is None:
                raise UnknownRule(name)
            changed = changed_rule(current, changes)
            if changed.expression != current.expression:
                self.compiler.check(changed.expression)
            change = uow.rules.save(changed, by.subject, now)
            if change is None:
                raise RuleConflict(name)
            detail = _described(current, changed)
            uow.audit.append([rule_event(by, AuditAction.RULE_CHANGED, change, detail)])
            uow.commit()
        log.info(
            "rule changed",
            rule=name,
            version=changed.version,
            mode=changed.mode.value,
            rule_set=change.set_version,
        )
        return change

    def disable(self, name: str, by: Actor) -> RuleChange:
        return self.change(name, {"mode": RuleMode.DISABLED.value}, by)


def _described(before: Rule | None, after: Rule) -> str:
    """A change as the audit log says it: version, then each field that changed."""
    fields = "; ".join(
        f"{change.field}: {change.after}"
        if before is None or change.field == "expression"
        else f"{change.field}: {change.before} -> {change.after}"
        for change in diff(before, after)
    )
    return f"version {after.version}: {fields}"


# --- what the scoring workers evaluate ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """A rule set as a scoring worker holds it: compiled once, with its version."""

    version: int
    compiled: CompiledRules


class ListsInForce(Protocol):
    """The lists the rules read, as the worker holds them, brought up to date at most once
    a second (:class:`fraud.application.lists.LiveLists`)."""

    def refresh(self) -> None: ...


class LiveRules:
    """The rule set a score stage evaluates: the version is looked up at most every
    ``refresh_s`` seconds (one indexed query), and the set read and compiled again only when
    it changed, so a change reaches every worker, whatever its broker, within about a second
    of being committed, with no restart. The lists the rules read are brought up to date
    alongside (their entries change without a new rule set)."""

    def __init__(
        self,
        queries: RuleQueries,
        compiler: RuleCompiler,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        lists: ListsInForce | None = None,
    ) -> None:
        self.queries = queries
        self.compiler = compiler
        self.lists = lists
        self._set = Versioned(
            lambda: self.queries.rule_set_version(),  # asked when due, not looked up now
            self._load,
            refresh_s,
            monotonic,
            Wording("the rules", kept="the set in hand stays"),
        )

    def current(self) -> LoadedRules:
        """The set to evaluate now. Until it has been read once, a storage failure is raised
        (``TransientFailure``: the batch waits and is retried), so no transaction is ever
        decided without the rules in force; after that, the set in hand stays through a
        failure to read or compile another."""
        if self.lists is not None:
            self.lists.refresh()
        return self._set.current()

    def _load(self) -> LoadedRules:
        rule_set = self.queries.rule_set()
        usable = list(rule_set.rules)
        try:
            compiled = self.compiler.compile(usable)
        except InvalidExpression:  # one stored before a change of the language: leave it out
            usable = [rule for rule in usable if self._compiles(rule)]
            compiled = self.compiler.compile(usable)
        loaded = LoadedRules(rule_set.version, compiled)
        log.info(
            "rules loaded",
            rule_set=rule_set.version,
            active=sum(rule.mode is RuleMode.ACTIVE for rule in usable),
            shadow=sum(rule.mode is RuleMode.SHADOW for rule in usable),
        )
        return loaded

    def _compiles(self, rule: Rule) -> bool:
        try:
            self.compiler.check(rule.expression)
        except InvalidExpression as refused:
            log.error("rule does not compile; it is left out", rule=rule.name, error=str(refused))
            return False
        return True


# --- trying and backtesting ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trial:
    """A rule tried on one stored transaction: whether it hits, and what it would decide."""

    transaction_id: str
    hit: bool
    decided: Decision
    would: Decision
    reasons: tuple[str, ...]


BACKTEST_CHUNK = 2_000


class TryRules:
    """Rules on stored verdicts, counted as active: on one transaction, or over a period."""

    def __init__(self, verdicts: VerdictQueries, compiler: RuleCompiler, clock: Clock) -> None:
        self.verdicts = verdicts
        self.compiler = compiler
        self.clock = clock

    def on(self, rule: Rule, transaction_id: str) -> Trial:
        record = self.verdicts.get(transaction_id)
        vector = None if record is None else _vector(record)
        if record is None or record.assessment is None or vector is None:
            raise NoVerdict(transaction_id)
        compiled = self.compiler.compile([replace(rule, mode=RuleMode.ACTIVE)])
        assessment = record.assessment
        hits = compiled.evaluate([record.transaction], [vector], [assessment.fraud_score]).hits[0]
        would, reasons = apply_rules(assessment.decision, assessment.reasons, hits)
        return Trial(transaction_id, bool(hits), assessment.decision, would, reasons)

    def backtest(
        self,
        rules: Sequence[Rule],
        days: int,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Backtest:
        """``rules`` over the verdicts received in the last ``days`` days (today included)."""
        if not 1 <= days <= MAX_BACKTEST_DAYS:
            raise ValueError(f"days must be from 1 to {MAX_BACKTEST_DAYS}")
        until = self.clock.now()
        first = until.date() - timedelta(days=days - 1)
        since = datetime.combine(first, datetime.min.time(), tzinfo=until.tzinfo)
        compiled = self.compiler.compile([replace(rule, mode=RuleMode.ACTIVE) for rule in rules])
        tally = BacktestTally(tuple(rule.name for rule in rules), since, until)
        for chunk in _chunks(self.verdicts.scored_between(since, until), BACKTEST_CHUNK):
            vectors = [_vector(record) for record in chunk]
            evaluable = [
                (record, record.assessment, vector)
                for record, vector in zip(chunk, vectors, strict=True)
                if record.assessment is not None and vector is not None
            ]
            tally.unevaluable(len(chunk) - len(evaluable))
            hits = compiled.evaluate(
                [record.transaction for record, _, _ in evaluable],
                [vector for _, _, vector in evaluable],
                [assessment.fraud_score for _, assessment, _ in evaluable],
            ).hits
            for (record, assessment, _), found in zip(evaluable, hits, strict=True):
                would, _ = apply_rules(assessment.decision, (), found)
                label = record.label
                tally.count(
                    record.received_at,
                    assessment.decision,
                    would,
                    bool(found),
                    None if label is None else label.is_fraud,
                )
            if progress is not None:
                progress(len(chunk))
        every_day = [first + timedelta(days=n) for n in range(days)]
        return tally.result(every_day)


def _vector(record: TransactionRecord) -> FeatureVector | None:
    """The features a verdict was decided on; None when it has none, or not the ones of
    this version of the service (stored before a feature was added)."""
    if record.features is None:
        return None
    try:
        return FeatureVector.from_dict(record.features)
    except (KeyError, TypeError, ValueError):
        return None


def _chunks(records: Iterator[TransactionRecord], size: int) -> Iterator[list[TransactionRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk
