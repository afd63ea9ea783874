"""Fresh PostgreSQL databases for tests, on the server ``make test`` starts.

``make test`` starts a throwaway server (``ops/postgres/postgres.sh``) and
passes the URL of its ``fraud`` database in ``FRAUD_TEST_POSTGRES_URL``. Every
test that wants PostgreSQL gets a database of its own, created empty and
dropped afterwards, so tests never see each other's rows and may run in any
order. Without the variable (pytest run by hand) PostgreSQL tests skip and say
how to get a server; under ``make test`` they always run.

A test that wants a database at the migrations' head, not one to migrate, gets a
copy: of a template database migrated once per server (``CREATE DATABASE ...
TEMPLATE``), or of a SQLite file migrated once per run. Migrating costs seconds on
PostgreSQL, a copy a fraction of one; the migrations themselves are walked by
``tests/integration/test_migrations.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from fraud.adapters.sqlalchemy.databases import create_database, drop_database, url_of
from fraud.adapters.sqlalchemy.migrate import upgrade
from tests.shared import once_per_run

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

BACKENDS = ("sqlite", "postgresql")

NO_SERVER = (
    "PostgreSQL tests need a server: run `make test`, or `make postgres-up` and export "
    "FRAUD_TEST_POSTGRES_URL=$(ops/postgres/postgres.sh url)"
)


def server_url() -> str:
    """The URL ``make test`` exported, or a skip saying how to get one."""
    url = os.environ.get("FRAUD_TEST_POSTGRES_URL", "").strip()
    if not url:
        pytest.skip(NO_SERVER)
    return url


@contextmanager
def fresh_database(server: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server at ``server``, empty or a copy of ``template``: yields
    its URL, then drops it with whatever connections a test left open (a killed worker's)."""
    name = f"fraud_test_{uuid.uuid4().hex[:12]}"
    if template is None:
        url = create_database(server, name)
    else:
        _administer(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = url_of(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


def database_url_for(backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on ``backend`` (one of ``BACKENDS``) for the requesting test:
    a SQLite file in a folder not made yet, or a PostgreSQL database (``postgres_url``).
    For fixtures whose own parameters name the backend, beside others (an in-memory fake)."""
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{request.getfixturevalue('tmp_path') / 'not-yet' / 'fraud.db'}"


def migrated_url_for(backend: str, request: pytest.FixtureRequest) -> str:
    """As :func:`database_url_for`, the database already at the migrations' head."""
    if backend == "postgresql":
        return str(request.getfixturevalue("migrated_postgres_url"))
    template = sqlite_template(request.getfixturevalue("tmp_path_factory"))
    folder = request.getfixturevalue("tmp_path") / "not-yet"
    folder.mkdir(mode=0o700)
    shutil.copyfile(template, folder / "fraud.db")
    (folder / "fraud.db").chmod(0o600)
    return f"sqlite:///{folder / 'fraud.db'}"


@cache
def schema_digest() -> str:
    """What names a migrated template: every file of the migrations, hashed."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        digest.update(str(path.relative_to(MIGRATIONS)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the migrations' head, migrated once per run for every worker."""
    folder = once_per_run(
        tmp_path_factory,
        f"sqlite-{schema_digest()}",
        lambda folder: upgrade(f"sqlite:///{folder / 'fraud.db'}"),
    )
    return folder / "fraud.db"


_templates: dict[str, str] = {}


def postgres_template(server: str) -> str:
    """The name of a database at the migrations' head on ``server``, to copy: migrated once
    per server and set of migrations, whichever test (of any xdist worker or run) asks
    first, under a lock the server holds; marked a template only once it is complete."""
    if server in _templates:
        return _templates[server]
    name = f"fraud_template_{schema_digest()}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
            try:
                complete = connection.execute(
                    text("SELECT datistemplate FROM pg_database WHERE datname = :name"),
                    {"name": name},
                ).scalar()
                if not complete:
                    drop_database(server, name)  # what an interrupted build left, if anything
                    upgrade(create_database(server, name))
                    connection.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE true'))
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name}
                )
    finally:
        engine.dispose()
    _templates[server] = name
    return name


def _administer(server: str, statement: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
