"""Counts add up across the processes of one server (granian's workers under `fraud serve`):
each process counts into a shared directory and a scrape answered by any of them reports
the sum; what is computed at scrape time (consumer lag) is reported once, not per process.

Run in a process of its own: counting across processes changes how prometheus-client
keeps every value made afterwards, which must not leak into the other tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FORKED_COUNTS = r"""
import os, sys
from pathlib import Path
from fraud.adapters.prometheus.metrics import PrometheusMetrics, count_across_processes
from fraud.application.stream.pipeline import StagesElsewhere

class Lagging:  # a bus that says the preprocess group is 7 messages behind
    def known_groups(self): return set()
    def lag(self, group, topic): return 7
    def reachable(self): return True

directory = sys.argv[1]
count_across_processes(Path(directory))
children = []
for accepted in (3, 4):
    pid = os.fork()
    if pid == 0:
        worker = PrometheusMetrics(directory)
        worker.watch_consumer_lag(Lagging, StagesElsewhere)
        worker.transactions_accepted(accepted)
        worker.submit_answered("/transaction", 202)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
answering = PrometheusMetrics(directory)
answering.watch_consumer_lag(Lagging, StagesElsewhere)
sys.stdout.write(answering.exposition()[0].decode())
"""


def sample(text: str, series: str) -> list[float]:
    return [
        float(match)
        for match in re.findall(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.MULTILINE)
    ]


def test_a_scrape_of_one_process_reports_what_every_process_counted(tmp_path: Path) -> None:
    scraped = subprocess.run(
        [sys.executable, "-c", FORKED_COUNTS, str(tmp_path / "counts")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert sample(scraped, "fraud_transactions_accepted_total") == [7.0]
    assert sample(scraped, 'fraud_submit_requests_total{code="2xx",route="/transaction"}') == [2.0]
    # Asked of the bus by the answering process, once: not summed over three processes.
    assert sample(scraped, 'fraud_consumer_lag{stage="preprocess",topic="transactions"}') == [7.0]


def test_an_earlier_runs_counts_are_not_this_runs(tmp_path: Path) -> None:
    directory = tmp_path / "counts"
    for _ in range(2):
        scraped = subprocess.run(
            [sys.executable, "-c", FORKED_COUNTS, str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert sample(scraped, "fraud_transactions_accepted_total") == [7.0]
