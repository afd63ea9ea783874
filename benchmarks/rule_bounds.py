"""What bounds the time an analyst's rule can take, measured: the static cost bound against
the interpreter's real time, the run-time budget against a rule that slips past the bound,
and what the other mechanism (evaluation in a child process with a deadline) would cost.

1. Calibration. Families of expressions (comparisons, chains, literal lists, nested
   comprehensions, string functions, patterns) at growing sizes: each one's worst-case
   cost in steps (``fraud.adapters.cel.bounds``) beside its measured time per evaluation
   (the median of repeated runs on transactions that take every branch). The largest
   microseconds per step says how long an accepted rule can take at the cap.
2. A rule past the bound. The costliest rule the limits allow, and rules far beyond them
   (compiled with the bound lifted, as a bound that misjudged would let through), on a
   batch of 500 with the score stage's budget: the time the rules add to the batch.
3. A child process. The round trip of a batch of 500 contexts to another process and its
   hits back, which a deadline enforced by killing a child would cost on every batch.

    python benchmarks/rule_bounds.py
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime

from fraud.adapters.cel.bounds import measure
from fraud.adapters.cel.rules import CelRuleCompiler, context_of
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.rules import (
    EXPRESSION_LIMITS,
    EvaluationBudget,
    ExpressionLimits,
    InvalidExpression,
    Rule,
    RuleAction,
)
from fraud.domain.transaction import Transaction

BATCH = 500


def numbers(n: int) -> str:
    return "[" + ", ".join(str(k) for k in range(n)) + "]"


FAMILIES = {
    "comparison chain": lambda n: " && ".join(f"tx.amount > {k}.0" for k in range(n)),
    "or of merchants": lambda n: " || ".join(f'tx.merchant == "m{k}"' for k in range(n)),
    "in a literal list": lambda n: f"tx.amount in {numbers(n)}",
    "one comprehension": lambda n: f"{numbers(n)}.exists(a, tx.amount < double(a))",
    "two nested": lambda n: f"{numbers(n)}.all(a, {numbers(n)}.all(b, tx.amount > double(a + b)))",
    "map then exists": lambda n: f"{numbers(n)}.map(a, a * 2).exists(b, double(b) > tx.amount)",
    "features comprehension": lambda n: (
        "features.all(k, features[k] >= 0.0)" + " && score >= 0.0" * n
    ),
    "string functions": lambda n: " && ".join(
        f'tx.merchant.contains("{"x" * k}")' for k in range(1, n + 1)
    ),
    "pattern": lambda n: f"tx.merchant.matches('^(a|b){{{n}}}$')",
    "unicode pattern": lambda n: f"tx.merchant.matches('\\\\w{{{n}}}')",
}
SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


def transactions(count: int) -> list[Transaction]:
    return [
        Transaction(
            transaction_id=f"b-{n}",
            user_id=f"user-{n % 97}",
            amount=1_000_000.0 + n,  # over every threshold: every branch is taken
            merchant="ab" * 60,
            timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
            merchant_type="online",
            device_type="mobile",
            location_match=bool(n % 2),
        )
        for n in range(count)
    ]


VECTOR = FeatureVector(tuple(1.0 for _ in FEATURE_NAMES))


def per_evaluation_us(expression: str, repeats: int) -> float:
    import cel

    program = cel.compile(expression)
    context = context_of(transactions(1)[0], VECTOR, 0.9)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            with contextlib.suppress(Exception):  # an error costs its time too
                program.execute(context)
        runs.append((time.perf_counter() - started) / repeats)
    return statistics.median(runs) * 1e6


def calibrate() -> float:
    print("1. The static bound against the interpreter (µs per evaluation, median of five)")
    print(f"   {'family':<24} {'size':>5} {'steps':>7} {'µs':>9} {'µs/step':>8}")
    worst_ratio = 0.0
    for family, shape in FAMILIES.items():
        for size in SIZES:
            expression = shape(size)
            try:
                cost = measure(expression, replace(EXPRESSION_LIMITS, cost=10**9)).cost
            except InvalidExpression as refused:
                print(f"   {family:<24} {size:>5} refused: {refused.error.message[:50]}")
                break
            took = per_evaluation_us(expression, max(3, min(2_000, 400_000 // cost)))
            ratio = took / cost
            if cost >= 200:  # below, the call's own overhead (a fraction of a µs) dominates
                worst_ratio = max(worst_ratio, ratio)
            accepted = "" if cost <= EXPRESSION_LIMITS.cost else "  (over the cap)"
            print(f"   {family:<24} {size:>5} {cost:>7,} {took:>9.1f} {ratio:>8.3f}{accepted}")
            if cost > 50 * EXPRESSION_LIMITS.cost:
                break
    print(
        f"   largest of 200 steps or more: {worst_ratio:.3f} µs a step, so an expression "
        f"at the cap of {EXPRESSION_LIMITS.cost:,} steps takes at most about "
        f"{worst_ratio * EXPRESSION_LIMITS.cost / 1000:.2f} ms an evaluation"
    )
    return worst_ratio


def batch_ms(rules: list[Rule], limits: ExpressionLimits, budget: EvaluationBudget) -> float:
    compiled = CelRuleCompiler(limits).compile(rules)
    batch = transactions(BATCH)
    vectors, scores = [VECTOR] * BATCH, [0.9] * BATCH
    runs = []
    for _ in range(5):
        started = time.thread_time()
        compiled.evaluate(batch, vectors, scores, budget)
        runs.append(time.thread_time() - started)
    return statistics.median(runs) * 1000


def past_the_bound() -> None:
    print(f"\n2. What rules add to a batch of {BATCH} under the score stage's budget (ms of CPU)")
    budget = EvaluationBudget()
    loose = ExpressionLimits(cost=10**12, comprehension_nesting=6, comprehensions=64)
    cases = {
        "at the cap (two nested, 2,422 steps)": (
            f"{numbers(20)}.all(a, {numbers(13)}.all(b, tx.amount > double(a + b)))",
            EXPRESSION_LIMITS,
        ),
        "three nested, 8,000 evaluations of its body": (
            f"{numbers(20)}.all(a, {numbers(20)}.all(b, {numbers(20)}.all(c, "
            "tx.amount > double(a + b + c))))",
            loose,
        ),
        "five nested (the rule of the issue)": (
            "tx.amount > 100.0 && "
            + "".join(f"{numbers(20)}.all({v}, " for v in "abcde")
            + "a + b + c + d + e >= 0"
            + ")" * 5,
            loose,
        ),
        "a Unicode pattern compiled at every call": (
            "tx.merchant.matches('\\\\w{20}')",
            loose,
        ),
    }
    for label, (expression, limits) in cases.items():
        rule = Rule("r", expression, RuleAction.REVIEW, "r")
        one = batch_ms([rule], limits, budget)
        five = batch_ms([replace(rule, name=f"r{k}") for k in range(5)], limits, budget)
        print(f"   {label:<46} one rule {one:7.2f}   five {five:7.2f}")
    print(
        f"   (budget: {budget.per_rule_s * 1000:.0f} ms a rule, "
        f"{budget.per_batch_s * 1000:.0f} ms the set)"
    )


def _child(connection) -> None:  # type: ignore[no-untyped-def]
    import cel

    program = cel.compile("tx.amount > 500.0 && score > 0.5")
    while (batch := connection.recv()) is not None:
        connection.send([program.execute(context) for context in batch])


def child_process() -> None:
    print(f"\n3. A batch of {BATCH} evaluated in a child process (the deadline mechanism)")
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(child,))
    process.start()
    batch = [
        {"tx": tx.to_dict(), "features": VECTOR.as_dict(), "score": 0.9}
        for tx in transactions(BATCH)
    ]
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        parent.send(batch)
        parent.recv()
        runs.append(time.perf_counter() - started)
    parent.send(None)
    process.join()
    inline = batch_ms(
        [Rule("r", "tx.amount > 500.0 && score > 0.5", RuleAction.REVIEW, "r")],
        EXPRESSION_LIMITS,
        EvaluationBudget(),
    )
    print(
        f"   round trip {statistics.median(runs) * 1000:.2f} ms a batch (median of 20), "
        f"against {inline:.2f} ms to evaluate the same rule in the worker"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-calibration", action="store_true")
    args = parser.parse_args()
    if not args.skip_calibration:
        calibrate()
    past_the_bound()
    child_process()


if __name__ == "__main__":
    main()
