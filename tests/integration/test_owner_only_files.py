"""The SQLite database, its -wal and -shm files and var/ are owner-only (issue 24, finding
8), checked on real files: they hold password hashes, the session-signing key and every
transaction."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.owner_only import narrow_state_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask (022), under which files are made readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "var" / "nested" / "fraud.db"
    engine = create_engine_for(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE secrets (value TEXT)"))
        connection.execute(text("INSERT INTO secrets VALUES ('hash')"))
        connection.commit()
        # The connection is open, so the write-ahead log and its index are still there.
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.stat().st_size > 0
        assert (mode(database), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    engine.dispose()
    assert mode(database.parent) == 0o700
    assert mode(database.parent.parent) == 0o700


def test_a_migrated_database_is_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "fraud.db"
    upgrade(f"sqlite:///{database}")
    assert mode(database) == 0o600


def test_wider_database_files_are_narrowed_at_start_naming_each_path(tmp_path: Path) -> None:
    database = tmp_path / "fraud.db"
    engine = create_engine_for(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE secrets (value TEXT)"))
        connection.execute(text("INSERT INTO secrets VALUES ('s3cret-hash')"))
        connection.commit()
        wal = Path(f"{database}-wal")
        for path in (database, wal):  # as a release before this one left them
            path.chmod(0o644)

        with capture_logs() as logs:
            create_engine_for(f"sqlite:///{database}").dispose()

        assert (mode(database), mode(wal)) == (0o600, 0o600)
    engine.dispose()
    narrowed = [entry for entry in logs if entry["log_level"] == "warning"]
    assert {entry["path"] for entry in narrowed} == {str(database), str(wal)}
    assert all(entry["was"] == "0644" and entry["now"] == "0600" for entry in narrowed)
    assert "s3cret" not in str(logs)  # the path, never the content


def test_var_is_narrowed_but_a_folder_the_service_did_not_make_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir(mode=0o755)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)

    with capture_logs() as logs:
        create_engine_for("sqlite:///var/fraud.db").dispose()
        create_engine_for(f"sqlite:///{shared / 'fraud.db'}").dispose()

    assert mode(tmp_path / "var") == 0o700
    assert [entry["path"] for entry in logs] == [str(tmp_path / "var")]
    assert mode(shared) == 0o755  # its owner's choice; the file in it is owner-only
    assert mode(shared / "fraud.db") == 0o600


def test_var_is_narrowed_at_start_even_without_a_database_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var" / "model").mkdir(parents=True, mode=0o755)
    (tmp_path / "var").chmod(0o755)
    narrow_state_folder()
    assert mode(tmp_path / "var") == 0o700
