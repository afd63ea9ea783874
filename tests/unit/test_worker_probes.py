"""A worker's probes: /health says starting until every stage is warm and settled on its
partitions, ready after; /metrics answers a metrics key only."""

from __future__ import annotations

from werkzeug.test import Client

from fraud.domain.identity import Role
from fraud.entrypoints.worker_probes import Probes
from tests.identities import issue_keys


def test_health_is_ready_once_the_stages_hold_their_partitions(embedded) -> None:
    pipeline = embedded.pipeline()
    probes = Client(Probes(pipeline, embedded.authenticate(), embedded.metrics().exposition))
    starting = probes.get("/health")
    assert (starting.status_code, starting.json) == (503, {"status": "starting"})
    for runner in pipeline.runners:
        runner.run_once()  # the first loop takes the partitions
    assert probes.get("/health").status_code == 503
    for runner in pipeline.runners:
        runner.run_once()  # the next one has settled on them (a paced stage said which idle)
    ready = probes.get("/health")
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})
    assert ready.headers["Cache-Control"] == "no-store"
    assert pipeline.settled() == 1
    pipeline.close()


def test_metrics_answer_a_metrics_key_only(embedded) -> None:
    keys = issue_keys(embedded)
    probes = Client(
        Probes(embedded.pipeline(), embedded.authenticate(), embedded.metrics().exposition)
    )
    assert probes.get("/metrics").status_code == 401
    submitter = {"Authorization": f"Bearer {keys[Role.SUBMITTER]}"}
    assert probes.get("/metrics", headers=submitter).status_code == 403
    scraped = probes.get("/metrics", headers={"Authorization": f"Bearer {keys[Role.METRICS]}"})
    assert scraped.status_code == 200
    assert b"fraud_messages_total" in scraped.data or b"# HELP" in scraped.data
    assert probes.post("/health").status_code == 405
    assert probes.get("/elsewhere").status_code == 404
    embedded.pipeline().close()
