"""What tracing costs a transaction on the pipeline's one pass (``fraud run``, ``fraud worker
--stage all``): preprocess, score and record of batches of 500 on the in-memory bus, with a
model that costs next to nothing (so that what tracing adds is not hidden behind
TensorFlow) and verdicts stored in a SQLite file.

Five runs over the same transactions:

* off: no endpoint, transactions sent without a ``traceparent`` (the default);
* off, carried: no endpoint, each transaction with a ``traceparent`` (a producer that
  traces, a service that does not);
* on, none sampled: spans exported over OTLP, no transaction's ``traceparent`` sampled (the
  batches' spans alone);
* on, 1 in 100 sampled (what ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with ``0.01``
  gives the traces the API starts);
* on, every one sampled: a span per step in each transaction's trace, and one per batch.

Spans go over OTLP/HTTP to a sink process that answers every export.

Reported: CPU time per transaction (every thread of the process: the exporter's too) and
wall time per transaction, the best of ``--repeat`` runs.

    python benchmarks/tracing_cost.py --transactions 20000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import structlog

from fraud.application.models import FixedModels
from fraud.containers import EMBEDDED, Process, bootstrap
from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.ports import TRACEPARENT, Attributed, OutgoingMessage, Topic
from fraud.settings import Settings

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *_): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class FlatModel:
    """Every transaction scored 0.1, in one call per batch, with no attribution."""

    info = ModelInfo(version="flat", thresholds=Thresholds(0.5, 0.9), trained_at="2026-01-01")

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        return [0.1] * len(features)

    def attribute(self, features: Sequence[FeatureVector]) -> Attributed | None:
        return None


def messages(count: int, sampled_every: int | None) -> list[OutgoingMessage]:
    """``count`` transactions of 2,000 cards, a second apart; each with a trace of its own,
    one in ``sampled_every`` of them sampled (0: none), or none with no trace at all."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    sent = []
    for n in range(count):
        body = {
            "transaction_id": f"t{n}",
            "user_id": f"u{n % 2000}",
            "amount": 20.0 + n % 300,
            "merchant": f"m{n % 50}",
            "timestamp": (start + timedelta(seconds=n)).isoformat(),
            "merchant_type": "online",
            "device_type": "mobile",
            "location_match": n % 2,
        }
        headers = {"transaction_id": f"t{n}"}
        if sampled_every is not None:
            flags = "01" if sampled_every and n % sampled_every == 0 else "00"
            headers[TRACEPARENT] = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{flags}"
        sent.append(OutgoingMessage(f"u{n % 2000}", orjson.dumps(body), headers))
    return sent


def run(count: int, endpoint: str | None, sampled_every: int | None) -> tuple[float, float]:
    """CPU and wall microseconds per transaction through the one pass."""
    database = Path(tempfile.mkdtemp()) / "fraud.db"
    container = bootstrap(
        Settings(database_url=f"sqlite:///{database}", model_dir="unused", otlp_endpoint=endpoint),
        Process(pipeline=EMBEDDED, migrate=True),
    )
    container.live_models.override(FixedModels(FlatModel()))
    container.bus().publish(Topic.TRANSACTIONS, messages(count, sampled_every))
    pipeline = container.pipeline()
    cpu, wall = time.process_time(), time.perf_counter()
    handled = pipeline.run_until_idle(rounds=count)
    if endpoint is not None:  # what is queued is exported before the clock stops
        container.tracer().provider.force_flush()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert handled == count, f"{handled} of {count} handled"
    pipeline.close()
    container.shutdown_resources()
    shutil.rmtree(database.parent)
    return cpu / count * 1e6, wall / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # no log lines timed
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        runs = {
            "off": (None, None),
            "off, traceparent carried": (None, 1),
            "on, none sampled": (endpoint, 0),
            "on, 1 in 100 sampled": (endpoint, 100),
            "on, every one sampled": (endpoint, 1),
        }
        print(f"{options.transactions} transactions, batches of 500, best of {options.repeat}")
        print(f"{'':32} {'CPU us/txn':>10} {'wall us/txn':>12}")
        for name, (url, sampled_every) in runs.items():
            best = min(run(options.transactions, url, sampled_every) for _ in range(options.repeat))
            print(f"{name:32} {best[0]:10.1f} {best[1]:12.1f}")
    finally:
        sink.kill()


if __name__ == "__main__":
    main()
