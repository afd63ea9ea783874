"""Webhooks on the in-memory store: each event is signed as DESIGN.md says and carries its
id, a failing receiver is tried again with doubling delays and kept as failed after the
last attempt, failures replay, two senders never hold one delivery, and receivers on
private addresses are refused unless the deployment allows them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.webhooks.urllib3_sender import Urllib3Sender
from fraud.application.webhooks import DeliverWebhooks, DeliveryPolicy, ManageWebhooks
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.identity import Actor
from fraud.domain.webhooks import (
    DeliveryStatus,
    EventType,
    InvalidWebhook,
    NewSubscription,
    RetryPolicy,
    decision_event,
    event_id,
    signature,
    verify,
)
from tests.factories import txn
from tests.fakes import FixedClock, Receiver

ADMIN = Actor("root", "10.0.0.9")
POLICY = DeliveryPolicy(retries=RetryPolicy(attempts=3, first_delay=timedelta(seconds=10)))


def decline(n: int, clock: FixedClock) -> TransactionRecord:
    transaction = txn(n, user_id=f"user-{n}")
    verdict = Assessment(transaction.transaction_id, 0.97, Decision.DECLINE, (), "m1", clock.now())
    return TransactionRecord(transaction, clock.now(), Status.SCORED, verdict)


def subscribed(store, clock, receiver=None, url="https://hooks.example.com/fraud") -> tuple:
    manage = ManageWebhooks(store, store, receiver or Receiver(), clock)
    made = manage.add(NewSubscription.parse({"url": url, "events": ["decision.decline"]}), ADMIN)
    return manage, made


def told(store, clock, *records: TransactionRecord) -> None:
    with store() as uow:
        uow.webhooks.enqueue([decision_event(record) for record in records], clock.now())
        uow.commit()


def test_an_event_is_signed_with_the_subscriptions_secret_and_carries_its_id(clock) -> None:
    store, receiver = InMemoryStore(), Receiver()
    _, made = subscribed(store, clock, receiver)
    told(store, clock, decline(1, clock), decline(1, clock))  # the same event twice: once
    assert DeliverWebhooks(store, store, receiver, clock, POLICY).deliver_due() == 1
    ((url, body, headers),) = receiver.received
    assert url == "https://hooks.example.com/fraud"
    assert headers["Fraud-Event-Id"] == event_id(EventType.DECISION_DECLINE, "t1")
    assert headers["Fraud-Event-Type"] == "decision.decline"
    now = int(clock.now().timestamp())
    assert headers["Fraud-Signature"] == signature(made.secret, now, body)
    assert verify(made.secret, headers["Fraud-Signature"], body, now + 60)
    assert not verify(made.secret, headers["Fraud-Signature"], body + b" ", now)
    assert not verify(made.secret, headers["Fraud-Signature"], body, now + 301)  # too old
    assert not verify("whsec_other", headers["Fraud-Signature"], body, now)
    event = json.loads(body)
    assert (event["id"], event["type"]) == (headers["Fraud-Event-Id"], "decision.decline")
    assert event["data"]["transaction"]["transaction_id"] == "t1"
    assert event["data"]["decision"] == "decline"


def test_a_failing_receiver_is_tried_again_with_doubling_delays_then_kept_as_failed(
    clock,
) -> None:
    store, receiver = InMemoryStore(), Receiver(500, 503, 502)
    manage, made = subscribed(store, clock, receiver)
    told(store, clock, decline(1, clock))
    sender = DeliverWebhooks(store, store, receiver, clock, POLICY)
    assert sender.deliver_due() == 1
    assert sender.deliver_due() == 0  # not due yet
    clock.advance(10)
    assert sender.deliver_due() == 1
    clock.advance(19)
    assert sender.deliver_due() == 0  # the second delay is twice the first
    clock.advance(1)
    assert sender.deliver_due() == 1
    (failed,) = manage.deliveries(made.subscription.id)
    assert (failed.status, failed.attempts, failed.last_error) == (
        DeliveryStatus.FAILED,
        3,
        "HTTP 502",
    )
    log = manage.attempts(made.subscription.id)
    assert [attempt.status_code for attempt in log] == [502, 503, 500]  # newest first
    assert manage.replay(made.subscription.id, ADMIN) == 1
    assert sender.deliver_due() == 1  # the receiver answers 200 now
    (delivered,) = manage.deliveries(made.subscription.id)
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_a_claimed_delivery_is_held_until_its_lease_runs_out(clock) -> None:
    store, receiver = InMemoryStore(), Receiver()
    subscribed(store, clock, receiver)
    told(store, clock, *(decline(n, clock) for n in range(10)))
    one, other = (DeliverWebhooks(store, store, receiver, clock, POLICY) for _ in range(2))

    def claim(sender: DeliverWebhooks) -> set[int]:
        with store() as uow:
            claimed = uow.webhooks.claim(sender.name, clock.now(), clock.now() + POLICY.lease, 6)
            uow.commit()
        return {c.delivery.id for c in claimed}

    mine, theirs = claim(one), claim(other)
    assert mine.isdisjoint(theirs) and len(mine | theirs) == 10
    assert claim(one) == set()
    clock.advance(POLICY.lease.total_seconds() + 1)  # both died: their leases ran out
    assert one.deliver_due() == 10


def test_a_sender_with_nothing_due_opens_no_unit_of_work(clock) -> None:
    """A claim writes, and on SQLite a unit of work holds the process's one writer: an idle
    sender asks when the next delivery falls due, a read, and claims only once it has."""
    store, receiver = InMemoryStore(), Receiver(500)
    opened: list[int] = []

    def counted():
        opened.append(1)
        return store()

    sender = DeliverWebhooks(counted, store, receiver, clock, POLICY)
    assert sender.deliver_due() == 0  # nothing subscribed, nothing pending
    subscribed(store, clock, receiver)
    told(store, clock, decline(1, clock))
    assert opened == []
    assert sender.deliver_due() == 1  # due: claimed, sent (a 500), and its attempt recorded
    opened.clear()
    clock.advance(9)
    assert sender.deliver_due() == 0  # its retry falls due in 10 s
    assert opened == []
    clock.advance(1)
    assert sender.deliver_due() == 1
    assert opened != []


def test_a_removed_subscription_gets_nothing_more_and_its_backlog_is_kept_as_failed(
    clock,
) -> None:
    store, receiver = InMemoryStore(), Receiver()
    manage, made = subscribed(store, clock, receiver)
    told(store, clock, decline(1, clock))
    manage.remove(made.subscription.id, ADMIN)
    told(store, clock, decline(2, clock))
    assert DeliverWebhooks(store, store, receiver, clock, POLICY).deliver_due() == 0
    (kept,) = manage.deliveries(made.subscription.id)
    assert (kept.status, kept.last_error) == (DeliveryStatus.FAILED, "subscription removed")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/x", "must be an http or https URL with a host"),
        ("https://user:pw@example.com/", "must not carry credentials"),
        ("not a url", "must be an http or https URL"),
    ],
)
def test_a_subscription_names_what_is_wrong_with_it(url: str, rule: str) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        NewSubscription.parse({"url": url, "events": ["decision.nope"], "extra": 1})
    errors = {error.field: error.rule for error in refused.value.errors}
    assert rule in errors["url"]
    assert errors["events"].startswith("must be a non-empty list of: decision.decline")
    assert "extra" in errors


def test_private_receivers_are_the_deployments_choice_and_link_local_never(clock) -> None:
    store = InMemoryStore()
    closed, open_ = Urllib3Sender(private_addresses=False), Urllib3Sender(private_addresses=True)
    assert "private or loopback" in (closed.refusal("http://127.0.0.1:8080/hook") or "")
    assert "private or loopback" in (closed.refusal("http://10.1.2.3/hook") or "")
    assert open_.refusal("http://127.0.0.1:8080/hook") is None
    assert "link-local" in (open_.refusal("http://169.254.169.254/latest") or "")
    assert closed.refusal("https://93.184.215.14/hook") is None
    with pytest.raises(InvalidWebhook, match=r"url: 10\.0\.0\.1 is a private"):
        subscribed(store, clock, closed, url="http://10.0.0.1/hook")


def test_the_retry_policy_doubles_up_to_its_cap_and_gives_up() -> None:
    policy = RetryPolicy(attempts=40, first_delay=timedelta(seconds=10))
    assert [policy.after(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert policy.after(39) == timedelta(hours=1)
    assert policy.after(40) is None
