"""A rule added through `fraud serve`'s API reaches `fraud worker` processes already running
on Kafka within seconds, with no restart: the next matching transaction is declined by it,
and disabling it hands the decision back to the model."""

from __future__ import annotations

import time

import pytest

from fraud.domain.identity import Role
from tests.e2e.test_rules_service import (
    CORNER,
    PROPAGATION_S,
    add_and_see_it_decline,
    first_ruled,
    model_alone,
    send,
    verdict,
)
from tests.kafka.conftest import DEFAULT_GROUPS, serve_on_kafka
from tests.processes import stop_service


@pytest.mark.xdist_group(DEFAULT_GROUPS)  # one test at a time in the default groups
def test_a_rule_reaches_workers_that_were_already_running(
    kafka_bootstrap, prefix, workers, database, small_model, tmp_path
) -> None:
    workers.group = "fraud"
    workers.start()
    service = serve_on_kafka(tmp_path, small_model, kafka_bootstrap, prefix, database)
    try:
        before = verdict(service, send(service, "kim")[0], timeout=90)  # workers are up
        assert before["decision"] == model_alone(service, before) != "decline"

        analyst = service.client(Role.ANALYST)
        added, ruled = add_and_see_it_decline(service, analyst, "kim")
        assert ruled["reasons"][0] == CORNER["reason"]
        assert ruled["rules_version"] == added.json()["rule_set_version"]

        assert analyst.delete(f"{service.url}/api/rules/{CORNER['name']}").status_code == 200
        restored, after_s = first_ruled(
            service, "kim", time.monotonic(), lambda found: "rule_hits" not in found
        )
        assert after_s <= PROPAGATION_S
        assert restored["decision"] == model_alone(service, restored)
        assert all(process.poll() is None for process in workers.processes)  # no restart
    finally:
        stop_service(service)
