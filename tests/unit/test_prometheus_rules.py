"""ops/prometheus and ops/grafana against promtool and the service: the rules and their unit
tests pass promtool, every metric they or the dashboard name is one the service exports
(or a recording rule defined here, or Prometheus' own `up`), and every alert has a runbook."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fraud.adapters.prometheus.metrics import PrometheusMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "ops" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
DASHBOARD = ROOT / "ops" / "grafana" / "fraud-dashboard.json"
# Series Prometheus makes itself for each target, not the service.
PROMETHEUS_OWN = {"up"}
# Each metric type's series, as prometheus-client names them in the text format.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def promtool() -> str:
    """promtool, from Debian's prometheus package (`make system-deps` installs it): a CI run
    without it fails, a developer's run says how to get it."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is missing: `make system-deps` installs Debian's prometheus package")
    pytest.skip("promtool is missing: `make system-deps` (or apt-get install prometheus)")


def exported_series() -> set[str]:
    """Every series name the service's registry can export."""
    names = set()
    for family in PrometheusMetrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def rules() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def metric_names(expression: str) -> set[str]:
    """The metric and recording-rule names a PromQL expression reads."""
    text = re.sub(r"\$\{?\w+\}?", "", expression)  # Grafana's variables ($__rate_interval)
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", text)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name, rest = match.group(0), text[match.end() :]
        if name.lower() in PROMQL_WORDS or re.match(r"\s*\(", rest):
            continue  # a keyword, a function or an aggregation
        if re.fullmatch(r"[0-9.eE+-]+", name) or re.match(r"[0-9]", text[match.start() - 1 :]):
            continue
        names.add(name)
    return names


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_promtool_passes_the_rules() -> None:
    checked = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_passes_the_rules_unit_tests() -> None:
    assert RULE_TESTS
    tested = subprocess.run(
        [promtool(), "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        cwd=PROMETHEUS / "tests",
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_passes_the_example_configuration(tmp_path: Path) -> None:
    shutil.copy(PROMETHEUS / "prometheus.yml", tmp_path)
    shutil.copytree(PROMETHEUS / "rules", tmp_path / "rules")
    (tmp_path / "metrics.key").write_text("a key of the metrics role\n")
    checked = subprocess.run(
        [promtool(), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_rules_and_the_dashboard_read_is_exported() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = exported_series() | recorded | PROMETHEUS_OWN
    read = {
        source: metric_names(expression)
        for source, expression in [
            (rule.get("record") or rule["alert"], rule["expr"]) for rule in rules()
        ]
        + [(f"dashboard: {expr}", expr) for expr in dashboard_expressions()]
    }

    unknown = {source: sorted(names - known) for source, names in read.items() if names - known}

    assert not unknown, f"metrics nobody exports: {unknown}"
    assert set().union(*read.values()) >= {
        "fraud_end_to_end_latency_seconds_bucket",
        "fraud_submit_requests_total",
        "fraud_consumer_lag",
        "fraud_dead_letters_total",
        "fraud_drift_psi",
    }


def test_the_name_reader_finds_metrics_and_skips_the_language() -> None:
    expression = (
        'sum by (le) (rate(fraud_x_bucket{le="0.05", job=~"a|b"}[5m] offset 1h)) '
        "/ on() group_left() max(fraud:y:max) > 14.4 * 0.01 and up == bool 1e3"
    )
    assert metric_names(expression) == {"fraud_x_bucket", "fraud:y:max", "up"}


def test_every_alert_names_a_runbook_that_exists_and_a_severity() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert alerts
    for alert in alerts:
        runbook = alert["annotations"]["runbook_url"]
        assert (ROOT / runbook).is_file(), f"{alert['alert']}: no runbook at {runbook}"
        assert alert["labels"]["severity"] in {"page", "ticket", "warning"}
        assert alert["alert"] in (ROOT / runbook).read_text(), f"{runbook} never names it"
