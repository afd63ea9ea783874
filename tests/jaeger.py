"""Jaeger, the trace backend ops/jaeger/jaeger.sh builds from its Go module (once per
machine, into ~/.cache/fraud: a few minutes the first time) and starts on ports of the test's
own; its query API says what a trace holds."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "ops" / "jaeger" / "jaeger.sh"


@dataclass(frozen=True)
class Jaeger:
    otlp_endpoint: str
    query: str

    def operations(self, trace_id: str) -> list[dict]:
        """The spans Jaeger holds of a trace (none yet: an empty list)."""
        answer = requests.get(f"{self.query}/api/traces/{trace_id}", timeout=5)
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return [span for trace in answer.json()["data"] or [] for span in trace["spans"]]

    def wait_for(self, trace_id: str, names: set[str], timeout: float = 60.0) -> list[dict]:
        """The trace's spans once it holds one of each name in ``names``."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.operations(trace_id)
            if names <= {span["operationName"] for span in spans}:
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Jaeger's trace {trace_id} has "
                    f"{sorted(s['operationName'] for s in spans)}, not all of {sorted(names)}"
                )
            time.sleep(0.25)


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    ports = {
        name: str(free_port())
        for name in (
            "JAEGER_OTLP_PORT",
            "JAEGER_QUERY_PORT",
            "JAEGER_QUERY_GRPC_PORT",
            "JAEGER_HEALTH_PORT",
        )
    }
    env = {**os.environ, **ports}
    subprocess.run([str(SCRIPT), "up"], env=env, check=True, timeout=1800)
    try:
        yield Jaeger(
            f"http://127.0.0.1:{ports['JAEGER_OTLP_PORT']}",
            f"http://127.0.0.1:{ports['JAEGER_QUERY_PORT']}",
        )
    finally:
        subprocess.run([str(SCRIPT), "down"], env=env, check=True, timeout=60)


def parent_of(span: dict) -> str | None:
    """The span id of a span's parent in its trace (None: a root)."""
    for reference in span.get("references", []):
        if reference["refType"] == "CHILD_OF":
            return reference["spanID"]
    return None
