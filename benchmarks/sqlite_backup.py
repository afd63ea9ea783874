"""Which online copy of a SQLite database keeps the record stage's writer going: the backup
API (one step, as ``fraud db backup`` takes it) or ``VACUUM INTO``.

A database of ``--rows`` rows of about 500 bytes (the size of a stored verdict with its
features and reasons) in WAL mode with the service's pragmas; a writer thread commits a
batch of ``--batch`` rows at a time, as the record stage does, at ``--rate`` rows a second
(a busy service), for ``--before`` seconds, then during each copy, then for ``--before``
seconds again. The copy runs in a process of its own, as ``fraud db backup`` does beside
the service. For each method: the copy's time and size, and the writer's commits before
and while the copy runs (how many, the median, the 99th percentile, the slowest). A
writer the copy blocked would show a commit as slow as the copy itself.

    python benchmarks/sqlite_backup.py --rows 1000000 --rate 5000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

PAYLOAD = "x" * 480


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("busy_timeout = 5000", "journal_mode = WAL", "synchronous = NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def fill(path: Path, rows: int) -> None:
    connection = connect(path)
    connection.execute("CREATE TABLE verdicts (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO verdicts (payload) VALUES (?)", ((PAYLOAD,) for _ in range(rows))
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


class Writer(threading.Thread):
    """Commits batches as fast as it can; each commit's start and duration are kept."""

    def __init__(self, path: Path, batch: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.connection = connect(path)
        self.batch = batch
        self.interval = batch / rate
        self.commits: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        rows = [(PAYLOAD,)] * self.batch
        due = time.perf_counter()
        while not self.stopping.is_set():
            started = time.perf_counter()
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany("INSERT INTO verdicts (payload) VALUES (?)", rows)
            self.connection.execute("COMMIT")
            self.commits.append((started, time.perf_counter() - started))
            due += self.interval
            self.stopping.wait(max(0.0, due - time.perf_counter()))
        self.connection.close()

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for began, seconds in self.commits if start <= began < end]


def backup_api(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as reading, sqlite3.connect(target) as writing:
        reading.backup(writing)  # pages=-1: every page in one step, one read transaction
        writing.execute("PRAGMA journal_mode = DELETE")
    reading.close()
    writing.close()


def vacuum_into(source: Path, target: Path) -> None:
    reading = sqlite3.connect(source)
    reading.execute("VACUUM INTO ?", (str(target),))
    reading.close()


METHODS: dict[str, Callable[[Path, Path], None]] = {
    "backup-api": backup_api,
    "vacuum-into": vacuum_into,
}


def summary(commits: list[float]) -> str:
    ordered = sorted(commits) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(commits):5} commits, median {statistics.median(ordered) * 1000:5.2f} ms, "
        f"p99 {p99 * 1000:6.1f} ms, slowest {ordered[-1] * 1000:6.1f} ms"
    )


def measure(name: str, folder: Path, args: argparse.Namespace) -> None:
    source, target = folder / "fraud.db", folder / f"{name}.db"
    writer = Writer(source, args.batch, args.rate)
    writer.start()
    time.sleep(args.before)
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--copy", name, str(source), str(target)], check=True)
    ended = time.perf_counter()
    time.sleep(args.before)
    writer.stopping.set()
    writer.join()
    before = writer.between(started - args.before, started)
    during = writer.between(started, ended)
    copied = ended - started
    print(f"{name:11} copy {copied:6.2f} s, {target.stat().st_size / 1e6:7.1f} MB")
    print(f"            writer before: {summary(before)}")
    print(f"            writer during: {summary(during)}")
    target.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5000.0, help="rows a second")
    parser.add_argument("--before", type=float, default=2.0)
    parser.add_argument("--copy", nargs=3, metavar=("METHOD", "SOURCE", "TARGET"))
    args = parser.parse_args()
    if args.copy:  # the child process: one copy
        method, source, target = args.copy
        METHODS[method](Path(source), Path(target))
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as name:
        folder = Path(name)
        fill(folder / "fraud.db", args.rows)
        print(f"{args.rows} rows, {(folder / 'fraud.db').stat().st_size / 1e6:.1f} MB")
        for method in METHODS:
            measure(method, folder, args)


if __name__ == "__main__":
    main()
