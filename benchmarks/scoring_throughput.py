"""How fast does a batch get scored? Behaviour features plus one model call, as the stream does.

Replays simulated transactions in time order through ``BehaviourProfiles`` (the
preprocess stage's state) and the saved model (the score stage's call), batch
by batch, and reports the sustained rate and the per-batch latency for batches
of 1 and of 500.

    python benchmarks/scoring_throughput.py --model-dir var/model --samples 200000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
import zlib
from pathlib import Path

from fraud.adapters.simulation.simulator import simulate
from fraud.adapters.tensorflow.store import KerasModelStore
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import FraudModel
from fraud.domain.transaction import Transaction


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(transactions: list[Transaction], model: FraudModel, batch_size: int) -> dict[str, float]:
    """Features then scores, one batch at a time; returns the rate and latency percentiles."""
    profiles = BehaviourProfiles()
    feature_seconds = model_seconds = 0.0
    latencies: list[float] = []
    started = time.perf_counter()
    for start in range(0, len(transactions), batch_size):
        batch = transactions[start : start + batch_size]
        t0 = time.perf_counter()
        vectors = profiles.observe(batch)
        t1 = time.perf_counter()
        model.score(vectors)
        t2 = time.perf_counter()
        feature_seconds += t1 - t0
        model_seconds += t2 - t1
        latencies.append(t2 - t0)
    elapsed = time.perf_counter() - started
    count = len(transactions)
    return {
        "batch_size": batch_size,
        "transactions": count,
        "transactions_per_s": count / elapsed,
        "features_us_per_txn": feature_seconds / count * 1e6,
        "model_us_per_txn": model_seconds / count * 1e6,
        "batch_latency_p50_ms": statistics.median(latencies) * 1e3,
        "batch_latency_p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def _partition_worker(
    model_dir: Path,
    transactions: list[Transaction],
    start_together: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue,
) -> None:
    model = KerasModelStore(model_dir).load()
    model.score(BehaviourProfiles().observe(transactions[:500]))  # warm up, then start together
    start_together.wait()
    started = time.perf_counter()
    run(transactions, model, 500)
    results.put((len(transactions), started, time.perf_counter()))


def run_partitioned(
    model_dir: Path, transactions: list[Transaction], processes: int
) -> dict[str, float]:
    """Users split over processes by key hash, as Kafka splits them over workers."""
    shares: list[list[Transaction]] = [[] for _ in range(processes)]
    for transaction in transactions:
        shares[zlib.crc32(transaction.user_id.encode()) % processes].append(transaction)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_partition_worker, args=(model_dir, share, barrier, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    wall = max(end for _, _, end in reports) - min(start for _, start, _ in reports)
    return {
        "processes": processes,
        "transactions": len(transactions),
        "transactions_per_s": len(transactions) / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("var/model"))
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--single-samples", type=int, default=5_000, help="rows for batch size 1")
    parser.add_argument("--processes", type=int, default=2, help="also run users split over N")
    parser.add_argument("--out", type=Path, default=Path("var/bench/scoring_throughput.json"))
    args = parser.parse_args(argv)

    model = KerasModelStore(args.model_dir).load()
    transactions = [example.transaction for example in simulate(args.samples, seed=5)]
    model.score(BehaviourProfiles().observe(transactions[:500]))  # warm up
    results = [
        run(transactions, model, 500),
        run(transactions[: args.single_samples], model, 1),
    ]
    print(f"model {model.info.version}")
    print(
        f"{'batch':>6} {'tx/s':>10} {'features µs':>12} {'model µs':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for row in results:
        print(
            f"{row['batch_size']:>6} {row['transactions_per_s']:>10,.0f} "
            f"{row['features_us_per_txn']:>12.1f} {row['model_us_per_txn']:>9.1f} "
            f"{row['batch_latency_p50_ms']:>8.3f} {row['batch_latency_p99_ms']:>8.3f}"
        )
    partitioned = None
    if args.processes > 1:
        partitioned = run_partitioned(args.model_dir, transactions, args.processes)
        print(
            f"batches of 500, users split over {args.processes} processes: "
            f"{partitioned['transactions_per_s']:,.0f} tx/s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"model_version": model.info.version, "results": results, "partitioned": partitioned},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
