"""What analysts' rules cost per transaction: N rules compiled once, evaluated over a batch.

Simulated transactions get their behaviour features, then every rule of a set of N
(thresholds on amounts, merchant types, features and the score, in the shapes analysts
write) is evaluated for each, as the score stage does; the rules' cost per transaction
is reported for 1, 10 and 50 rules: as the service evaluates them (guards checked over
the batch first), and with every rule evaluated on every transaction by the interpreter
(what a rule with no guard costs).

    python benchmarks/rule_cost.py --transactions 5000
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.adapters.simulation.simulator import simulate
from fraud.domain.features import BehaviourProfiles
from fraud.domain.rules import EvaluationBudget, Rule, RuleAction

SHAPES = (
    'tx.merchant_type == "{kind}" && tx.amount > {amount}.0',
    "features.new_merchant == 1.0 && tx.amount > {amount}.0",
    "features.count_1h >= {count}.0 && features.small_count_1h >= 3.0",
    "score > 0.{digit} && features.location_mismatch == 1.0",
    'tx.device_type == "{device}" && features.distinct_devices_24h > {count}.0',
)


BATCH = 500  # the score stage's batch


def rule_set(count: int, seed: int = 3) -> list[Rule]:
    rng = random.Random(seed)
    return [
        Rule(
            f"rule-{index}",
            SHAPES[index % len(SHAPES)].format(
                kind=rng.choice(["online", "travel", "gas"]),
                amount=rng.choice([200, 500, 1000]),
                count=rng.randrange(2, 6),
                digit=rng.randrange(3, 9),
                device=rng.choice(["mobile", "desktop"]),
            ),
            rng.choice([RuleAction.REVIEW, RuleAction.DECLINE, RuleAction.REASON]),
            f"rule {index}",
        )
        for index in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=5_000)
    args = parser.parse_args()
    transactions = [row.transaction for row in simulate(args.transactions, seed=11)]
    features = BehaviourProfiles().observe(transactions)
    scores = [random.Random(index).random() for index in range(len(transactions))]
    compiler = CelRuleCompiler()
    for count in (1, 10, 50):
        for how in ("guarded", "unguarded"):
            rules = rule_set(count)
            if how == "unguarded":  # the same conditions in parentheses: nothing to guard
                rules = [replace(rule, expression=f"({rule.expression})") for rule in rules]
            compiled = compiler.compile(rules)
            started = time.process_time()
            found = [
                hit
                for at in range(0, len(transactions), BATCH)
                for hit in compiled.evaluate(
                    transactions[at : at + BATCH],
                    features[at : at + BATCH],
                    scores[at : at + BATCH],
                    EvaluationBudget(),  # as the score stage evaluates them
                ).hits
            ]
            seconds = time.process_time() - started
            hits = sum(len(each) for each in found)
            print(
                f"{count:>3} rules, {how:>9}: {1e6 * seconds / len(transactions):8.1f} µs of CPU "
                f"per transaction ({hits:,} hits over {len(transactions):,} transactions)"
            )


if __name__ == "__main__":
    main()
