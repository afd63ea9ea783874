"""The scaling table ``fraud bench`` prints: workers by database, with the gain over one."""

from __future__ import annotations

from fraud.bench.pipeline import _scaling_table


def run(workers: int, database: str, per_s: int) -> dict:
    return {"workers": workers, "database": database, "partitions": 12, "per_s": per_s}


def test_the_table_puts_each_database_in_a_column_and_shows_where_the_curve_bends() -> None:
    runs = {
        "workers_1": run(1, "sqlite", 4_000),
        "workers_2": run(2, "sqlite", 7_000),
        "workers_4": run(4, "sqlite", 7_200),
        "workers_1_postgresql": run(1, "postgresql", 3_000),
        "workers_2_postgresql": run(2, "postgresql", 5_100),
        "latency": {"p99": 1.0},
    }
    lines = _scaling_table(runs)
    assert lines[1] == "scaling on 12 partitions (tx/s, x one worker)"
    assert lines[2].split() == ["workers", "sqlite", "postgresql"]
    assert lines[3].split() == ["1", "4,000", "(1.00x)", "3,000", "(1.00x)"]
    assert lines[4].split() == ["2", "7,000", "(1.75x)", "5,100", "(1.70x)"]
    assert lines[5].split() == ["4", "7,200", "(1.80x)", "-"]


def test_one_worker_count_makes_no_table() -> None:
    assert _scaling_table({"workers_1": run(1, "sqlite", 4_000)}) == []


def test_a_plain_producers_runs_get_a_column_of_their_own() -> None:
    runs = {
        "workers_1": run(1, "sqlite", 4_000),
        "workers_2": run(2, "sqlite", 7_000),
        "kcat_workers_1": {**run(1, "sqlite", 2_000), "path": "kcat"},
        "kcat_workers_2": {**run(2, "sqlite", 3_000), "path": "kcat"},
    }
    lines = _scaling_table(runs)
    assert lines[2].split() == ["workers", "sqlite", "sqlite", "(kcat)"]
    assert lines[4].split() == ["2", "7,000", "(1.75x)", "3,000", "(1.50x)"]
