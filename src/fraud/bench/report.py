"""What ``fraud bench`` prints: the figures as a table, with the 20,000 tx/s target beside
them; the scaling by workers, the latency runs (with their p99 by second of sending), the
HTTP runs, the cost by users, the replay and the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGET_PER_S = 20_000


def format_report(results: dict[str, Any]) -> str:
    """The figures as a table, with the 20,000 tx/s target beside them."""
    runs = results["runs"]
    lines = [f"{'measurement':<40}{'tx/s':>10}{'steady tx/s':>13}{'seconds':>9}  notes"]
    lines.extend(ceiling_lines(runs.get("ceiling")))
    throughput = throughput_runs(runs)
    lines.extend(map(_throughput_line, throughput))
    lines.extend(scaling_table(runs))
    for key, run in runs.items():
        if key.startswith("latency"):
            lines.extend(latency_lines(run))
    lines.extend(http_lines(runs.get("http")))
    lines.extend(users_lines(runs.get("users")))
    lines.extend(replay_lines(runs.get("replay")))
    lines.extend(_target_lines(throughput))
    lines.extend(profile_lines(runs.get("profile")))
    return "\n".join(lines)


def throughput_runs(runs: dict[str, Any]) -> list[dict[str, Any]]:
    return [run for key, run in runs.items() if "workers_" in key and "per_s" in run]


def ceiling_lines(ceiling: dict[str, Any] | None) -> list[str]:
    if not ceiling:
        return []
    lines = [
        f"{'broker produce (KafkaBus.publish)':<40}{ceiling['produce_per_s']:>10,}"
        f"{'':>13}{ceiling['produce_s']:>9.2f}  {ceiling['message_bytes_avg']} B/msg"
    ]
    if "kcat_produce_per_s" in ceiling:
        lines.append(
            f"{'broker produce (kcat, plain JSON)':<40}{ceiling['kcat_produce_per_s']:>10,}"
            f"{'':>13}{ceiling['kcat_produce_s']:>9.2f}  the offered load's ceiling"
        )
    lines.append(
        f"{'broker consume (plain consumer)':<40}{ceiling['consume_per_s']:>10,}"
        f"{'':>13}{ceiling['consume_s']:>9.2f}"
    )
    lines.append(
        f"{'broker round trip (concurrent)':<40}{ceiling['round_trip_per_s']:>10,}"
        f"{'':>13}{ceiling['round_trip_s']:>9.2f}  "
        f"pipeline crosses it 3x: <= {ceiling['pipeline_bound_per_s']:,}/s"
    )
    return lines


def _throughput_line(run: dict[str, Any]) -> str:
    steady = f"{run['steady_per_s']:,}" if run["steady_per_s"] else "-"
    status = "" if run["completed"] else f"INCOMPLETE {run['stored']}/{run['transactions']} "
    label = f"pipeline {run.get('path', 'api')}, {run['workers']} worker(s), " + run.get(
        "database", "sqlite"
    )
    return (
        f"{label:<40}{run['per_s']:>10,}"
        f"{steady:>13}{run['seconds']:>9.2f}  {status}busy "
        f"{run['cpu']['machine_busy_cores']}/{run['cpu']['cores']} cores; CPU µs/txn: "
        f"workers {run['worker_cpu_us_per_txn']}, broker {run['broker_cpu_us_per_txn']}"
        + _disturbance(run["cpu"])
    )


def _disturbance(usage: dict[str, Any]) -> str:
    """A note when something outside the benchmark took a noticeable share of the machine."""
    if usage["other_cpu_s"] < 0.1 * usage["wall_s"] * usage["cores"]:
        return ""
    names = ", ".join(usage["busiest_others"]) or "unnamed"
    return f"; DISTURBED: {usage['other_cpu_s']} CPU-s by others ({names})"


def _column(run: dict[str, Any]) -> str:
    database = run.get("database", "sqlite")
    return database if run.get("path", "api") == "api" else f"{database} ({run['path']})"


def scaling_table(runs: dict[str, Any]) -> list[str]:
    """Transactions a second by worker count (rows) and path and database (columns), with
    the gain over one worker: where the curve bends."""
    throughput = throughput_runs(runs)
    columns = list(dict.fromkeys(_column(run) for run in throughput))
    counts = sorted({run["workers"] for run in throughput})
    if len(counts) < 2:
        return []
    figures = {(_column(run), run["workers"]): run["per_s"] for run in throughput}
    lines = [
        "",
        f"scaling on {throughput[0].get('partitions', '?')} partitions (tx/s, x one worker)",
    ]
    lines.append(f"{'workers':>8}" + "".join(f"{column:>22}" for column in columns))
    for count in counts:
        cells = []
        for column in columns:
            per_s, one = figures.get((column, count)), figures.get((column, counts[0]))
            gain = f" ({per_s / one:.2f}x)" if per_s and one else ""
            cells.append(f"{per_s:,}{gain}" if per_s is not None else "-")
        lines.append(f"{count:>8}" + "".join(f"{cell:>22}" for cell in cells))
    return lines


def latency_lines(latency: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"latency at {latency['offered_per_s']:,}/s offered ({latency['achieved_per_s']:,}/s "
        f"sent as plain JSON, {latency['workers']} worker(s), {latency['stored']:,}/"
        f"{latency['transactions']:,} stored):",
    ]
    for label, key in (
        ("received -> scored", "received_to_scored_ms"),
        ("received -> recorded", "received_to_stored_ms"),
    ):
        figures = latency[key]
        if figures:
            lines.append(
                f"  {label:<20} p50 {figures['p50']:>7.1f} ms  p95 {figures['p95']:>7.1f} ms"
                f"  p99 {figures['p99']:>7.1f} ms  p99.9 {figures.get('p99_9', 0):>7.1f} ms"
                f"  max {figures['max']:>7.1f} ms"
            )
    timeline = latency.get("received_to_stored_ms_by_second") or []
    if timeline:
        # Per second of sending, so a stall shows instead of being averaged away.
        lines.append("  received -> recorded, p99 by second of sending (ms):")
        cells = [
            f"{s['second']:>3}s " + (f"{s['p99']:>7.1f}" if "p99" in s else "      -")
            for s in timeline
        ]
        for start in range(0, len(cells), 6):
            lines.append("    " + "   ".join(cells[start : start + 6]))
    return lines


def http_lines(http: dict[str, Any] | None) -> list[str]:
    if not http:
        return []
    if "skipped" in http:
        return ["", f"http: skipped ({http['skipped']})"]
    lines = ["", f"http ({http['server']}, {http['workers']} worker(s)), measured with wrk:"]
    for name, label in (
        ("ingest", "POST, unpaced"),
        ("ingest_paced", "POST, paced"),
        ("waited", "POST ?wait, paced"),
    ):
        run = http.get(name)
        if not run:
            continue
        offered = f"{run['offered_per_s']:,}/s offered" if run["offered_per_s"] else "unpaced"
        outcome = (
            f"{run['decided']:,} decided in time (200), {run['pending']:,} pending (202)"
            if run["wait_ms"]
            else f"{run['pending'] + run['decided']:,} accepted"
        )
        lines.append(
            f"  {label:<20} {run['connections']:>4} conns, {offered:<16} {run['per_s']:>7,} req/s"
            f"  p50 {run['p50']:>7.1f} ms  p99 {run['p99']:>7.1f} ms  p99.9 {run['p99_9']:>7.1f} ms"
            f"  {outcome}, {run['other']:,} other, {run['socket_errors'] + run['timeouts']:,} "
            "socket errors"
        )
    return lines


def users_lines(users: dict[str, Any] | None) -> list[str]:
    if not users:
        return []
    lines = ["", "cost by users (kcat, each user met once first, then timed):"]
    for run in users["runs"]:
        rss = run["workers_rss_mb"]
        lines.append(
            f"  {run['users']:>10,} users  {run['per_s']:>7,} tx/s  workers' memory "
            f"{rss['started']:,} -> {rss['users_met']:,} MB = {run['rss_bytes_per_user']:,} B/user;"
            f" CPU µs/txn: workers {run.get('worker_cpu_us_per_txn')}, "
            f"broker {run.get('broker_cpu_us_per_txn')}"
            + (_disturbance(run["cpu"]) if "cpu" in run else "")
        )
    if users["ratio"] is not None and len(users["runs"]) > 1:
        lines.append(f"  most users / fewest: {users['ratio']:.2f}x the throughput")
    state = users["state_bytes_per_user"]
    lines.append(
        f"  feature state per user: {state['1_events']:,} B with one purchase, "
        f"{state['10_events']:,} B with ten"
    )
    return lines


def replay_lines(replay: dict[str, Any] | None) -> list[str]:
    if not replay:
        return []
    return [
        "",
        f"replay (fraud score, {replay['processes']} processes): {replay['rows']:,} rows in "
        f"{replay['seconds_after_startup']:.2f}s after {replay['startup_s']:.2f}s of start-up"
        f" = {replay['rows_per_s']:,} rows/s",
    ]


def _target_lines(throughput: list[dict[str, Any]]) -> list[str]:
    best = max((run["per_s"] for run in throughput), default=None)
    if best is None:
        return []
    verdict = "meets" if best >= TARGET_PER_S else "is below"
    return ["", f"best pipeline figure {best:,} tx/s {verdict} the {TARGET_PER_S:,} tx/s target"]


def profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    return ["", profile["summary_text"], f"(full profile: {Path(profile['files'][0]).parent})"]
