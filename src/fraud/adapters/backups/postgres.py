"""PostgreSQL backups: ``pg_dump``'s archive while the service writes, restored in one transaction.

``pg_dump`` reads the whole database in one repeatable-read snapshot and takes only
ACCESS SHARE locks, which block schema changes but no insert or update: the service keeps
deciding while it runs, and the archive holds every decision committed before it began.
The archive is the custom format (compressed; ``pg_restore -l`` lists it).

A restore turns the archive into SQL (``pg_restore --file=-``) and runs it with ``psql
--single-transaction``, after dropping the tables the database holds when it replaces
one: the drop and the restore commit together or not at all, and tables that newer
migrations added do not survive beside an older backup's.

The tools come from Debian's postgresql-client packages, on PATH or under
``/usr/lib/postgresql/VERSION/bin`` (the newest). They get the password in ``PGPASSWORD``,
never on their command line, which other accounts can read in the process list.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from fraud.adapters.backups.files import engine_of, written_aside
from fraud.domain.ports.backups import Backup, BackupFailed, BackupUnreadable, DatabaseState

CLIENT_PACKAGE = "postgresql-client"
# Other sessions on the database: the service's; autovacuum and replication do not count.
OTHER_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)
# A session closed a moment ago stays in pg_stat_activity until its backend exits (tens of
# milliseconds, longer on a busy host): sessions are counted again for this long before
# they count as the database being in use.
SESSIONS_SETTLE_S = 2.0


def _other_sessions(connection: Connection) -> int:
    deadline = time.monotonic() + SESSIONS_SETTLE_S
    while True:
        sessions = int(connection.execute(OTHER_SESSIONS).scalar_one())
        connection.rollback()  # the statistics are read once a transaction: read them afresh
        if sessions == 0 or time.monotonic() >= deadline:
            return sessions
        time.sleep(0.1)


def find_tool(name: str) -> str:
    """``name`` on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path)],
    )
    if installed:
        return installed[-1]
    raise BackupFailed(
        f"{name} is not installed: apt-get install {CLIENT_PACKAGE} (looked on PATH and in "
        "/usr/lib/postgresql/*/bin)"
    )


class PostgresBackups:
    engine = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self._conninfo, self._env = _libpq(parsed)

    def backup(self, path: Path) -> Backup:
        started = time.monotonic()
        with written_aside(path) as partial:
            self._run(
                ["pg_dump", "--format=custom", f"--file={partial}", f"--dbname={self._conninfo}"]
            )
        seconds = time.monotonic() - started
        return Backup(path, self.engine, self._revision_in(path), path.stat().st_size, seconds)

    def read(self, path: Path) -> Backup:
        engine = engine_of(path)
        revision = self._revision_in(path) if engine == self.engine else None
        return Backup(path, engine, revision, path.stat().st_size)

    def state(self) -> DatabaseState:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                sessions = _other_sessions(connection)
                tables = inspect(connection).get_table_names()
                counts = {
                    name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                    for name in tables
                    if name != "alembic_version"
                }
                revision = (
                    connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                    if "alembic_version" in tables
                    else None
                )
        finally:
            engine.dispose()
        return DatabaseState(
            self.engine, sessions, sum(counts.values()), counts.get("transactions", 0), revision
        )

    def restore(self, path: Path) -> DatabaseState:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                tables = inspect(connection).get_table_names()
        finally:
            engine.dispose()
        drop = (
            ["--command=DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"]
            if tables
            else []
        )
        script = subprocess.Popen(
            [find_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
        )
        try:
            self._run(
                [
                    "psql",
                    "--no-psqlrc",
                    "--quiet",
                    "--set=ON_ERROR_STOP=1",
                    "--single-transaction",
                    *drop,
                    "--file=-",
                    f"--dbname={self._conninfo}",
                ],
                stdin=script.stdout,
            )
        finally:
            assert script.stdout is not None and script.stderr is not None
            script.stdout.close()
            problems = script.stderr.read().decode(errors="replace")
            script.stderr.close()
            if script.wait() != 0:
                raise BackupFailed(f"pg_restore could not read {path}: {_last_lines(problems)}")
        return self.state()

    def _revision_in(self, path: Path) -> str | None:
        """The alembic_version row the archive holds, read from the archive itself."""
        listing = subprocess.run(
            [
                find_tool("pg_restore"),
                "--data-only",
                "--table=alembic_version",
                "--file=-",
                str(path),
            ],
            capture_output=True,
            text=True,
            env=self._env,
        )
        if listing.returncode != 0:
            raise BackupUnreadable(
                f"{path} is not a readable pg_dump archive: {_last_lines(listing.stderr)}"
            )
        lines = listing.stdout.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("COPY ") and ".alembic_version " in line:
                value = lines[index + 1] if index + 1 < len(lines) else "\\."
                return None if value == "\\." else value
        return None

    def _run(self, command: list[str], stdin: object = None) -> None:
        tool = command[0]
        finished = subprocess.run(
            [find_tool(tool), *command[1:]],
            stdin=stdin,  # type: ignore[arg-type]
            capture_output=True,
            text=True,
            env=self._env,
        )
        if finished.returncode != 0:
            raise BackupFailed(f"{tool} failed: {_last_lines(finished.stderr)}")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The URL as libpq's own URI without its password, and the tools' environment with the
    password in it. Every other parameter (sslmode, sslrootcert...) stays in the URI."""
    query = dict(url.query)
    password = url.password or query.pop("password", None)
    conninfo = url.set(drivername="postgresql", password=None, query=query)
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PGPASSWORD", "PGDATABASE", "PGSERVICE")
    }
    if password:
        env["PGPASSWORD"] = str(password)
    return conninfo.render_as_string(hide_password=False), env


def _last_lines(output: str, count: int = 5) -> str:
    return " | ".join(line for line in output.strip().splitlines()[-count:]) or "no message"
