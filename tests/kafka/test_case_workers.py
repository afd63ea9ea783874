"""Cases, lists and webhooks on Kafka workers, as processes: a review opens exactly one case
though a record worker stores every verdict a second time (the fused worker's fraud-results
redelivered), two analysts claiming one case at once through `fraud serve` get one 200 and
one 409, the workers send every decline to a receiver, and a list entry added through the
API declines the card's next transaction within two seconds on workers already running."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fraud.adapters.kafka.bus import KafkaBus
from fraud.domain.identity import Role
from fraud.domain.ports import Topic
from fraud.domain.webhooks import EventType, event_id, verify
from tests.e2e.test_cases_service import (
    LIST_PROPAGATION_S,
    RULES,
    add_rules,
    all_scored,
    cases_by_transaction,
    purchases,
    submit,
    until,
)
from tests.e2e.test_rules_service import send, verdict
from tests.kafka.conftest import wait_until
from tests.postgres import BACKENDS
from tests.processes import FRAUD, calling_as, start_service, stop_service
from tests.receiver import receiving

RECEIVERS_ALLOWED = {
    "FRAUD_WEBHOOK_PRIVATE_ADDRESSES": "allow",
    "FRAUD_WEBHOOK_FIRST_RETRY_S": "0.2",
}


def serve(tmp_path, small_model, workers, **env: str):
    """`fraud serve` on the workers' broker, topics and database."""
    settings = {name: value for name, value in workers.env.items() if name.startswith("FRAUD_")}
    return start_service(tmp_path, small_model, command="serve", **{**settings, **env})


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_a_review_opens_one_case_though_its_verdict_is_recorded_twice(
    workers, kafka_bootstrap, prefix, small_model, tmp_path
) -> None:
    workers.env.update(RECEIVERS_ALLOWED)
    workers.start()
    # A record worker of its own group reads fraud-results, which the fused worker wrote
    # after storing each verdict: every verdict comes to a record stage a second time.
    recording = subprocess.Popen(
        [FRAUD, "worker", "--stage", "record", "--group", workers.group],
        env=workers.env,
        stdout=(tmp_path / "record-worker.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    with receiving() as receiver:
        service = serve(tmp_path, small_model, workers, **RECEIVERS_ALLOWED)
        try:
            add_rules(service, *RULES)
            subscribed = service.client(Role.ADMIN).post(
                f"{service.url}/api/webhooks",
                json={"url": receiver.url, "events": ["decision.decline"]},
                timeout=10,
            )
            assert subscribed.status_code == 201, subscribed.text
            secret = subscribed.json()["secret"]
            sent = purchases(f"kafka-{uuid.uuid4().hex[:4]}", 45)
            submit(service, sent)
            verdicts = all_scored(service, [t["transaction_id"] for t in sent], timeout=120)
            bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix, client_id="tests")
            try:
                wait_until(
                    lambda: bus.lag(f"{workers.group}-record", Topic.RESULTS) == 0,
                    120,
                    "the record worker to read every verdict again",
                )
            finally:
                bus.close()
            reviewed = {i for i, v in verdicts.items() if v["decision"] == "review"}
            declined = {i for i, v in verdicts.items() if v["decision"] == "decline"}
            opened = cases_by_transaction(service)
            ours = {t["transaction_id"] for t in sent}  # not add_rules' probe
            assert {i: len(found) for i, found in opened.items() if i in ours} == dict.fromkeys(
                reviewed, 1
            )

            expected = {event_id(EventType.DECISION_DECLINE, i) for i in declined}
            delivered = until(
                lambda: (found := receiver.delivered()).keys() >= expected and found,
                60,
                "not every decline reached the receiver",
                service,
            )
            assert delivered.keys() == expected
            now = int(time.time())
            assert all(verify(secret, r.signature, r.body, now) for r in delivered.values())

            other = service.client(Role.ADMIN).post(
                f"{service.url}/api/keys",
                json={"name": f"second-{uuid.uuid4().hex[:6]}", "role": "analyst"},
                timeout=10,
            )
            analysts = [service.client(Role.ANALYST), calling_as(other.json()["key"])]
            for case in [found[0] for found in opened.values()][:5]:
                start = threading.Barrier(2)

                def claim(http: requests.Session, case_id: int = case["id"], start=start) -> int:
                    start.wait()
                    answer = http.post(f"{service.url}/api/cases/{case_id}/claim", timeout=10)
                    return answer.status_code

                with ThreadPoolExecutor(2) as pool:
                    assert sorted(pool.map(claim, analysts)) == [200, 409]
        finally:
            stop_service(service)
            recording.terminate()
            recording.wait(timeout=30)


def test_a_list_entry_reaches_workers_already_running_within_two_seconds(
    workers, small_model, tmp_path
) -> None:
    workers.start()
    service = serve(tmp_path, small_model, workers)
    try:
        card = f"mallory-{uuid.uuid4().hex[:6]}"
        assert verdict(service, send(service, card)[0], timeout=120)["decision"] != "decline"
        analyst = service.client(Role.ANALYST)
        assert analyst.post(f"{service.url}/api/lists", json={"name": "blocked_cards"}).ok
        rule = {
            "name": "blocked-cards",
            "expression": "tx.user_id in lists.blocked_cards",
            "action": "decline",
            "reason": "the card is blocked",
        }
        added = analyst.post(f"{service.url}/api/rules", json=rule)
        assert added.status_code == 201, added.text
        in_force = added.json()["rule_set_version"]
        ruled = until(  # the workers evaluate the rule (on an empty list: it hits nothing)
            lambda: (
                (found := verdict(service, send(service, card)[0])).get("rules_version", 0)
                >= in_force
                and found
            ),
            30,
            "the rule never reached the workers",
            service,
        )
        assert ruled["decision"] != "decline"

        entry = {"value": card, "reason": "card reported stolen"}
        listed = analyst.post(f"{service.url}/api/lists/blocked_cards/entries", json=entry)
        changed = time.monotonic()
        assert listed.status_code == 201, listed.text
        while True:
            transaction_id, sent_at = send(service, card)
            found = verdict(service, transaction_id)
            if found["decision"] == "decline":
                break
            assert sent_at - changed < LIST_PROPAGATION_S + 3, f"still not declined: {found}"
            time.sleep(0.2)
        assert sent_at - changed <= LIST_PROPAGATION_S
        assert found["reasons"][0] == "the card is blocked"
        assert all(process.poll() is None for process in workers.processes)  # no restart
    finally:
        stop_service(service)
