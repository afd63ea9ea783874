"""Rules' expressions in CEL through ``common-expression-language``, the Python binding of the
cel-rust interpreter: the safe, non-Turing-complete language of Kubernetes, Envoy and Google
Cloud IAM, never Python's ``eval``.

An expression sees three names and nothing else: ``tx`` (the transaction's contract fields,
e.g. ``tx.amount``, ``tx.merchant_type``), ``features`` (its behaviour features by name,
e.g. ``features.new_merchant``) and ``score`` (the model's fraud probability); and it may
test a value's membership of an analysts' list, ``tx.user_id in lists.blocked_cards``. A
list is never handed to the interpreter (converting 1,000 values for every transaction took
3.5 ms, and it grows with the list): the membership is rewritten, where the parser found it,
into a call of a function the context carries, ``(tx.user_id).in_list("blocked_cards")``,
which looks the value up in the worker's copy of the list (a dictionary: the same cost
whatever its size, about 2.5 µs a call and 3.5 µs to hand the function over). CEL has no
I/O and no way to reach Python objects; a name other than these three fails to evaluate, and
an expression is only accepted once it compiles and evaluates to true or false on a sample
transaction that has every field and every feature, and names only fields and features
that exist.

Evaluating a rule costs about a microsecond per transaction in the interpreter, and
handing it a transaction's values costs more. Most rules an analyst writes are a chain of
conditions joined by ``&&`` of which some compare a field, a feature or the score with a
literal (``tx.merchant_type == "online"``, ``tx.amount > 500.0``): those conditions, the
rule's *guards*, are checked for the whole batch at once with numpy, and the interpreter
evaluates the rule only on the transactions every guard lets through. A guard is a
necessary condition of the rule (``a && b`` is never true when ``a`` is false), so the
hits are those of evaluating every rule on every transaction; a comparison numpy cannot
make exactly as CEL would (mismatched types) is not used as a guard. Where a rule is
evaluated, the transaction is handed over with only the names that rule reads (once per
set of names, however many rules read them).

Nothing an analyst writes can take the worker down or hold it: every expression is measured
before it is compiled (:mod:`fraud.adapters.cel.bounds`: length, nesting, comprehensions,
literals and a worst-case cost, refused with the limit and the place), every error an
evaluation raises is contained to its rule and transaction (a :class:`RuleFault`), and in
the scoring worker each rule and the whole set have a time budget per batch
(:class:`~fraud.domain.rules.EvaluationBudget`): the interpreter cannot be interrupted, but
the bound keeps one evaluation under a millisecond, and the clock is read after each, so a
rule past its budget is cut off for the rest of the batch. What counts is the thread's own
CPU time, so a busy machine or another thread does not cut off a cheap rule.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import cel
import numpy as np
import structlog

from fraud.adapters.cel.bounds import RULE_NAMES, Membership, Names, measure
from fraud.adapters.cel.syntax import position
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.lists import ListLookup
from fraud.domain.rules import (
    EXPRESSION_LIMITS,
    EvaluationBudget,
    ExpressionError,
    ExpressionLimits,
    InvalidExpression,
    Rule,
    RuleEvaluation,
    RuleFault,
    RuleFaultKind,
    RuleHit,
    RuleOnError,
    expression_problem,
)
from fraud.domain.transaction import Transaction, format_instant

log = structlog.get_logger(__name__)

# The parser's message: "... ERROR: <input>:LINE:COLUMN: Syntax error: what\n| source\n| ..^"
_POSITION = re.compile(r"<input>:(\d+):(\d+): ([^\n]*)")

SAMPLE = Transaction(
    transaction_id="sample",
    user_id="sample-user",
    amount=10.0,
    merchant="Sample Shop",
    timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    merchant_type="online",
    device_type="mobile",
    location_match=True,
)
SAMPLE_FEATURES = FeatureVector(tuple(0.0 for _ in FEATURE_NAMES))


_NAMES = ("tx", "features")
# The function a list membership is rewritten into (a name bounds.py refuses in what an
# analyst writes, so only the rewrite calls it).
IN_LIST = "in_list"
_LISTS = re.compile(r"\blists\s*\.")
# ``tx.NAME`` or ``features.NAME``; group 4 is set when NAME is a method called on the map
# (``features.all(k, ...)``), which reads all of it.
_MEMBER = re.compile(r"\b(tx|features)\b(\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?(\s*\()?")
_FIELDS = frozenset(SAMPLE.to_dict())
_FEATURE_PLACE = {name: place for place, name in enumerate(FEATURE_NAMES)}


def code_only(expression: str) -> str:
    """The expression with the inside of every string and bytes literal blanked out (the
    same length, so offsets still point at the same characters): what is left is code."""
    out = list(expression)
    i, n = 0, len(expression)
    while i < n:
        char = expression[i]
        if char not in "\"'":
            i += 1
            continue
        letters = i
        while letters > 0 and expression[letters - 1].isalpha():
            letters -= 1
        raw = expression[letters:i].lower() in ("r", "br", "rb")
        quote = expression[i : i + 3] if expression[i : i + 3] in ('"""', "'''") else char
        j = i + len(quote)
        while j < n and not expression.startswith(quote, j):
            if expression[j] == "\\" and not raw:
                out[j] = " "
                j += 1
                if j < n:
                    out[j] = " "
                j += 1
                continue
            if expression[j] != "\n":
                out[j] = " "
            j += 1
        i = j + len(quote)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Needs:
    """The fields and features expressions read (None: all of them). Handing the interpreter
    only these matters: converting one value to CEL (2 to 3 µs for a float or a string) costs
    more than evaluating a rule (about 1 µs), and a transaction has 45 of them."""

    fields: frozenset[str] | None = frozenset()
    features: frozenset[str] | None = frozenset()
    lists: bool = False  # whether they test membership of a list

    @classmethod
    def of(cls, expressions: Sequence[str]) -> Needs:
        """Every ``tx.NAME`` and ``features.NAME`` the expressions' code mentions; a name used
        any other way (``tx["amount"]``, ``"amount" in tx``) needs the whole of it."""
        used: dict[str, set[str] | None] = {name: set() for name in _NAMES}
        lists = False
        for expression in expressions:
            code = code_only(expression)
            lists = lists or _LISTS.search(code) is not None
            for found in _MEMBER.finditer(code):
                name, member = found.group(1), found.group(3)
                names = used[name]
                if member is None or found.group(4):
                    used[name] = None
                elif names is not None:
                    names.add(member)
        fields, features = (
            None if used[name] is None else frozenset(used[name] or ()) for name in _NAMES
        )
        return cls(fields, features, lists)


ALL = Needs(None, None)
ALL_AND_LISTS = Needs(None, None, lists=True)


def unknown_member(expression: str) -> ExpressionError | None:
    """The first ``tx.NAME`` or ``features.NAME`` that names nothing the expression is given."""
    for found in _MEMBER.finditer(code_only(expression)):
        name, member = found.group(1), found.group(3)
        known = _FIELDS if name == "tx" else _FEATURE_PLACE
        if member is not None and not found.group(4) and member not in known:
            line, column = position(expression, found.start(3))
            return ExpressionError(f"no field or feature {member!r}: {_KNOWN}", line, column)
    return None


_KNOWN = "tx has the contract's fields, features the behaviour features by name"


class NoLists:
    """The lists of an expression checked on a sample: none holds anything."""

    def contains(self, name: str, value: object) -> bool:
        return False

    def names(self) -> frozenset[str]:
        return frozenset()


NO_LISTS = NoLists()


def in_list(lists: ListLookup) -> Callable[[object, str], bool]:
    """The function a rewritten membership calls: ``(value).in_list("name")``."""
    contains = lists.contains

    def member(value: object, name: str) -> bool:
        return contains(name, value)

    return member


def rewritten(expression: str, memberships: Sequence[Membership]) -> str:
    """The expression with each ``X in lists.NAME`` written as ``(X).in_list("NAME")``.
    ``X`` is taken from where its operand starts to the ``in``: brackets an operand opens
    before its start close inside that span, so the added pair encloses them whole."""
    text = expression
    for found in sorted(memberships, key=lambda m: m.start, reverse=True):
        start = found.start
        while start > 0 and text[start - 1] == ".":  # a name from the root: .tx.user_id
            start -= 1
        operand = text[start : found.in_at]
        text = f'{text[:start]}({operand}).{IN_LIST}("{found.name}"){text[found.end :]}'
    return text


def nested(memberships: Sequence[Membership]) -> bool:
    """Whether a membership tests another's result (its operand holds the other)."""
    spans = sorted((m.start, m.end) for m in memberships)
    return any(later[0] < earlier[1] for earlier, later in pairwise(spans))


def context_of(
    transaction: Transaction,
    features: FeatureVector,
    score: float,
    needs: Needs = ALL,
    member: Callable[[object, str], bool] | None = None,
) -> cel.Context:
    """What an expression sees of one transaction: of it, what ``needs`` says (and the list
    look-up, ``member``, for expressions that read lists)."""
    fields: dict[str, Any] = {}
    if needs.fields is None:
        fields = transaction.to_dict()
    elif needs.fields:
        fields = {
            name: FIELD_VALUE[name](transaction) for name in needs.fields if name in FIELD_VALUE
        }
    if needs.features is None:
        named = features.as_dict()
    else:
        values = features.values
        named = {
            name: values[_FEATURE_PLACE[name]] for name in needs.features if name in _FEATURE_PLACE
        }
    variables = {"tx": fields, "features": named, "score": float(score)}
    if needs.lists and member is not None:
        return cel.Context(variables, functions={IN_LIST: member})
    return cel.Context(variables)


# Each contract field as ``Transaction.to_dict`` gives it, read alone.
FIELD_VALUE: dict[str, Callable[[Transaction], Any]] = {
    name: operator.attrgetter(name) for name in _FIELDS
} | {
    "timestamp": lambda transaction: format_instant(transaction.timestamp),
    "location_match": lambda transaction: int(transaction.location_match),
}
_NUMERIC_FIELDS = frozenset({"amount", "location_match"})


# --- guards ---------------------------------------------------------------------------------

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPERAND = r"(?:(tx|features)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)|(score))"
_LITERAL = r"""(-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|"[^"\\\n]*"|'[^'\\\n]*')"""
_OPERATOR = r"(==|!=|<=|>=|<|>)"
_GUARD = re.compile(rf"\s*{_OPERAND}\s*{_OPERATOR}\s*{_LITERAL}\s*")
_GUARD_FLIPPED = re.compile(rf"\s*{_LITERAL}\s*{_OPERATOR}\s*{_OPERAND}\s*")


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition of a rule's top-level ``&&`` chain comparing an operand with a literal:
    the rule can only hold where the guard does."""

    operand: tuple[str, str]  # ("tx", field), ("features", name) or ("score", "")
    operator: str
    literal: float | str

    def holds(self, column: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        result = _COMPARE[self.operator](column, self.literal)
        return np.asarray(result, dtype=bool)


def _literal(text: str) -> float | str:
    if text[0] in "\"'":
        return text[1:-1]
    return float(text)  # CEL compares int and double by value, as numpy does


def _operand(kind: str | None, name: str | None, score: str | None) -> tuple[str, str] | None:
    """The operand, when numpy can compare it with a literal exactly as CEL would."""
    if score:
        return ("score", "")
    if kind == "features" and name in _FEATURE_PLACE:
        return ("features", name)
    if kind == "tx" and name in _FIELDS:
        return ("tx", name)
    return None


def _conditions(code: str) -> list[tuple[int, int]] | None:
    """Where the top-level ``&&`` chain's conditions are, or None when the expression is not
    one (a top-level ``||`` or ``?:`` makes a condition no longer necessary)."""
    depth, start, spans = 0, 0, []
    i = 0
    while i < len(code):
        char = code[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and code.startswith("&&", i):
            spans.append((start, i))
            start = i + 2
            i += 2
            continue
        elif depth == 0 and (code.startswith("||", i) or char == "?"):
            return None
        i += 1
    spans.append((start, len(code)))
    return spans


def guards_of(expression: str) -> tuple[Guard, ...]:
    """The guards of an expression (none when it is not a top-level ``&&`` chain)."""
    code = code_only(expression)
    spans = _conditions(code)
    if spans is None:
        return ()
    guards = []
    for start, end in spans:
        condition = expression[start:end]
        if code[start:end].strip().startswith(("(", "!")):
            continue
        if found := _GUARD.fullmatch(condition):
            kind, name, score, op, literal = found.groups()
        elif found := _GUARD_FLIPPED.fullmatch(condition):
            literal, flipped, kind, name, score = found.groups()
            op = _FLIPPED[flipped]
        else:
            continue
        operand = _operand(kind, name, score)
        value = _literal(literal)
        if operand is None or _numeric(operand) != isinstance(value, float):
            continue  # mismatched types: CEL decides (no overload, or not equal)
        guards.append(Guard(operand, op, value))
    return tuple(guards)


def _numeric(operand: tuple[str, str]) -> bool:
    kind, name = operand
    return kind != "tx" or name in _NUMERIC_FIELDS


class _Columns:
    """A batch's values by operand, built the first time a guard needs one."""

    def __init__(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        scores: Sequence[float],
    ) -> None:
        self._transactions = transactions
        self._features = features
        self._scores = scores
        self._built: dict[tuple[str, str], np.ndarray[Any, Any]] = {}

    def __getitem__(self, operand: tuple[str, str]) -> np.ndarray[Any, Any]:
        column = self._built.get(operand)
        if column is None:
            column = self._built[operand] = self._build(operand)
        return column

    def _build(self, operand: tuple[str, str]) -> np.ndarray[Any, Any]:
        kind, name = operand
        if kind == "score":
            return np.asarray(self._scores, dtype=float)
        if kind == "features":
            place = _FEATURE_PLACE[name]
            return np.fromiter(
                (vector.values[place] for vector in self._features),
                dtype=float,
                count=len(self._features),
            )
        value = FIELD_VALUE[name]
        if name in _NUMERIC_FIELDS:
            return np.fromiter(
                map(value, self._transactions), dtype=float, count=len(self._transactions)
            )
        column = np.empty(len(self._transactions), dtype=object)
        column[:] = [value(transaction) for transaction in self._transactions]
        return column


class CelRules:
    """A rule set's expressions, compiled once, with their guards."""

    def __init__(
        self,
        rules: Sequence[Rule],
        programs: Sequence[Any],
        costs: Sequence[int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self._clock = clock
        self._cpu = cpu
        self._rules = tuple(rules)
        self._programs = tuple(programs)
        # How many rows a rule evaluates between two reads of the clock: reading it costs
        # a fifth of evaluating a cheap rule, and a cheap rule cannot overrun its budget by
        # much in a stride; a costly one is timed row by row.
        self._strides = tuple(
            max(1, min(MAX_STRIDE, STRIDE_COST // max(cost, 1)))
            for cost in (costs or [STRIDE_COST] * len(self._rules))
        )
        self._guards = tuple(guards_of(rule.expression) for rule in rules)
        # What each rule is handed of a transaction: a guarded rule (evaluated on few rows)
        # only the names it reads; the rules without guards (evaluated on every row) share
        # one hand-over of all the names any of them reads.
        paired = list(zip(rules, self._guards, strict=True))
        unguarded = Needs.of([rule.expression for rule, guards in paired if not guards])
        self._needs = tuple(
            Needs.of([rule.expression]) if guards else unguarded for rule, guards in paired
        )
        self._failed: set[tuple[str, int]] = set()
        self._member = in_list(NO_LISTS)

    def reading(self, lists: ListLookup) -> CelRules:
        """These rules with the lists they read (``lists.NAME``) looked up in ``lists``."""
        self._member = in_list(lists)
        return self

    @property
    def rules(self) -> Sequence[Rule]:
        return self._rules

    def evaluate(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        scores: Sequence[float],
        budget: EvaluationBudget | None = None,
    ) -> RuleEvaluation:
        """Each transaction's hits and faults. Without a budget (a backtest, a trial) every
        rule is evaluated on every row its guards let through."""
        found = RuleEvaluation.nothing(len(transactions))
        if not self._rules or not transactions:
            return found
        spending = _Spending(budget or UNBOUNDED, self._cpu)
        run = _Run((transactions, features, scores), spending, found, self._member)
        for rule, program, guards, needs, stride in zip(
            self._rules, self._programs, self._guards, self._needs, self._strides, strict=True
        ):
            rows = run.rows_through(guards)
            if len(rows):
                self._evaluate(run, rule, program, needs, rows, stride)
        return found

    def _evaluate(
        self,
        run: _Run,
        rule: Rule,
        program: Any,
        needs: Needs,
        rows: Sequence[int],
        stride: int,
    ) -> None:
        hit = RuleHit(rule.name, rule.version, rule.action, rule.mode, rule.reason)
        applied = rule.on_error is RuleOnError.APPLY
        spending = run.spending
        spending.start_rule()
        # The loop keeps its sums in locals and calls nothing of ours per row but the
        # context: a method call per evaluation costs a third of evaluating a simple rule.
        clock, hits, contexts = self._clock, run.found.hits, run.contexts
        wall, left = 0.0, spending.left()
        place = 0
        while place < len(rows):
            if wall > left:
                spending.add(wall)
                wall = 0.0
                if spending.over():
                    run.cut_off(rule, hit, applied, rows[place:])
                    return
                left = spending.left()
            started = clock()
            for row in rows[place : place + stride]:
                context = contexts.get((row, needs)) or run.context(row, needs)
                try:
                    holds = program.execute(context) is True
                except Exception as error:  # whatever the interpreter raises: this rule, this row
                    holds = False
                    self._unevaluable(rule, run.transactions[row], error)
                    run.fault(row, rule, hit, RuleFaultKind.ERROR, applied)
                if holds:
                    hits[row].append(hit)
            took = clock() - started
            wall += took
            place += stride
            if took > SLOW_STRIDE_S:  # costlier than its bound said: timed row by row now
                stride = 1
        spending.add(wall)

    def _unevaluable(self, rule: Rule, transaction: Transaction, error: BaseException) -> None:
        """Said once per rule version: a rule that fails on every transaction would drown
        the log (the count is on /metrics and the rules page)."""
        if (rule.name, rule.version) in self._failed:
            return
        self._failed.add((rule.name, rule.version))
        log.warning(
            "rule could not be evaluated (said once per rule version; counted on /metrics)",
            rule=rule.name,
            version=rule.version,
            on_error=rule.on_error.value,
            error=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
            transaction_id=transaction.transaction_id,
        )


UNBOUNDED = EvaluationBudget(per_rule_s=math.inf, per_batch_s=math.inf)
# Rows evaluated between two reads of the clock: as many as the rule's worst case allows in
# about a millisecond (4,000 steps), at most 64; a stride that takes longer than that makes
# the rule timed row by row for the rest of the batch.
STRIDE_COST = 4_000
MAX_STRIDE = 64
SLOW_STRIDE_S = 0.001


class _Spending:
    """The time a batch's rules spend against an :class:`EvaluationBudget`.

    Each evaluation's wall time (a cheap clock, 45 ns a read, read around the interpreter's
    call alone) adds up; only when a sum passes its budget is the thread's CPU time since
    the rule (or the batch) began read (a costlier clock, 0.6 µs) to decide. A busy machine,
    or another thread holding the interpreter lock, stretches the wall clock but never the
    thread's own CPU time, so neither cuts off a cheap rule; a costly one is cut off within
    an evaluation of its budget."""

    def __init__(self, budget: EvaluationBudget, cpu: Callable[[], float]) -> None:
        self.budget = budget
        self.cpu = cpu
        self.batch_began = cpu()
        self.batch_wall = 0.0
        self.rule_began = self.batch_began
        self.rule_wall = 0.0

    def start_rule(self) -> None:
        self.rule_began = self.cpu()
        self.rule_wall = 0.0

    def add(self, took: float) -> None:
        self.rule_wall += took
        self.batch_wall += took

    def left(self) -> float:
        """Wall time that may pass before the budgets need a look."""
        budget = self.budget
        return min(budget.per_rule_s - self.rule_wall, budget.per_batch_s - self.batch_wall)

    def over(self) -> bool:
        budget = self.budget
        if self.rule_wall > budget.per_rule_s:
            self.rule_wall = self.cpu() - self.rule_began
            if self.rule_wall > budget.per_rule_s:
                return True
        if self.batch_wall > budget.per_batch_s:
            self.batch_wall = self.cpu() - self.batch_began
            if self.batch_wall > budget.per_batch_s:
                return True
        return False


class _Run:
    """One batch's evaluation: its columns for the guards, the contexts built so far, the
    time spent, and what was found."""

    def __init__(
        self,
        batch: tuple[Sequence[Transaction], Sequence[FeatureVector], Sequence[float]],
        spending: _Spending,
        found: RuleEvaluation,
        member: Callable[[object, str], bool],
    ) -> None:
        transactions, features, scores = batch
        self.transactions = transactions
        self.features = features
        self.scores = scores
        self.spending = spending
        self.found = found
        self.member = member
        self._columns = _Columns(transactions, features, scores)
        self._held: dict[Guard, np.ndarray[Any, Any]] = {}
        self.contexts: dict[tuple[int, Needs], cel.Context] = {}
        self._everyone = range(len(transactions))

    def rows_through(self, guards: Sequence[Guard]) -> Sequence[int]:
        """The rows every guard lets through (all of them for a rule without guards)."""
        if not guards:
            return self._everyone
        mask = None
        for guard in guards:
            holds = self._held.get(guard)
            if holds is None:
                holds = self._held[guard] = guard.holds(self._columns[guard.operand])
            mask = holds if mask is None else mask & holds
        rows: list[int] = np.flatnonzero(mask).tolist()
        return rows

    def context(self, row: int, needs: Needs) -> cel.Context:
        context = self.contexts.get((row, needs))
        if context is None:
            context = self.contexts[row, needs] = context_of(
                self.transactions[row], self.features[row], self.scores[row], needs, self.member
            )
        return context

    def fault(self, row: int, rule: Rule, hit: RuleHit, kind: RuleFaultKind, applied: bool) -> None:
        self.found.faults[row].append(RuleFault(rule.name, rule.version, kind, applied))
        if applied:
            self.found.hits[row].append(hit)

    def cut_off(self, rule: Rule, hit: RuleHit, applied: bool, rows: Sequence[int]) -> None:
        for row in rows:
            self.fault(row, rule, hit, RuleFaultKind.BUDGET, applied)


class CelRuleCompiler:
    """Compiles what the limits allow; the same checks on every path: a rule checked,
    added, changed, tried or backtested, and a stored rule loaded by a worker."""

    def __init__(
        self,
        limits: ExpressionLimits = EXPRESSION_LIMITS,
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
        lists: ListLookup | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.cpu = cpu
        self.lists = lists

    def _names(self) -> Names:
        """What an expression may read: the lists that exist now among it, where there are."""
        return RULE_NAMES if self.lists is None else RULE_NAMES.reading_lists(self.lists.names())

    def check(self, expression: str) -> None:
        self._program(expression, self._names())

    def compile(self, rules: Sequence[Rule]) -> CelRules:
        programs, costs = [], []
        names = self._names()
        for rule in rules:
            try:
                program, cost = self._program(rule.expression, names)
                programs.append(program)
                costs.append(cost)
            except InvalidExpression as refused:
                error = refused.error
                raise InvalidExpression(
                    ExpressionError(
                        f"rule {rule.name!r}: {error.message}", error.line, error.column
                    )
                ) from None
        compiled = CelRules(rules, programs, costs, self.clock, self.cpu)
        return compiled if self.lists is None else compiled.reading(self.lists)

    def _program(self, expression: str, names: Names) -> tuple[Any, int]:
        if len(expression) <= self.limits.length and (problem := expression_problem(expression)):
            raise InvalidExpression(ExpressionError(f"the expression {problem}"))
        # Measured first: the interpreter's parser is only ever handed what the limits
        # allow (30 KB of "1+1+..." overflowed its stack; deep nesting is refused here).
        measured = measure(expression, self.limits, names)
        if nested(measured.memberships):
            raise InvalidExpression(
                ExpressionError("a list membership may not test another's result")
            )
        try:
            cel.compile(expression)  # the analyst's own text: its errors at its positions
            program = cel.compile(rewritten(expression, measured.memberships))
        except ValueError as error:
            raise InvalidExpression(syntax_error(str(error))) from None
        if (unknown := unknown_member(expression)) is not None:
            raise InvalidExpression(unknown)
        sample = context_of(SAMPLE, SAMPLE_FEATURES, 0.5, ALL_AND_LISTS, in_list(NO_LISTS))
        try:
            result = program.execute(sample)
        except Exception as error:
            raise InvalidExpression(ExpressionError(evaluation_error(error))) from None
        if not isinstance(result, bool):
            raise InvalidExpression(
                ExpressionError(f"must be true or false, not a {type(result).__name__}")
            )
        return program, measured.cost


def syntax_error(message: str) -> ExpressionError:
    found = _POSITION.search(message)
    if found is None:
        return ExpressionError(message.splitlines()[0])
    line, column, what = found.groups()
    return ExpressionError(what.strip(), int(line), int(column))


def evaluation_error(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"no field or feature {error.args[0]!r}: {_KNOWN}"
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, RuntimeError) and "Undefined variable or function" in first:
        return f"{first.split('.')[0]}: an expression may use tx, features and score only"
    if isinstance(error, OverflowError):
        return f"on a sample transaction: {first}"
    if isinstance(error, IndexError):
        return f"on a sample transaction: {first}"
    return first.split(". ")[0]
