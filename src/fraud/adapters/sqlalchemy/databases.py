"""Databases made and dropped on a PostgreSQL server: one per benchmark run or test, so
runs never see each other's rows."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

DROP_ATTEMPTS = 5


def create_database(server: str, name: str) -> str:
    """Create ``name`` on the server at ``server`` (the URL of any database there, for a
    user allowed to create databases); returns the new database's URL, password included."""
    _administer(server, f'CREATE DATABASE "{name}"')
    return url_of(server, name)


def url_of(server: str, name: str) -> str:
    """The URL of database ``name`` on the server at ``server``."""
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, name: str) -> None:
    """Drop ``name`` with whatever connections are still open to it (a killed worker's)."""
    # FORCE ends the database's sessions, but a role that is not a superuser cannot end an
    # autovacuum worker that has just started on it: that one finishes soon, so ask again.
    for attempt in range(DROP_ATTEMPTS):
        try:
            _administer(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except DBAPIError:
            if attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _administer(server: str, statement: str) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()
