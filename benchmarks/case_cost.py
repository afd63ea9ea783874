"""What opening cases and writing webhook events costs the record stage, per transaction.

The record stage's ``store`` on a stream where one transaction in ten is decided ``review``
(so it opens a case, routed through the queues' conditions) and, a subscription to
``decision.review`` existing, writes one event to the outbox; the rest are approvals. The
same stream is stored twice, each time into a database of its own migrated to head: by
the record stage as the container builds it (``after``: cases and events, with the
dashboard's and the rules' tallies), and by the same stage without its case and event
writer (``before``). The difference, averaged over the whole stream, is what cases and
events cost a transaction (the issue's budget: under 10 µs).

    python benchmarks/case_cost.py                                   # SQLite, temporary files
    python benchmarks/case_cost.py --transactions 200000 --rounds 5
    python benchmarks/case_cost.py --default-queue-only    # no condition to route by
    python benchmarks/case_cost.py --url-before URL1 --url-after URL2   # two empty databases
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud.application.follow_ups import DecisionFollowUps
from fraud.application.stream.record import RecordStage
from fraud.containers import Container, Process, bootstrap
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.cases import new_queue
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.identity import Actor
from fraud.domain.transaction import Transaction
from fraud.domain.webhooks import DeliveryStatus, NewSubscription
from fraud.logs import configure_logging
from fraud.settings import Settings

T0 = datetime(2026, 12, 1, tzinfo=UTC)
BENCH = Actor("bench", "case_cost")
# The queues a case is routed through before it reaches the default one.
QUEUES = (
    {"name": "high-value", "condition": "tx.amount >= 1000.0", "include_declines": True},
    {"name": "gift-cards", "condition": '"gift-cards" in rules'},
)


def stream(count: int, prefix: str) -> list[TransactionRecord]:
    """``count`` decided transactions, every tenth a review, with a full feature vector."""
    features = dict.fromkeys(FEATURE_NAMES, 0.5)
    records = []
    for n in range(count):
        at = T0 + timedelta(milliseconds=n)
        transaction = Transaction(
            transaction_id=f"{prefix}{n:09d}",
            user_id=f"card-{n % 20_000}",
            amount=15.0 + n % 2_000,
            merchant=f"Shop {n % 700}",
            timestamp=at,
            merchant_type="online",
            device_type="mobile",
            location_match=bool(n % 3),
        )
        decision = Decision.REVIEW if n % 10 == 0 else Decision.APPROVE
        score = 0.7 if decision is Decision.REVIEW else 0.05
        verdict = Assessment(
            transaction.transaction_id, score, decision, ("a reason",), "bench-model", at
        )
        records.append(
            TransactionRecord(
                transaction,
                at,
                Status.SCORED,
                verdict,
                features=features,
                preprocessed_at=at,
                recorded_at=at,
            )
        )
    return records


def container_for(url: str, routed: bool) -> Container:
    """A migrated database with a subscription to reviews, and (``routed``) the queues a case
    is routed through before the default one."""
    container = bootstrap(Settings(database_url=url), Process(migrate=True))
    for queue in QUEUES if routed else ():
        container.manage_queues().add(new_queue(queue), BENCH)
    subscription = {"url": "https://93.184.215.14/hook", "events": ["decision.review"]}
    container.manage_webhooks().add(NewSubscription.parse(subscription), BENCH)
    return container


def stages(container: Container) -> dict[str, RecordStage]:
    """The record stage as built (cases and events), and the same without them."""
    after = container.record_stage()
    before = RecordStage(
        container.unit_of_work(),
        container.envelopes(),
        container.clock(),
        container.metrics(),
        [kept for kept in after.tallies if not isinstance(kept, DecisionFollowUps)],
    )
    return {"before": before, "after": after}


def timed(stage: RecordStage, records: list[TransactionRecord], batch: int) -> float:
    """The thread's CPU seconds to store the stream, batch by batch (each its own unit of
    work): SQLite works in this thread, and other processes on a busy machine do not
    stretch the figure as they stretch the wall clock."""
    started = time.thread_time()
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        stage.store(chunk, {}, chunk[-1].recorded_at or T0)
    return time.thread_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="streams stored by each")
    parser.add_argument("--url-before", help="an empty database for the stage without cases")
    parser.add_argument("--url-after", help="an empty database for the stage with cases")
    parser.add_argument(
        "--default-queue-only",
        action="store_true",
        help="no queue but the default (no condition to evaluate) [default: two queues first]",
    )
    arguments = parser.parse_args()
    configure_logging("json", "warning")  # a line per review would be timed in both

    with tempfile.TemporaryDirectory() as folder:
        urls = {
            "before": arguments.url_before or f"sqlite:///{Path(folder) / 'before.db'}",
            "after": arguments.url_after or f"sqlite:///{Path(folder) / 'after.db'}",
        }
        routed = not arguments.default_queue_only
        containers = {name: container_for(url, routed) for name, url in urls.items()}
        built = {name: stages(container)[name] for name, container in containers.items()}
        seconds: dict[str, list[float]] = {"before": [], "after": []}
        warm = stream(arguments.batch * 4, "warm-")
        for name in built:  # caches, statements compiled, the queues' conditions loaded
            timed(built[name], warm, arguments.batch)
        for round_ in range(arguments.rounds):
            records = stream(arguments.transactions, f"r{round_}-")
            # Alternate which goes first, so neither always meets a warmer machine.
            order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
            for name in order:
                seconds[name].append(timed(built[name], records, arguments.batch))
        # What each wrote (none for the stage without cases): a sanity check of the figures.
        wrote = {
            name: {
                "cases": sum(state.open for state in container.work_cases().queue_states()),
                "events": container.webhook_queries().backlog()[DeliveryStatus.PENDING],
            }
            for name, container in containers.items()
        }
        per = {
            name: statistics.median(runs) / arguments.transactions * 1e6
            for name, runs in seconds.items()
        }
        added = per["after"] - per["before"]
        print(
            json.dumps(
                {
                    "transactions": arguments.transactions,
                    "batch": arguments.batch,
                    "rounds": arguments.rounds,
                    "opening_a_case_and_an_event": "1 in 10",
                    "queues": [q["name"] for q in QUEUES if routed] + ["default"],
                    "measured": "the storing thread's CPU time, median of the rounds",
                    "before_us_per_transaction": round(per["before"], 2),
                    "after_us_per_transaction": round(per["after"], 2),
                    "added_us_per_transaction": round(added, 2),
                    "added_us_per_case": round(added * 10, 1),
                    "runs_s": {name: [round(s, 3) for s in runs] for name, runs in seconds.items()},
                    "wrote": wrote,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
