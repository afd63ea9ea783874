"""`fraud export-labels` writes what analysts labelled as a file `fraud train` reads."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fraud.adapters.csv.labelled import read_labelled
from fraud.containers import Process, bootstrap
from fraud.domain.assessment import TransactionRecord
from fraud.domain.identity import Actor
from fraud.entrypoints.cli.main import cli
from fraud.settings import Settings
from tests.factories import txn
from tests.fakes import FixedClock

RECEIVED = datetime(2025, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'verdicts.db'}"
    for name in ("FRAUD_BROKER", "FRAUD_TOPIC_PREFIX", "FRAUD_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAUD_DATABASE_URL", url)
    return url


def test_export_labels_writes_the_labelled_transactions(database: str, tmp_path: Path) -> None:
    container = bootstrap(Settings(database_url=database), Process(migrate=True))
    clock = FixedClock()
    container.clock.override(clock)
    with container.unit_of_work()() as uow:
        uow.verdicts.claim([TransactionRecord(txn(n), RECEIVED) for n in range(4)])
        uow.commit()
    label = container.label_transaction()
    label("t2", True, Actor("ana", "test"))
    clock.advance(60)
    label("t0", False, Actor("bob", "test"))
    container.shutdown_resources()
    out = tmp_path / "exports" / "labels.csv"

    result = CliRunner().invoke(cli, ["export-labels", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert f"wrote 2 labelled transactions (1 fraudulent) to {out}" in result.output
    rows = read_labelled(out)
    assert [(row.transaction, row.is_fraud) for row in rows] == [
        (txn(2), True),
        (txn(0), False),
    ]


def test_export_labels_with_nothing_labelled_writes_a_header_only(
    database: str, tmp_path: Path
) -> None:
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(cli, ["export-labels", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 0 labelled transactions" in result.output
    assert read_labelled(out) == []


def test_an_export_opened_in_a_spreadsheet_runs_nothing_and_imports_back_the_same(
    database: str, tmp_path: Path
) -> None:
    formulas = ("=cmd|' /C calc'!A0", "@SUM(1+1)", "+1", "-1")
    container = bootstrap(Settings(database_url=database), Process(migrate=True))
    container.clock.override(FixedClock())
    sent = [
        txn(n, transaction_id=formula, user_id=formula, merchant=formula)
        for n, formula in enumerate(formulas)
    ]
    with container.unit_of_work()() as uow:
        uow.verdicts.claim([TransactionRecord(transaction, RECEIVED) for transaction in sent])
        uow.commit()
    for formula in formulas:
        container.label_transaction()(formula, True, Actor("ana", "test"))
    container.shutdown_resources()
    out = tmp_path / "labels.csv"

    result = CliRunner().invoke(cli, ["export-labels", "--out", str(out)])

    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as file:
        written = [cell for row in csv.reader(file) for cell in row]
    assert not [cell for cell in written if cell[:1] in {"=", "+", "-", "@", "\t", "\r"}]
    assert {row.transaction for row in read_labelled(out)} == set(sent)
