"""Run the Alembic migrations in ``migrations/`` from Python (``fraud db upgrade``, ``fraud run``).

Alembic is driven through its API with an in-memory ``Config`` rather than
``alembic.ini``: no ini file means no ``logging.fileConfig``, so the app's
logging survives a migration, and the connection handed to ``env.py`` comes
from :func:`create_engine_for`, so SQLite gets its folder and pragmas. Each
command runs in one transaction: on SQLite and PostgreSQL a failed revision
leaves the schema as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fraud.adapters.sqlalchemy.engine import SQLITE_BEGIN_OPTION, create_engine_for

MIGRATIONS_FOLDER = "migrations"
# How a found migrations/ proves it is this project's and not another Alembic project's.
TARGET_METADATA = "fraud.adapters.sqlalchemy.tables"


class MigrationsNotFound(FileNotFoundError):
    """No Alembic environment (``migrations/env.py``) where this code looked for one."""


def find_migrations(*starts: Path) -> Path:
    """The nearest ``migrations/`` whose ``env.py`` targets our tables, walking up from each start.

    The defaults are this file (a checkout or an editable install) and then the
    working directory (a non-editable install run from a checkout). Anywhere
    else the folder must be passed in; the ``env.py`` check keeps another
    project's Alembic folder from ever being applied to this database.
    """
    starts = starts or (Path(__file__).resolve().parent, Path.cwd().resolve())
    searched: list[Path] = []
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / MIGRATIONS_FOLDER
            if _is_ours(candidate):
                return candidate
            searched.append(candidate)
    raise MigrationsNotFound(
        "no migrations/env.py targeting "
        + TARGET_METADATA
        + " in "
        + ", ".join(str(path) for path in dict.fromkeys(searched))
        + "; pass the folder as migrations=..."
    )


def upgrade(url: str, revision: str = "head", *, migrations: str | Path | None = None) -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating a SQLite file if needed)."""
    with _alembic(url, migrations) as config:
        command.upgrade(config, revision)


def downgrade(url: str, revision: str, *, migrations: str | Path | None = None) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` removes every table)."""
    with _alembic(url, migrations) as config:
        command.downgrade(config, revision)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; ``None`` before the first migration."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def revisions(*, migrations: str | Path | None = None) -> list[str]:
    """Every revision id from the first to head, in the order ``upgrade`` applies them."""
    scripts = ScriptDirectory.from_config(_config(migrations))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def head(*, migrations: str | Path | None = None) -> str | None:
    """The newest revision id, to check a database is up to date."""
    return ScriptDirectory.from_config(_config(migrations)).get_current_head()


def _config(migrations: str | Path | None) -> Config:
    folder = Path(migrations) if migrations is not None else find_migrations()
    if not (folder / "env.py").is_file():
        raise MigrationsNotFound(f"{folder} holds no env.py")
    config = Config()
    config.set_main_option("script_location", str(folder).replace("%", "%%"))
    return config


def _is_ours(folder: Path) -> bool:
    env = folder / "env.py"
    return env.is_file() and TARGET_METADATA in env.read_text(encoding="utf-8")


@contextmanager
def _alembic(url: str, migrations: str | Path | None) -> Iterator[Config]:
    config = _config(migrations)
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                config.attributes["connection"] = connection
                yield config
    finally:
        engine.dispose()
