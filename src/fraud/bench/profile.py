"""Where one worker's time goes: each stage in this process, profiled, over pre-produced data.

Run as a child process by ``fraud.bench.phases.profile`` (``python -m
fraud.bench.profile``), so that its logging, model and Kafka
clients are set up exactly as in a ``fraud worker`` and the parent's own work
does not show up in the profile.

The stages run one after another on this thread, each draining the whole topic
before the next starts: every poll then finds a full batch waiting, so what is
measured is the stage's work plus its real waits on Kafka (the flush for acks,
the synchronous commit), not idle polling. There are two passes over two
copies of the same messages: a plain one, whose wall and thread-CPU times per
transaction are honest, and one under cProfile for the breakdown. cProfile
slows pure-Python calls down (often 1.5-2x), so its microseconds are read as
shares of the stage and scaled to the plain pass's time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.kafka.consumer import KafkaMessageConsumer, to_domain
from fraud.adapters.numpy.model import NumpyFraudModel
from fraud.adapters.serialization.json import JsonSerializer
from fraud.adapters.sqlalchemy.repository import SqlVerdictRepository
from fraud.adapters.sqlalchemy.rows import to_row
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWork
from fraud.adapters.sqlalchemy.upserts import insert_or_fill
from fraud.application.stream.envelopes import Envelopes
from fraud.application.stream.pipeline import STAGES, consumer_group
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.score import ScoreStage, assess
from fraud.application.stream.stage import StageRunner
from fraud.containers import Process, bootstrap
from fraud.domain.features import BehaviourProfiles, FeatureVector
from fraud.domain.identity import Actor
from fraud.domain.policy import ScoringPolicy
from fraud.domain.transaction import Transaction, format_instant, parse_instant
from fraud.logs import configure_logging
from fraud.settings import Settings

STAGE_TIMEOUT_S = 300.0
PROFILER = Actor("bench:profile", "fraud bench")  # who registers the model, in the audit log
StageTimings = dict[str, dict[str, Any]]  # per stage: messages, wall_s, thread_cpu_s, profiler
_PRODUCER_METHOD = "<method '{}' of 'cimpl.Producer' objects>"


@dataclass(frozen=True, slots=True)
class Component:
    """A named cost: a function of ours (matched by its code object) or a C method (by name)."""

    label: str
    function: Callable[..., Any] | None = None
    builtin: str | None = None
    depth: int = 0

    def key(self) -> tuple[str, int, str] | None:
        if self.function is None:
            return None
        code = self.function.__code__
        return (code.co_filename, code.co_firstlineno, code.co_name)


def _structlog_info() -> Callable[..., Any]:
    from structlog.stdlib import BoundLogger

    return BoundLogger.info


# Class methods are profiled under their underlying functions.
_PARSE: Callable[..., Any] = Transaction.parse.__func__  # type: ignore[attr-defined]
_FROM_DICT: Callable[..., Any] = FeatureVector.from_dict.__func__  # type: ignore[attr-defined]

COMPONENTS: tuple[Component, ...] = (
    Component("stage loop (run_once), total", StageRunner.run_once),
    Component("kafka consume (poll_batch)", KafkaMessageConsumer.poll_batch, depth=1),
    Component("to_domain (message conversion)", to_domain, depth=2),
    Component("stage.handle", PreprocessStage.handle, depth=1),
    Component("stage.handle", ScoreStage.handle, depth=1),
    Component("stage.handle", RecordStage.handle, depth=1),
    Component("read_transaction", Envelopes.read_transaction, depth=2),
    Component("read_preprocessed", Envelopes.read_preprocessed, depth=2),
    Component("read_result", Envelopes.read_result, depth=2),
    Component("json decode (Envelopes.decode)", Envelopes.decode, depth=3),
    Component("Transaction.parse", _PARSE, depth=3),
    Component("parse_instant", parse_instant, depth=3),
    Component("FeatureVector.from_dict", _FROM_DICT, depth=3),
    Component("features (BehaviourProfiles.observe)", BehaviourProfiles.observe, depth=2),
    Component("assess (model + policy)", assess, depth=2),
    Component("model call (NumpyFraudModel.attribute)", NumpyFraudModel.attribute, depth=3),
    Component("model call (NumpyFraudModel.score)", NumpyFraudModel.score, depth=3),
    Component("policy + reasons (ScoringPolicy.assess)", ScoringPolicy.assess, depth=3),
    Component("preprocessed_message", Envelopes.preprocessed_message, depth=2),
    Component("result_message", Envelopes.result_message, depth=2),
    Component("json encode (JsonSerializer.dumps)", JsonSerializer.dumps, depth=3),
    Component("Transaction.to_dict", Transaction.to_dict, depth=3),
    Component("format_instant", format_instant, depth=3),
    Component("decide (SQL upsert)", SqlVerdictRepository.decide, depth=2),
    Component("to_row", to_row, depth=3),
    Component("insert_or_fill (the decision upsert)", insert_or_fill, depth=3),
    Component("unit of work commit", SqlUnitOfWork.commit, depth=2),
    Component("per-verdict log line (structlog info)", _structlog_info(), depth=2),
    Component("kafka publish (KafkaBus.publish)", KafkaBus.publish, depth=1),
    Component("produce() calls", builtin=_PRODUCER_METHOD.format("produce"), depth=2),
    Component("flush() wait for acks", builtin=_PRODUCER_METHOD.format("flush"), depth=2),
    Component("kafka commit (sync)", KafkaMessageConsumer.commit, depth=1),
)


def drain(settings: Settings, group: str, count: int, profile: bool) -> StageTimings:
    """Run each stage until it has handled ``count`` messages; timings (and profiles) per stage."""
    container = bootstrap(settings, Process(migrate=True))
    container.init_resources()
    container.model()
    if container.model_queries().roles().champion is None:
        # A run's registry starts empty: the model the workers score with becomes its
        # champion, as `fraud worker` makes it (else the score stage waits for one for ever).
        container.register_model().adopt(container.model_store(), PROFILER)
    bus = container.bus()
    factories: dict[str, Callable[[], Any]] = {
        "preprocess": container.preprocess_stage,
        "score": container.score_stage,
        "record": container.record_stage,
    }
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in STAGES:
            stage = factories[name]()
            runner = StageRunner(
                stage,
                bus.consumer(consumer_group(name, group), stage.topics),
                bus,
                batch_size=settings.batch_size,
                poll_timeout=settings.poll_timeout_s,
            )
            try:
                results[name] = _drain_stage(runner, count, profile)
            finally:
                runner.consumer.close()
    finally:
        container.shutdown_resources()
    return results


def _drain_stage(runner: StageRunner, count: int, profile: bool) -> dict[str, Any]:
    deadline = time.monotonic() + STAGE_TIMEOUT_S
    # The first batch pays for the group join and the first fetch: not measured.
    while runner.run_once() == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{runner.stage.name}: no message came")
    first = runner.processed
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.thread_time()
    if profiler is not None:
        profiler.enable()
    while runner.processed < count:
        runner.run_once()
        if time.monotonic() > deadline:
            break
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    measured = runner.processed - first
    return {
        "messages": measured,
        "wall_s": wall,
        "thread_cpu_s": cpu,
        "wall_us_per_txn": 1e6 * wall / max(1, measured),
        "cpu_us_per_txn": 1e6 * cpu / max(1, measured),
        "profiler": profiler,
    }


def breakdown(profiler: cProfile.Profile, plain_us_per_txn: float) -> list[dict[str, Any]]:
    """Each component's share of the stage's profiled time, as µs of the unprofiled pass."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total_key = COMPONENTS[0].key()
    profiled_total = stats[total_key][3] if total_key in stats else 0.0
    rows = []
    for component in COMPONENTS:
        calls, cumulative = _lookup(stats, component)
        if not calls:
            continue
        share = cumulative / profiled_total if profiled_total else 0.0
        rows.append(
            {
                "component": component.label,
                "depth": component.depth,
                "calls": calls,
                "profiled_s": round(cumulative, 4),
                "share": round(share, 4),
                "us_per_txn": round(share * plain_us_per_txn, 2),
            }
        )
    return rows


def _lookup(stats: dict[Any, Any], component: Component) -> tuple[int, float]:
    key = component.key()
    if key is not None:
        entry = stats.get(key)
        return (entry[1], entry[3]) if entry else (0, 0.0)
    for (_, _, name), entry in stats.items():
        if name == component.builtin:
            return entry[1], entry[3]
    return 0, 0.0


# Costs paid in more than one stage, added up to show what a transaction pays for them in all.
ACROSS_STAGES = (
    "json decode (Envelopes.decode)",
    "json encode (JsonSerializer.dumps)",
    "Transaction.parse",
    "format_instant",
    "parse_instant",
    "kafka consume (poll_batch)",
    "kafka publish (KafkaBus.publish)",
    "kafka commit (sync)",
)


def write_report(plain: StageTimings, profiled: StageTimings, out_dir: Path) -> dict[str, Any]:
    """profile.json, profile.txt (the summary, then the raw top lists), a .pstats per stage."""
    summary: dict[str, Any] = {"stages": {}}
    lines, total_wall, total_cpu = _stage_table(plain)
    across: dict[str, float] = dict.fromkeys(ACROSS_STAGES, 0.0)
    for name in STAGES:
        profiler = profiled[name]["profiler"]
        profiler.dump_stats(out_dir / f"profile-{name}.pstats")
        rows = breakdown(profiler, plain[name]["wall_us_per_txn"])
        summary["stages"][name] = {
            **{k: v for k, v in plain[name].items() if k != "profiler"},
            "components": rows,
        }
        lines += _component_lines(name, rows, across)
    lines.append("[all stages] what a transaction pays in total for costs repeated per stage")
    for label, cost in across.items():
        lines.append(f"  {label:<52}{cost:>9.1f} µs")
    summary["across_stages_us_per_txn"] = {k: round(v, 1) for k, v in across.items()}
    summary["total_wall_us_per_txn"] = round(total_wall, 1)
    summary["total_cpu_us_per_txn"] = round(total_cpu, 1)
    summary["single_core_bound_per_s"] = round(1e6 / total_wall)
    text = "\n".join(lines)
    detail = [text, ""]
    for name in STAGES:
        detail.append(f"==== {name}: top functions by cumulative time (profiled) ====")
        detail.append(_top(profiled[name]["profiler"], "cumulative", 35))
        detail.append(f"==== {name}: top functions by own time (profiled) ====")
        detail.append(_top(profiled[name]["profiler"], "tottime", 25))
    (out_dir / "profile.txt").write_text("\n".join(detail))
    summary["summary_text"] = text
    (out_dir / "profile.json").write_text(json.dumps(summary, indent=2))
    return summary


def _stage_table(plain: StageTimings) -> tuple[list[str], float, float]:
    """Each stage's wall and CPU time a transaction, unprofiled, and the totals."""
    lines = ["Per-transaction cost of one worker, stage by stage (one thread, one stage at a time)"]
    lines.append(f"{'stage':<11}{'wall µs/txn':>12}{'CPU µs/txn':>12}{'max tx/s on one core':>23}")
    total_wall = total_cpu = 0.0
    for name in STAGES:
        timing = plain[name]
        total_wall += timing["wall_us_per_txn"]
        total_cpu += timing["cpu_us_per_txn"]
        lines.append(
            f"{name:<11}{timing['wall_us_per_txn']:>12.1f}{timing['cpu_us_per_txn']:>12.1f}"
            f"{1e6 / timing['wall_us_per_txn']:>23,.0f}"
        )
    lines.append(
        f"{'all three':<11}{total_wall:>12.1f}{total_cpu:>12.1f}{1e6 / total_wall:>23,.0f}"
    )
    lines.append("")
    return lines, total_wall, total_cpu


def _component_lines(name: str, rows: list[dict[str, Any]], across: dict[str, float]) -> list[str]:
    """A stage's components, indented by depth; what repeats in every stage is added up
    in ``across``."""
    lines = [f"[{name}] cumulative cost per transaction (scaled to the unprofiled pass)"]
    for row in rows:
        if row["component"] in across:
            across[row["component"]] += row["us_per_txn"]
        indent = "  " * row["depth"]
        lines.append(
            f"  {indent + row['component']:<52}{row['us_per_txn']:>9.1f} µs"
            f"{100 * row['share']:>7.1f}%  ({row['calls']} calls)"
        )
    lines.append("")
    return lines


def _top(profiler: cProfile.Profile, order: str, limit: int) -> str:
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(order).print_stats(limit)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--plain-prefix", required=True)
    parser.add_argument("--plain-database", required=True)
    parser.add_argument("--profiled-prefix", required=True)
    parser.add_argument("--profiled-database", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--transactions", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()

    settings = replace(Settings.from_env(), broker="kafka")
    configure_logging(settings.log_format, settings.log_level)
    plain = drain(
        replace(settings, topic_prefix=args.plain_prefix, database_url=args.plain_database),
        f"{args.group}-plain",
        args.transactions,
        profile=False,
    )
    profiled = drain(
        replace(settings, topic_prefix=args.profiled_prefix, database_url=args.profiled_database),
        f"{args.group}-profiled",
        args.transactions,
        profile=True,
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_report(plain, profiled, args.out_dir)


if __name__ == "__main__":
    main()
