"""How fast ``fraud score`` replays a file offline, as a user runs it.

A file of simulated transactions is scored twice by the command itself: whole,
and its first thousand rows, whose time stands for the start-up (Python,
the libraries, the model) that the rows a second leave out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fraud.adapters.csv.labelled import write_labelled
from fraud.adapters.simulation.simulator import simulate
from fraud.bench.context import Bench
from fraud.bench.harness import BenchError

STARTUP_ROWS = 1_000


def measure_replay(bench: Bench) -> dict[str, Any]:
    """The configured rows replayed by ``fraud score`` on a database of their own."""
    rows, model_dir, echo = bench.config.offline.replay_rows, bench.config.model_dir, bench.echo
    directory = bench.config.out_dir / "replay"
    env = {
        **os.environ,
        "FRAUD_DATABASE_URL": f"sqlite:///{directory / 'replay.db'}",
        "FRAUD_LOG_FORMAT": "json",
    }
    directory.mkdir(parents=True, exist_ok=True)
    data, head = directory / f"replay-{rows}.csv", directory / "replay-head.csv"
    echo(f"  simulating {rows:,} labelled transactions into {data.name}")
    labelled = simulate(rows, seed=bench.config.runs.seed)
    write_labelled(data, labelled)
    write_labelled(head, labelled[:STARTUP_ROWS])
    del labelled
    startup_s = _score(head, directory / "replay-head-verdicts.csv", model_dir, env)
    echo(f"  start-up and {STARTUP_ROWS:,} rows: {startup_s:.2f}s")
    whole_s = _score(data, directory / "replay-verdicts.csv", model_dir, env)
    rows_s = max(whole_s - startup_s, 1e-9)
    echo(f"  {rows:,} rows: {whole_s:.2f}s, {round(rows / rows_s):,} rows/s after start-up")
    return {
        "rows": rows,
        "processes": os.cpu_count(),
        "startup_s": round(startup_s, 2),
        "seconds": round(whole_s, 2),
        "seconds_after_startup": round(rows_s, 2),
        "rows_per_s": round(rows / rows_s),
    }


def _score(data: Path, out: Path, model_dir: Path, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "fraud.entrypoints.cli.main", "score"]
    command += ["--data", str(data), "--out", str(out), "--model-dir", str(model_dir)]
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise BenchError(f"fraud score failed ({finished.returncode}): {finished.stderr[-800:]}")
    return seconds
