"""What each test costs in CPU time: this process's and that of the processes it started and
waited for (a `fraud` command, a service it stopped). `pytest --cpu-report=FILE` writes one
line per test to FILE (FILE.gwN under xdist: CPU, wall and start seconds, and the test, so
each worker's timeline can be drawn) and lists the costliest at the end: on two cores
a run takes at least half its CPU time, whatever the parallelism, so this is what to cut."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LISTED = 25


def spent() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(item: pytest.Item) -> Iterator[None]:
    """Around a test's whole protocol (a hook wrapper's body): its CPU and wall seconds."""
    report = item.config.getoption("cpu_report")
    if not report:
        return (yield)
    cpu, wall, began = spent(), time.monotonic(), time.time()
    result = yield
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    path = Path(f"{report}.{worker}" if worker else report)
    with path.open("a") as file:
        file.write(
            f"{spent() - cpu:.2f}\t{time.monotonic() - wall:.2f}\t{began:.2f}\t{item.nodeid}\n"
        )
    return result


def summary(config: pytest.Config, terminal) -> None:
    report = config.getoption("cpu_report")
    if not report or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rows = []
    for path in Path(report).parent.glob(Path(report).name + "*"):
        for line in path.read_text().splitlines():
            cpu, wall, _, nodeid = line.split("\t", 3)
            rows.append((float(cpu), float(wall), nodeid))
    rows.sort(reverse=True)
    terminal.write_sep("=", f"CPU seconds: {sum(r[0] for r in rows):.0f} in {len(rows)} tests")
    for cpu, wall, nodeid in rows[:LISTED]:
        terminal.write_line(f"{cpu:7.1f} cpu {wall:7.1f} wall  {nodeid}")
