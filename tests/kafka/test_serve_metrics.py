"""A scrape of `fraud serve` counts every accepted transaction once, whichever of its
server processes accepted it and whichever answers the scrape."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from fraud.domain.identity import Role
from tests.factories import EXAMPLE
from tests.kafka.conftest import make_topics
from tests.processes import start_service, stop_service

TRANSACTIONS = 300
CLIENTS = 8


def accepted_by_file(directory: Path) -> dict[str, float]:
    """Each process's own count of accepted transactions, from its file in ``directory``."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            for sample in family.samples:
                if sample.name == "fraud_transactions_accepted_total":
                    counts[path.name] = sample.value
    return counts


def test_a_scrape_of_two_server_processes_counts_each_accepted_transaction_once(
    kafka_bootstrap, prefix, tmp_path
) -> None:
    make_topics(kafka_bootstrap, prefix)
    counts = tmp_path / "metrics"
    service = start_service(
        tmp_path,
        tmp_path / "no-model",  # `fraud serve` loads none: the workers do
        command="serve",
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        PROMETHEUS_MULTIPROC_DIR=str(counts),
    )
    try:

        def submit(first: int) -> None:
            with service.client() as http:
                http.headers["Connection"] = "close"  # each request a new connection: both
                # processes accept some, whichever wins each race
                for n in range(first, TRANSACTIONS, CLIENTS):
                    body = {**EXAMPLE, "transaction_id": f"count-{n}", "user_id": f"u{n % 20}"}
                    answer = http.post(f"{service.url}/transaction", json=body, timeout=10)
                    assert answer.status_code == 202, answer.text

        with ThreadPoolExecutor(CLIENTS) as clients:
            list(clients.map(submit, range(CLIENTS)))
        # A resubmission accepts nothing new, and is not counted again.
        with service.client() as http:
            again = {**EXAMPLE, "transaction_id": "count-0", "user_id": "u0"}
            answer = http.post(f"{service.url}/transaction", json=again, timeout=10)
            assert answer.status_code == 202, answer.text

        by_process = accepted_by_file(counts)
        assert len([n for n in by_process.values() if n > 0]) == 2, by_process
        with service.client(Role.METRICS) as scraper:
            for _ in range(4):  # whichever process answers, the sum
                text = scraper.get(f"{service.url}/metrics", timeout=10).text
                total = re.search(r"^fraud_transactions_accepted_total ([0-9.e+]+)$", text, re.M)
                assert total is not None, text[:2000]
                assert float(total.group(1)) == TRANSACTIONS
    finally:
        stop_service(service)
