"""Alembic's environment for the verdict store.

Runs in two ways: programmatically from ``fraud.adapters.sqlalchemy.migrate``,
which hands over an open connection in ``config.attributes["connection"]`` (so
the app's engine settings apply and its loggers stay as configured), or from a
shell with ``alembic upgrade head``, which reads ``alembic.ini`` and the
``FRAUD_DATABASE_URL`` variable.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.tables import metadata

DEFAULT_URL = "sqlite:///var/fraud.db"

config = context.config
target_metadata = metadata

# Only a shell run has an ini file; never silence loggers the app configured.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """``-x url=...``, else the ini's sqlalchemy.url, else FRAUD_DATABASE_URL, else the default."""
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("FRAUD_DATABASE_URL", "").strip()
        or DEFAULT_URL
    )


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        **options,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Emit the SQL as a script instead of running it (``alembic upgrade head --sql``)."""
    url = database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # create_engine_for makes SQLite's DDL transactional (it emits BEGIN itself), so
    # a whole run can be one transaction there too; Alembic assumes otherwise.
    _configure(connection=connection, render_as_batch=sqlite, transactional_ddl=sqlite or None)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine_for(database_url())
    try:
        with engine.connect() as own_connection:
            run_on(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
