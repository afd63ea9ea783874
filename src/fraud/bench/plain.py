"""The path a client that writes plain JSON takes: kcat producing into ``transactions``.

No envelope, no ``received_at`` header: the preprocess stage validates each
message against the contract and takes the broker's timestamp as its receipt,
exactly as for any producer a payments team would point at the topic.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from fraud.adapters.kafka.settings import admin_config
from fraud.bench.harness import BenchError, RunSpace
from fraud.domain.ports import Topic
from fraud.domain.transaction import Transaction


def json_of(transaction: Transaction) -> str:
    """The transaction as a client writes it: the contract's fields, compact JSON."""
    return json.dumps(transaction.to_dict(), separators=(",", ":"))


def write_input(transactions: Sequence[Transaction], path: Path) -> Path:
    """One line per transaction, ``user_id TAB json``: kcat's keyed input (``-K '\\t'``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for transaction in transactions:
            out.write(f"{transaction.user_id}\t{json_of(transaction)}\n")
    return path


def produce(space: RunSpace, lines: Path, topic: str = Topic.TRANSACTIONS) -> float:
    """kcat writes every line of ``lines`` into the run's ``topic``; returns the seconds it took
    (until the broker acknowledged the last)."""
    kcat = shutil.which("kcat")
    if kcat is None:
        raise BenchError("kcat is needed to measure a plain producer's path: apt-get install kcat")
    # The client settings (a SASL password among them) go in a file only this user reads,
    # never on a command line every process may list.
    settings = space.directory / f"kcat-{space.label}.conf"
    settings.touch(mode=0o600)
    settings.write_text(
        "".join(
            f"{name}={value}\n"
            for name, value in admin_config(space.bootstrap, space.security).items()
            if name != "logger"  # a Python object for confluent-kafka, not a setting
        )
    )
    command = [kcat, "-P", "-q", "-F", str(settings), "-t", space.prefix + topic]
    command += ["-K", "\t", "-l", str(lines)]
    try:
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
    finally:
        settings.unlink(missing_ok=True)
    if finished.returncode != 0:
        raise BenchError(f"kcat failed ({finished.returncode}): {finished.stderr.strip()[-500:]}")
    return seconds
