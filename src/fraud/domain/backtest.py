"""A backtest: what rules would have done to the verdicts already given.

Each stored verdict is evaluated again with the rules under test counted as active;
the decision it would have had is the stored one with their hits applied
(:func:`~fraud.domain.rules.apply_rules`). Precision and recall are counted on the
transactions whose label is known: precision is the share of labelled hits that
were fraud, recall the share of labelled fraud the rules hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from fraud.domain.assessment import Decision
from fraud.domain.errors import FieldError
from fraud.domain.requests import BrokenRequest, RequestContract, RequestField
from fraud.domain.rules import Rule, RuleAction, draft_rule

DEFAULT_BACKTEST_DAYS = 30
MAX_BACKTEST_DAYS = 366
_DRAFT = ("expression", "action", "reason")

BACKTEST_REQUEST = RequestContract(
    (
        RequestField("name", "string", "a stored rule to backtest"),
        RequestField("expression", "string", "a draft rule's expression (with its action)"),
        RequestField(
            "action",
            "string",
            "what the draft rule does to a transaction it hits",
            choices=tuple(action.value for action in RuleAction),
        ),
        RequestField("reason", "string", "the draft rule's reason"),
        RequestField("all", "boolean", "the whole rule set evaluated now", default=False),
        RequestField(
            "days",
            "integer",
            f"over the verdicts of this many days, today included "
            f"(default {DEFAULT_BACKTEST_DAYS})",
            unit="days",
            default=DEFAULT_BACKTEST_DAYS,
            minimum=1,
            maximum=MAX_BACKTEST_DAYS,
        ),
    )
)


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What to backtest, one of: ``every`` rule evaluated now, the stored rule ``name``d,
    or a ``draft``; over the last ``days`` days."""

    days: int
    every: bool = False
    name: str | None = None
    draft: Rule | None = None

    @classmethod
    def parse(cls, data: object) -> BacktestRequest:
        """From a request's fields; BrokenRequest names every field that breaks its rule
        (InvalidRule, a draft's)."""
        values, errors = BACKTEST_REQUEST.read(data)
        errors += _one_thing_tested(values)
        if errors:
            raise BrokenRequest(errors)
        if values["all"]:
            return cls(values["days"], every=True)
        if "expression" not in values:
            return cls(values["days"], name=values["name"])
        drafted = {key: value for key, value in values.items() if key not in ("all", "days")}
        return cls(values["days"], draft=draft_rule(drafted))


def _one_thing_tested(values: dict[str, object]) -> list[FieldError]:
    """All the rules, a name or a draft: one of them, and only a draft has an action."""
    if values.get("all"):
        if any(field in values for field in ("name", *_DRAFT)):
            return [FieldError("all", "goes alone: the whole rule set, no name or draft")]
    elif "expression" not in values:
        if "name" not in values:
            return [FieldError("body", "must name a rule, give a draft's expression, or all")]
        if "action" in values or "reason" in values:
            return [FieldError("action", "goes with an expression (a draft), not a name")]
    return []


@dataclass(slots=True)
class BacktestDay:
    day: date
    transactions: int = 0
    hits: int = 0
    changed: int = 0  # decisions that would differ from the one given
    reviews_added: int = 0  # would go to review, and did not
    declines_added: int = 0  # would be declined, and were not


@dataclass(frozen=True, slots=True)
class Backtest:
    rules: tuple[str, ...]
    since: datetime
    until: datetime
    days: tuple[BacktestDay, ...]
    labelled_hits: int  # hits whose label is known
    fraud_hits: int  # of those, confirmed fraud
    labelled_fraud: int  # confirmed fraud in the period, hit or not
    unevaluable: int  # verdicts a rule could not be evaluated on (they count as no hit)

    @property
    def transactions(self) -> int:
        return sum(day.transactions for day in self.days)

    @property
    def hits(self) -> int:
        return sum(day.hits for day in self.days)

    @property
    def changed(self) -> int:
        return sum(day.changed for day in self.days)

    @property
    def reviews_added(self) -> int:
        return sum(day.reviews_added for day in self.days)

    @property
    def declines_added(self) -> int:
        return sum(day.declines_added for day in self.days)

    @property
    def precision(self) -> float | None:
        return self.fraud_hits / self.labelled_hits if self.labelled_hits else None

    @property
    def recall(self) -> float | None:
        return self.fraud_hits / self.labelled_fraud if self.labelled_fraud else None


@dataclass(slots=True)
class BacktestTally:
    """Counts verdicts one at a time, in any order, into a :class:`Backtest`."""

    rules: tuple[str, ...]
    since: datetime
    until: datetime
    _days: dict[date, BacktestDay] = field(default_factory=dict)
    _labelled_hits: int = 0
    _fraud_hits: int = 0
    _labelled_fraud: int = 0
    _unevaluable: int = 0

    def count(
        self,
        received_at: datetime,
        decided: Decision,
        would: Decision,
        hit: bool,
        is_fraud: bool | None,
    ) -> None:
        day = received_at.date()
        tally = self._days.get(day)
        if tally is None:
            tally = self._days[day] = BacktestDay(day)
        tally.transactions += 1
        if hit:
            tally.hits += 1
        if would is not decided:
            tally.changed += 1
            if would is Decision.REVIEW:
                tally.reviews_added += 1
            elif would is Decision.DECLINE:
                tally.declines_added += 1
        if is_fraud is not None:
            self._labelled_fraud += is_fraud
            if hit:
                self._labelled_hits += 1
                self._fraud_hits += is_fraud

    def unevaluable(self, count: int) -> None:
        self._unevaluable += count

    def result(self, every_day: Sequence[date] = ()) -> Backtest:
        """The backtest; ``every_day`` lists days to show even without a verdict."""
        for day in every_day:
            self._days.setdefault(day, BacktestDay(day))
        return Backtest(
            rules=self.rules,
            since=self.since,
            until=self.until,
            days=tuple(self._days[day] for day in sorted(self._days)),
            labelled_hits=self._labelled_hits,
            fraud_hits=self._fraud_hits,
            labelled_fraud=self._labelled_fraud,
            unevaluable=self._unevaluable,
        )
