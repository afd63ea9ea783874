"""Backups and restores on SQLite and PostgreSQL: every decision comes back, a restore
refuses what it would harm unless forced, checks the backup's schema against the code's,
and the commands say what they did without a password."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fraud.adapters.backups import backups_for
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import current, downgrade, revisions, upgrade
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.application.backups import RestoreRefused, restore_database
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.ports.backups import BackupUnreadable
from fraud.entrypoints.cli.main import cli
from tests.factories import txn
from tests.postgres import database_url_for, fresh_database, server_url

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
DECISIONS = (Decision.APPROVE, Decision.REVIEW, Decision.DECLINE)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def source(backend: str, request: pytest.FixtureRequest) -> str:
    url = database_url_for(backend, request)
    upgrade(url)
    return url


@pytest.fixture
def target(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on the same backend, never migrated."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'fraud.db'}"
        return
    with fresh_database(server_url()) as url:
        yield url


def decided(n: int) -> TransactionRecord:
    transaction = txn(n)
    return TransactionRecord(
        transaction=transaction,
        received_at=T0 + timedelta(milliseconds=n),
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction.transaction_id,
            fraud_score=(n % 1000) / 1000,
            decision=DECISIONS[n % 3],
            reasons=("new merchant",),
            model_version="v1",
            scored_at=T0 + timedelta(milliseconds=n + 30),
        ),
        features={"amount": float(n)},
    )


def decide(url: str, numbers: range) -> None:
    engine = create_engine_for(url)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            uow.verdicts.decide([decided(n) for n in numbers])
            uow.commit()
    finally:
        engine.dispose()


def decisions(url: str) -> dict[str, tuple[str, float]]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT transaction_id, decision, fraud_score FROM transactions")
            )
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        engine.dispose()


@pytest.fixture
def connected(target: str) -> Iterator[None]:
    """Another process's view: a connection held open on the target, as a service holds."""
    upgrade(target)
    engine = create_engine_for(target)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.commit()
        yield
    engine.dispose()


def test_a_restore_brings_back_every_decision(source: str, target: str, tmp_path: Path) -> None:
    decide(source, range(300))
    backup = backups_for(source).backup(tmp_path / "fraud.backup")

    restored = restore_database(backups_for(target), backup.path, revisions())

    assert decisions(target) == decisions(source)
    assert len(decisions(target)) == 300
    assert restored.restored.transactions == 300
    assert restored.restored.revision == revisions()[-1] == current(target)
    assert not restored.needs_upgrade


def test_a_backup_is_owner_only_and_never_replaces_a_file(source: str, tmp_path: Path) -> None:
    path = tmp_path / "fraud.backup"
    backups = backups_for(source)
    backup = backups.backup(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert backup.revision == revisions()[-1] and backup.size_bytes == path.stat().st_size
    with pytest.raises(FileExistsError, match="a backup never replaces one"):
        backups.backup(path)
    assert not list(tmp_path.glob(".fraud.backup.partial-*"))


def test_a_database_in_use_is_replaced_only_when_forced(
    source: str, target: str, connected: None, tmp_path: Path
) -> None:
    decide(source, range(10))
    backup = backups_for(source).backup(tmp_path / "fraud.backup")

    with pytest.raises(RestoreRefused, match=r"in use \(1 other connection\)"):
        restore_database(backups_for(target), backup.path, revisions())
    assert decisions(target) == {}

    restored = restore_database(backups_for(target), backup.path, revisions(), force=True)
    assert restored.replaced.in_use
    assert len(decisions(target)) == 10


def test_an_older_backup_replaces_a_newer_database_when_forced_then_upgrades(
    source: str, target: str, tmp_path: Path
) -> None:
    older = revisions()[-2]
    decide(source, range(20))
    downgrade(source, older)
    backup = backups_for(source).backup(tmp_path / "older.backup")
    upgrade(target)
    decide(target, range(1000, 1005))

    with pytest.raises(RestoreRefused, match=r"not empty \(5 transactions"):
        restore_database(backups_for(target), backup.path, revisions())

    restored = restore_database(backups_for(target), backup.path, revisions(), force=True)

    assert restored.backup.revision == older == current(target)
    assert restored.needs_upgrade
    assert restored.replaced.transactions == 5
    upgrade(target)  # the newest revision's tables are gone with the rest, so they apply again
    assert current(target) == revisions()[-1]
    assert set(decisions(target)) == {txn(n).transaction_id for n in range(20)}


def test_a_backup_from_newer_code_is_refused(source: str, target: str, tmp_path: Path) -> None:
    backup = backups_for(source).backup(tmp_path / "fraud.backup")
    older_code = revisions()[:-1]

    with pytest.raises(RestoreRefused, match=f"revision {revisions()[-1]}, which this code"):
        restore_database(backups_for(target), backup.path, older_code)


def test_a_file_that_is_not_a_backup_is_refused(target: str, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a backup")

    with pytest.raises(BackupUnreadable, match="neither a SQLite backup nor a pg_dump archive"):
        restore_database(backups_for(target), path, revisions())


def test_a_backup_of_the_other_engine_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "fraud.dump"
    archive.write_bytes(b"PGDMP\x01\x0e\x00" + bytes(64))
    target = f"sqlite:///{tmp_path / 'fraud.db'}"

    with pytest.raises(RestoreRefused, match="is a postgresql backup; the database is sqlite"):
        restore_database(backups_for(target), archive, revisions())


@pytest.mark.postgres
def test_the_commands_say_what_they_did_and_print_no_password(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(postgres_url)
    decide(postgres_url, range(3))
    password = make_url(postgres_url).password
    assert password
    monkeypatch.setenv("FRAUD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("FRAUD_LOG_FORMAT", "json")
    path = tmp_path / "fraud.dump"

    backed_up = CliRunner().invoke(cli, ["db", "backup", str(path)])
    refused = CliRunner().invoke(cli, ["db", "restore", str(path)])
    forced = CliRunner().invoke(cli, ["db", "restore", "--force", str(path)])

    assert backed_up.exit_code == 0, backed_up.output
    assert f"(schema revision {revisions()[-1]}) to {path}" in backed_up.output
    assert refused.exit_code == 2
    assert "the database is not empty (3 transactions" in refused.output
    assert forced.exit_code == 0, forced.output
    assert "3 transactions" in forced.output
    assert "replaced what the database held: 3 transactions" in forced.output
    for result in (backed_up, refused, forced):
        assert password not in result.output
        assert ":***@127.0.0.1" in result.output or "not empty" in result.output
