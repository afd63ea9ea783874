"""Fresh PostgreSQL databases for tests, on the server ``make test`` starts.

``make test`` starts a throwaway server (``ops/postgres/postgres.sh``) and
passes the URL of its ``fraud`` database in ``FRAUD_TEST_POSTGRES_URL``. Every
test that wants PostgreSQL gets a database of its own, created empty and
dropped afterwards, so tests never see each other's rows and may run in any
order. Without the variable (pytest run by hand) PostgreSQL tests skip and say
how to get a server; under ``make test`` they always run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fraud.adapters.sqlalchemy.databases import create_database, drop_database

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
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on the server at ``server``: yields its URL, then drops it with
    whatever connections a test left open (a killed worker's, say)."""
    name = f"fraud_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server, name)
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
