"""What ``fraud bench`` prints: the scaling table (workers by database, with the gain over
one), the HTTP runs read from wrk, and the cost by users."""

from __future__ import annotations

import pytest

from fraud.bench.harness import BenchError
from fraud.bench.http import parse_result
from fraud.bench.report import http_lines, scaling_table, users_lines


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
    lines = scaling_table(runs)
    assert lines[1] == "scaling on 12 partitions (tx/s, x one worker)"
    assert lines[2].split() == ["workers", "sqlite", "postgresql"]
    assert lines[3].split() == ["1", "4,000", "(1.00x)", "3,000", "(1.00x)"]
    assert lines[4].split() == ["2", "7,000", "(1.75x)", "5,100", "(1.70x)"]
    assert lines[5].split() == ["4", "7,200", "(1.80x)", "-"]


def test_one_worker_count_makes_no_table() -> None:
    assert scaling_table({"workers_1": run(1, "sqlite", 4_000)}) == []


def test_a_plain_producers_runs_get_a_column_of_their_own() -> None:
    runs = {
        "workers_1": run(1, "sqlite", 4_000),
        "workers_2": run(2, "sqlite", 7_000),
        "kcat_workers_1": {**run(1, "sqlite", 2_000), "path": "kcat"},
        "kcat_workers_2": {**run(2, "sqlite", 3_000), "path": "kcat"},
    }
    lines = scaling_table(runs)
    assert lines[2].split() == ["workers", "sqlite", "sqlite", "(kcat)"]
    assert lines[4].split() == ["2", "7,000", "(1.75x)", "3,000", "(1.50x)"]


WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:5000
  2 threads and 200 connections
answers: 900 with the verdict (200), 100 pending (202), 2 other
p50: 12.0 ms
RESULT {"requests":1002,"seconds":5.010,"decided":900,"pending":100,"other":2,\
"socket_errors":1,"timeouts":0,"max_ms":480.00,"p50":12.00,"p90":30.00,"p99":95.50,\
"p99_9":300.00}
"""


def test_the_wrk_scripts_result_line_gives_the_rates_reached() -> None:
    figures = parse_result(WRK_OUTPUT)
    assert figures["per_s"] == 200  # 1,002 requests in 5.01 s
    assert figures["accepted_per_s"] == 200  # 1,000 answered 200 or 202
    assert (figures["decided"], figures["pending"], figures["p99"]) == (900, 100, 95.5)


def test_wrk_output_without_a_result_line_is_an_error_that_shows_it() -> None:
    with pytest.raises(BenchError, match="no result line"):
        parse_result("unable to connect to 127.0.0.1:5000 Connection refused\n")


def test_the_http_lines_say_how_many_waited_answers_carried_the_verdict() -> None:
    waited = {**parse_result(WRK_OUTPUT), "connections": 200, "offered_per_s": 1000}
    ingest = {**parse_result(WRK_OUTPUT), "connections": 16, "offered_per_s": None}
    lines = http_lines(
        {
            "workers": 2,
            "server": "fraud serve (defaults)",
            "ingest": {**ingest, "wait_ms": None},
            "waited": {**waited, "wait_ms": 500},
        }
    )
    assert "POST, unpaced" in lines[2] and "1,000 accepted" in lines[2]
    assert "1,000/s offered" in lines[3]
    assert "900 decided in time (200), 100 pending (202)" in lines[3]
    assert http_lines({"skipped": "wrk is not installed"})[1] == (
        "http: skipped (wrk is not installed)"
    )


def test_the_users_lines_compare_the_most_users_with_the_fewest() -> None:
    def users_run(users: int, per_s: int, per_user: int) -> dict:
        rss = {"started": 1000.0, "users_met": 1000.0 + users * per_user / 2**20}
        return {
            "users": users,
            "per_s": per_s,
            "workers_rss_mb": rss,
            "rss_bytes_per_user": per_user,
        }

    lines = users_lines(
        {
            "runs": [users_run(10_000, 3_000, 9_000), users_run(1_000_000, 2_850, 2_500)],
            "state_bytes_per_user": {"1_events": 1_800, "10_events": 2_400},
            "ratio": 0.95,
        }
    )
    assert lines[2].split()[:4] == ["10,000", "users", "3,000", "tx/s"]
    assert "= 2,500 B/user;" in lines[3]
    assert lines[4] == "  most users / fewest: 0.95x the throughput"
    assert lines[5] == "  feature state per user: 1,800 B with one purchase, 2,400 B with ten"
