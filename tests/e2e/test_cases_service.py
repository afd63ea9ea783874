"""Cases, lists and webhooks under `fraud run`, as processes: every review opens exactly one
case, across a SIGKILL and transactions sent again; of two analysts claiming a case at once
one wins; a local receiver gets every decline, signed, with a stable Fraud-Event-Id,
exactly once after deduplication, across a SIGKILL of the process sending them and a
receiver that answers 500 three times first; a list entry added over the API declines the
card's next transaction within two seconds, and an expired one no longer does; a case past
its queue's SLA is counted on /metrics."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from fraud.domain.identity import Role
from fraud.domain.webhooks import EventType, event_id, verify
from tests.e2e.test_rules_service import HABIT, send, verdict
from tests.processes import Service, calling_as, start_service, stop_service
from tests.receiver import receiving

# One xdist worker runs the module, so its tests share the one `fraud run` of `desk`.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cases-desk")]

# Receivers on this machine are allowed, retried quickly, each attempt bounded to a second
# (so a sender killed mid-round leaves a lease that runs out in seconds).
WEBHOOK_ENV = {
    "FRAUD_WEBHOOK_PRIVATE_ADDRESSES": "allow",
    "FRAUD_WEBHOOK_FIRST_RETRY_S": "0.2",
    "FRAUD_WEBHOOK_TIMEOUT_S": "0.5",
}
RULES = [
    {
        "name": "review-shops",
        "expression": 'tx.merchant.startsWith("Review ")',
        "action": "review",
        "reason": "a shop under review",
    },
    {
        "name": "blocked-shop",
        "expression": 'tx.merchant == "Blocked Shop"',
        "action": "decline",
        "reason": "a shop we refuse",
    },
]
LIST_PROPAGATION_S = 2.0


def add_rules(service: Service, *rules: dict) -> None:
    """The rules added, and in force in the scoring stage (which reads them again within
    seconds): a purchase at the refused shop, on a card of its own, is declined for it (a
    decline opens no case in the default queue, so the probe adds none)."""
    analyst = service.client(Role.ANALYST)
    for rule in rules:
        answer = analyst.post(f"{service.url}/api/rules", json=rule, timeout=10)
        assert answer.status_code == 201, answer.text
    assert RULES[1] in rules, "the probe below needs the refused shop's rule"
    deadline = time.monotonic() + 30
    while True:
        probe, _ = send(service, f"probe-{uuid.uuid4().hex[:8]}", merchant="Blocked Shop")
        if RULES[1]["reason"] in verdict(service, probe)["reasons"]:
            return
        assert time.monotonic() < deadline, "the rules were not in force within 30 s"
        time.sleep(0.5)


def purchases(prefix: str, count: int) -> list[dict]:
    """Purchases at a shop under review, a refused shop and a corner grocery, in turn, seven
    minutes apart: the rules decide them, where a burst of a card's purchases in one second
    would be the model's to decline."""
    merchants = ["Review Gifts", "Blocked Shop", "Corner Grocery"]
    start = datetime.fromisoformat(HABIT["timestamp"])
    return [
        {
            **HABIT,
            "transaction_id": f"{prefix}-{n:03d}",
            "user_id": f"{prefix}-card-{n % 4}",
            "merchant": merchants[n % 3],
            "timestamp": (start + timedelta(minutes=7 * n)).isoformat(),
        }
        for n in range(count)
    ]


def submit(service: Service, sent: list[dict]) -> None:
    with service.client() as http:
        for start in range(0, len(sent), 10):
            answer = http.post(
                f"{service.url}/transactions", json={"transactions": sent[start : start + 10]}
            )
            assert answer.status_code == 200, answer.text


def all_scored(service: Service, ids: list[str], timeout: float = 60.0) -> dict[str, dict]:
    return {transaction_id: verdict(service, transaction_id, timeout) for transaction_id in ids}


def cases_by_transaction(service: Service) -> dict[str, list[dict]]:
    found = service.client(Role.VIEWER).get(
        f"{service.url}/api/cases", params={"limit": 500}, timeout=10
    )
    assert found.status_code == 200, found.text
    by_transaction: dict[str, list[dict]] = {}
    for case in found.json():
        by_transaction.setdefault(case["transaction_id"], []).append(case)
    return by_transaction


def until(condition, timeout: float, what: str, service: Service):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}:\n{service.logs()[-4000:]}")


def test_decisions_reach_a_receiver_and_open_one_case_each_across_a_kill(
    tmp_path, small_model
) -> None:
    with receiving(failures=3) as receiver:
        service = start_service(tmp_path, small_model, **WEBHOOK_ENV)
        try:
            add_rules(service, *RULES)
            made = service.client(Role.ADMIN).post(
                f"{service.url}/api/webhooks",
                json={"url": receiver.url, "events": ["decision.decline", "decision.review"]},
                timeout=10,
            )
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            sent = purchases("kill", 60)
            submit(service, sent[:30])
            until(lambda: receiver.received, 60, "no event reached the receiver", service)
            service.process.send_signal(signal.SIGKILL)  # mid-stream, mid-delivery
            service.process.wait(timeout=30)
            service = start_service(tmp_path, small_model, **WEBHOOK_ENV)
            submit(service, sent)  # the client sends everything again: it never heard back
            verdicts = all_scored(service, [t["transaction_id"] for t in sent])
            declined = {i for i, v in verdicts.items() if v["decision"] == "decline"}
            reviewed = {i for i, v in verdicts.items() if v["decision"] == "review"}
            expected = {event_id(EventType.DECISION_DECLINE, i): i for i in declined} | {
                event_id(EventType.DECISION_REVIEW, i): i for i in reviewed
            }
            delivered = until(
                lambda: (found := receiver.delivered()).keys() >= expected.keys() and found,
                90,
                "not every decision reached the receiver",
                service,
            )
            opened = cases_by_transaction(service)
        finally:
            if service.process.poll() is None:
                stop_service(service)

    assert len(declined) >= 20 and len(reviewed) >= 19  # the refused shop's, the others'
    assert [r.status for r in receiver.received[:3]] == [500, 500, 500]
    assert delivered.keys() == expected.keys()  # none lost, nothing else told
    now = int(time.time())
    for received in receiver.received:
        assert verify(secret, received.signature, received.body, now), received
        event = received.event
        assert event["id"] == received.event_id  # the same id in the header and the body
        transaction_id = event["data"]["transaction"]["transaction_id"]
        assert expected[received.event_id] == transaction_id  # stable: from the transaction
    ours = {t["transaction_id"] for t in sent}  # not the probe that saw the rules in force
    assert {i: len(found) for i, found in opened.items() if i in ours} == dict.fromkeys(reviewed, 1)


@pytest.fixture(scope="module")
def desk(tmp_path_factory, small_model) -> Iterator[Service]:
    """One `fraud run` with the rules above, for the tests that work cases and lists."""
    running = start_service(tmp_path_factory.mktemp("desk"), small_model, **WEBHOOK_ENV)
    add_rules(running, *RULES)
    yield running
    if running.process.poll() is None:
        stop_service(running)


def test_two_analysts_claiming_one_case_at_once_one_wins(desk: Service) -> None:
    sent = purchases(f"claim-{uuid.uuid4().hex[:4]}", 30)
    submit(desk, sent)
    verdicts = all_scored(desk, [t["transaction_id"] for t in sent])
    reviewed = {i for i, v in verdicts.items() if v["decision"] == "review"}
    cases = [c for i, found in cases_by_transaction(desk).items() if i in reviewed for c in found]
    assert len(cases) == len(reviewed) >= 10
    other = desk.client(Role.ADMIN).post(
        f"{desk.url}/api/keys",
        json={"name": f"analyst-{uuid.uuid4().hex[:6]}", "role": "analyst"},
        timeout=10,
    )
    assert other.status_code == 201, other.text
    analysts = [desk.client(Role.ANALYST), calling_as(other.json()["key"])]
    for case in cases:
        start = threading.Barrier(2)

        def claim(http: requests.Session, case_id: int = case["id"], start=start) -> int:
            start.wait()
            return http.post(f"{desk.url}/api/cases/{case_id}/claim", timeout=10).status_code

        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(claim, analysts))
        assert answers == [200, 409], (case, answers)


def test_a_list_entry_declines_the_cards_next_transaction_within_two_seconds_and_expires(
    desk: Service,
) -> None:
    analyst = desk.client(Role.ANALYST)
    made = analyst.post(f"{desk.url}/api/lists", json={"name": "blocked_cards"}, timeout=10)
    assert made.status_code in (201, 409), made.text
    rule = {
        "name": "blocked-cards",
        "expression": "tx.user_id in lists.blocked_cards",
        "action": "decline",
        "reason": "the card is blocked",
    }
    added = analyst.post(f"{desk.url}/api/rules", json=rule, timeout=10)
    assert added.status_code in (201, 409), added.text
    card = f"mallory-{uuid.uuid4().hex[:6]}"
    assert verdict(desk, send(desk, card)[0])["decision"] != "decline"

    for_a_while = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
    entry = {"value": card, "reason": "card reported stolen", "expires_at": for_a_while}
    listed = analyst.post(f"{desk.url}/api/lists/blocked_cards/entries", json=entry, timeout=10)
    changed = time.monotonic()
    assert listed.status_code == 201, listed.text
    while True:
        transaction_id, sent_at = send(desk, card)
        found = verdict(desk, transaction_id)
        if found["decision"] == "decline":
            break
        assert sent_at - changed < LIST_PROPAGATION_S + 3, f"still not declined: {found}"
        time.sleep(0.2)
    assert sent_at - changed <= LIST_PROPAGATION_S
    assert found["reasons"][0] == "the card is blocked"
    assert verdict(desk, send(desk, f"{card}-other")[0])["decision"] != "decline"

    until(lambda: datetime.now(UTC).isoformat() > for_a_while, 10, "the entry did not expire", desk)
    assert verdict(desk, send(desk, card)[0])["decision"] != "decline"  # expired: in no list


def test_a_case_past_its_queues_sla_is_counted_on_metrics(desk: Service) -> None:
    admin = desk.client(Role.ADMIN)
    drill = {"name": "drill", "condition": 'tx.merchant == "Review Drill"', "sla_minutes": 0.05}
    assert admin.post(f"{desk.url}/api/queues", json=drill, timeout=10).status_code == 201
    scrape = desk.client(Role.METRICS)

    def past_sla() -> float:
        for line in scrape.get(f"{desk.url}/metrics", timeout=10).text.splitlines():
            if line.startswith('fraud_cases_past_sla{queue="drill"}'):
                return float(line.split()[-1])
        return 0.0

    assert past_sla() == 0.0
    transaction_id, _ = send(desk, "drill-card", merchant="Review Drill")
    assert verdict(desk, transaction_id)["decision"] == "review"
    until(lambda: past_sla() >= 1.0, 30, "the case was never counted past its SLA", desk)
    (case,) = cases_by_transaction(desk)[transaction_id]
    assert case["queue"] == "drill"
