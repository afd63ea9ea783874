"""`fraud rules` as a person runs it: a rule added, changed and disabled from the command
line, refused with the expression error's position, audited as the account that ran it, and
backtested over stored verdicts to the counts made by hand."""

from __future__ import annotations

import getpass
import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.domain.assessment import AnalystLabel, Assessment, Decision, Status, TransactionRecord
from fraud.domain.features import FEATURE_NAMES
from tests.factories import txn
from tests.processes import FRAUD, fraud_env

pytestmark = pytest.mark.e2e


def run(database: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FRAUD, "rules", *args],
        env=fraud_env(FRAUD_DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'fraud.db'}"
    upgrade(url)
    return url


def test_a_rule_is_added_changed_and_disabled_from_the_command_line(database: str) -> None:
    refused = run(
        database, "add", "--name", "big", "--expr", "tx.amount >", "--action", "review",
        "--reason", "big",
    )  # fmt: skip
    assert refused.returncode == 2
    assert "Syntax error" in refused.stderr and "(line 1, column 12)" in refused.stderr

    added = run(
        database, "add", "--name", "big", "--expr", "tx.amount > 900.0", "--action", "review",
        "--reason", "over 900", "--mode", "shadow",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "version 1, shadow" in added.stderr
    assert run(database, "update", "big", "--mode", "active").returncode == 0
    assert run(database, "update", "big", "--mode", "active").returncode == 2  # no change
    assert run(database, "disable", "big").returncode == 0
    assert run(database, "disable", "nothing").returncode == 2

    listed = run(database, "list").stdout
    assert "big" in listed and "disabled" in listed and "tx.amount > 900.0" in listed
    shown = run(database, "show", "big").stdout
    assert "version 2 by cli:" in shown and "mode: 'shadow' -> 'active'" in shown
    audit = subprocess.run(
        [FRAUD, "audit", "list", "--json"],
        env=fraud_env(FRAUD_DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    actions = [(e["actor"], e["action"]) for e in map(json.loads, audit)]
    me = f"cli:{getpass.getuser()}"
    assert actions == [(me, "rule.changed"), (me, "rule.changed"), (me, "rule.added")]


def test_a_backtest_from_the_command_line_counts_what_a_hand_count_finds(database: str) -> None:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    vector = {name: 0.0 for name in FEATURE_NAMES}
    # (days ago, amount, decision given, label): the rule is "tx.amount > 900.0", review.
    plan = [
        (0, 950.0, Decision.APPROVE, True),
        (0, 100.0, Decision.APPROVE, None),
        (0, 990.0, Decision.DECLINE, True),  # hit, but already declined: nothing changes
        (1, 901.0, Decision.APPROVE, False),
        (1, 50.0, Decision.REVIEW, True),  # labelled fraud the rule misses
        (2, 1200.0, Decision.REVIEW, None),  # hit, already in review
        (40, 5000.0, Decision.APPROVE, True),  # outside --since 3d
    ]
    records = []
    for n, (days, amount, decision, label) in enumerate(plan):
        # Halfway through that day's part before now: on the day counted, whatever the hour.
        received = midnight - timedelta(days=days) + (now - midnight) / 2
        transaction = replace(txn(n), transaction_id=f"b-{n}", amount=amount)
        records.append(
            TransactionRecord(
                transaction=transaction,
                received_at=received,
                status=Status.SCORED,
                assessment=Assessment(f"b-{n}", 0.1, decision, (), "m1", received),
                features=vector,
                label=None if label is None else AnalystLabel(label, "ann", received),
            )
        )
    engine = create_engine_for(database)
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.verdicts.decide(records)
        uow.labels.set_labels({r.transaction.transaction_id: r.label for r in records if r.label})
        uow.commit()
    engine.dispose()

    added = run(
        database, "add", "--name", "big", "--expr", "tx.amount > 900.0", "--action", "review",
        "--reason", "over 900",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = json.loads(run(database, "backtest", "big", "--since", "3d", "--json").stdout)
    assert result["transactions"] == 6
    assert result["hits"] == 4  # b-0, b-2, b-3, b-5
    assert result["changed"] == result["reviews_added"] == 2  # b-0 and b-3, approve -> review
    # Labelled hits: b-0 fraud, b-2 fraud, b-3 not; labelled fraud: b-0, b-2, b-4.
    assert (result["labelled_hits"], result["fraud_hits"], result["labelled_fraud"]) == (3, 2, 3)
    assert [day["hits"] for day in result["days"]] == [1, 1, 2]

    table = run(database, "backtest", "big", "--since", "3d")
    assert table.returncode == 0, table.stderr
    assert "6 verdicts, 4 hits, 2 decisions changed, 2 reviews added" in table.stdout
    assert "precision 66.7%" in table.stdout and "recall 66.7%" in table.stdout
    assert "█" in table.stdout


def test_an_expression_the_limits_refuse_is_refused_from_the_command_line_too(
    database: str,
) -> None:
    """The 30 KB expression that crashed the interpreter's parser, and a comprehension nested
    three deep, are refused by ``fraud rules add`` and ``backtest --expr`` with the limit
    and its place; the command exits 2 and nothing is stored."""
    thirty_kb = "+".join(["1"] * 15_000) + " == 1"
    twenty = "[" + ", ".join(str(n) for n in range(20)) + "]"
    nested = f"{twenty}.all(a, {twenty}.all(b, {twenty}.all(c, a + b + c >= 0)))"
    for expression, says in ((thirty_kb, "4,000"), (nested, "comprehensions nested 3 deep")):
        added = run(
            database, "add", "--name", "big", "--expr", expression, "--action", "review",
            "--reason", "big",
        )  # fmt: skip
        assert added.returncode == 2, added.stderr[-500:]
        assert says in added.stderr
        tried = run(database, "backtest", "--expr", expression, "--since", "1d")
        assert tried.returncode == 2, tried.stderr[-500:]
        assert says in tried.stderr
    assert "big" not in run(database, "list").stdout
