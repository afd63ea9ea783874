"""How long a backtest takes: one rule, and a set of 50, over N stored verdicts.

Simulated transactions get their behaviour features and a score, and are stored as
scored verdicts received over the last 30 days in a SQLite file made by the migrations,
a tenth of them labelled; then ``TryRules.backtest`` runs one rule, and the 50 rules of
``rule_cost.py``, over the 30 days, as `fraud rules backtest` does.

    python benchmarks/backtest_cost.py --verdicts 100000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.adapters.simulation.simulator import simulate
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.application.rules import TryRules
from fraud.domain.assessment import AnalystLabel, Assessment, Decision, Status, TransactionRecord
from fraud.domain.features import BehaviourProfiles

sys.path.insert(0, str(Path(__file__).parent))
from rule_cost import rule_set

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verdicts", type=int, default=100_000)
    args = parser.parse_args()
    examples = simulate(args.verdicts, seed=5)
    transactions = [example.transaction for example in examples]
    features = BehaviourProfiles().observe(transactions)
    rng = random.Random(1)
    span = timedelta(days=30) / len(transactions)
    records = []
    for n, (example, vector) in enumerate(zip(examples, features, strict=True)):
        received = NOW - timedelta(days=30) + span * n
        score = rng.random() ** 4
        label = None
        if n % 10 == 0:
            label = AnalystLabel(example.is_fraud, "bench", received + timedelta(days=1))
        records.append(
            TransactionRecord(
                transaction=example.transaction,
                received_at=received,
                status=Status.SCORED,
                assessment=Assessment(
                    example.transaction.transaction_id,
                    score,
                    Decision.REVIEW if score > 0.5 else Decision.APPROVE,
                    (),
                    "bench",
                    received,
                ),
                features=vector.as_dict(),
                label=label,
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/backtest.db"
        upgrade(url)
        engine = create_engine_for(url)
        store = SqlUnitOfWorkFactory(engine)
        for start in range(0, len(records), 5_000):
            with store() as uow:
                uow.verdicts.decide(records[start : start + 5_000])
                uow.labels.set_labels(
                    {
                        r.transaction.transaction_id: r.label
                        for r in records[start : start + 5_000]
                        if r.label is not None
                    }
                )
                uow.commit()
        trials = TryRules(SqlQueries(engine), CelRuleCompiler(), Clock())
        for rules in (rule_set(1), rule_set(50)):
            started = time.perf_counter()
            result = trials.backtest(rules, 30)
            seconds = time.perf_counter() - started
            print(
                f"{len(rules):>2} rules over {result.transactions:,} verdicts: {seconds:.2f} s "
                f"({result.transactions / seconds:,.0f} verdicts/s; {result.hits:,} hits, "
                f"precision {result.precision}, recall {result.recall})"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
