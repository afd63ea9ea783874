"""The profile: one worker's stages in a child process under cProfile
(:mod:`fraud.bench.profile`), to say what holds the throughput back. Two copies of the data
are published first, one for a plain pass and one for the profiled pass."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.harness import BenchError, RunSpace, end_with_parent
from fraud.bench.phases.throughput import publish_as_api
from fraud.domain.transaction import Transaction

LOG_TAIL_CHARS = 3_000


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    count = bench.config.offline.profile_transactions
    if not count:
        return {}
    bench.echo(f"[profile] one worker's stages in-process, {count:,} txns")
    return {"profile": measure(bench, population[:count])}


def measure(bench: Bench, transactions: Sequence[Transaction]) -> dict[str, Any]:
    """Pre-produce two copies of ``transactions``, then the child drains them."""
    profile_dir = bench.config.out_dir / "profile"
    profile_dir.mkdir(parents=True, exist_ok=True)
    config = bench.config
    with config.space("prof-plain") as plain, config.space("prof-cprofile") as profiled:
        for space in (plain, profiled):
            with bench.bus(space) as bus:
                publish_as_api(bench, bus, transactions, config.progress)
        busy = bench.settle()
        bench.echo("  running the stages (plain pass, then cProfile pass)")
        _drain_in_child(bench, plain, profiled, len(transactions), profile_dir)
    summary: dict[str, Any] = json.loads((profile_dir / "profile.json").read_text())
    summary["files"] = sorted(str(path) for path in profile_dir.iterdir())
    summary["background_busy_cores"] = busy
    return summary


def _drain_in_child(
    bench: Bench, plain: RunSpace, profiled: RunSpace, count: int, profile_dir: Path
) -> None:
    command = [sys.executable, "-m", "fraud.bench.profile"]
    command += ["--plain-prefix", plain.prefix, "--plain-database", plain.database_url]
    command += ["--profiled-prefix", profiled.prefix]
    command += ["--profiled-database", profiled.database_url]
    command += ["--group", plain.group, "--transactions", str(count)]
    command += ["--out-dir", str(profile_dir)]
    log_path = profile_dir / "profile-worker.log"
    with log_path.open("wb") as log:
        try:
            subprocess.run(
                command,
                env=bench.worker_environment(plain),
                preexec_fn=end_with_parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=bench.config.runs.timeout_s * 3,
                check=True,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            tail = log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            raise BenchError(f"the profile run failed ({error}):\n{tail}") from None
