"""Risk that labels reveal, known only from each label's labelled_at on: never a label from a
transaction's future, in the stream or in replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from fraud.domain.features import replay
from fraud.domain.identity import Actor
from fraud.domain.label_risk import (
    CARD_MEMORY,
    KEPT_DAYS,
    MERCHANT_MEMORY,
    KnownLabel,
    LabelEvent,
    LabelRisk,
)
from fraud.domain.ports import Topic
from fraud.domain.transaction import format_instant
from fraud.domain.windows import DAY
from tests.factories import payload, txn
from tests.fakes import FixedClock
from tests.unit.conftest import settle

MONDAY = datetime(2025, 1, 6, tzinfo=UTC).timestamp()


def label(transaction_id: str, *, at: float, known: float, fraud: bool = True, user="u1"):
    return LabelEvent(transaction_id, fraud, known, user, "m1", at)


def test_a_merchants_figures_count_whole_days_before_and_labels_known_by_then() -> None:
    risk = LabelRisk()
    for hour in range(10):  # ten purchases on Monday, the first two later confirmed fraud
        risk.count("m1", MONDAY + hour * 3600)
    risk.learn(
        [
            label("a", at=MONDAY, known=MONDAY + 2 * DAY),
            label("b", at=MONDAY, known=MONDAY + 9 * DAY),
        ]
    )

    same_day = risk.figures("u9", "m1", MONDAY + 20 * 3600)
    tuesday = risk.figures("u9", "m1", MONDAY + DAY + 3600)
    wednesday = risk.figures("u9", "m1", MONDAY + 2 * DAY + 3600)
    in_ten_days = risk.figures("u9", "m1", MONDAY + 10 * DAY)

    assert same_day.merchant_transactions == (0, 0, 0, 0)  # Monday is not over
    assert (tuesday.merchant_transactions, tuesday.merchant_frauds) == (
        (10, 10, 10, 10),
        (0, 0, 0, 0),
    )
    assert (wednesday.merchant_transactions, wednesday.merchant_frauds) == (
        (0, 10, 10, 10),
        (0, 1, 1, 1),
    )
    assert (in_ten_days.merchant_transactions, in_ten_days.merchant_frauds) == (
        (0, 0, 10, 10),  # in the fortnight and the month before
        (0, 0, 2, 2),
    )


def test_a_verdict_changed_later_counts_as_what_it_was_at_each_moment() -> None:
    risk = LabelRisk()
    risk.count("m1", MONDAY)
    risk.learn(
        [
            label("a", at=MONDAY, known=MONDAY + 5 * DAY, fraud=False),  # cleared, after
            label("a", at=MONDAY, known=MONDAY + 2 * DAY),  # confirmed first
        ]
    )
    assert risk.figures("u9", "m1", MONDAY + 3 * DAY).merchant_frauds == (0, 1, 1, 1)
    assert risk.figures("u9", "m1", MONDAY + 6 * DAY).merchant_frauds == (0, 0, 0, 0)


def test_a_terminals_frauds_began_after_its_latest_day_of_purchases_before_the_first() -> None:
    """A quiet terminal's first confirmed fraud may come days after its compromise began: the
    last day it had purchases before that fraud bounds how long the frauds can have run."""
    risk = LabelRisk()
    risk.count("m1", MONDAY + 3600)  # Monday's purchase: genuine
    thursday = MONDAY + 3 * DAY + 3600
    risk.count("m1", thursday)
    risk.learn([label("a", at=thursday, known=thursday + DAY)])

    before_known = risk.figures("u9", "m1", thursday + 3600)
    in_a_week = risk.figures("u9", "m1", thursday + 7 * DAY)

    assert before_known.since_merchant_clean_day == MERCHANT_MEMORY
    assert in_a_week.since_first_merchant_fraud == 7 * DAY
    assert in_a_week.since_merchant_clean_day == 9 * DAY + 3600  # since Monday ended


def test_a_terminals_latest_verdicts_say_whether_its_frauds_go_on() -> None:
    """Its latest verdicts, by when they became known: frauds while the skimming goes on,
    genuine once it is over, however many of its purchases the month holds confirmed."""
    risk = LabelRisk()
    cleared = label("c", at=MONDAY + 2 * DAY, known=MONDAY + 9 * DAY, fraud=False)
    risk.learn(
        [
            label("a", at=MONDAY, known=MONDAY + 7 * DAY),
            label("b", at=MONDAY + DAY, known=MONDAY + 8 * DAY),
            cleared,
        ]
    )
    risk.learn([cleared])  # the same verdict again: counted once

    while_skimmed = risk.figures("u9", "m1", MONDAY + 8 * DAY + 3600)
    once_over = risk.figures("u9", "m1", MONDAY + 9 * DAY + 3600)
    before_any = risk.figures("u9", "m1", MONDAY + 7 * DAY - 1)

    assert while_skimmed.merchant_verdicts == ((1, 1.0), (2, 1.0))  # in the day, the week
    assert once_over.merchant_verdicts == ((1, 0.0), (3, 2 / 3))
    assert before_any.merchant_verdicts == ((0, 0.0), (0, 0.0))


def test_a_terminals_verdicts_count_alike_whatever_order_they_are_heard_in_and_expire() -> None:
    verdicts = [
        label("a", at=MONDAY, known=MONDAY + 7 * DAY),
        label("b", at=MONDAY + DAY, known=MONDAY + 8 * DAY),
        label("c", at=MONDAY + 2 * DAY, known=MONDAY + 9 * DAY, fraud=False),
    ]
    in_order, backwards = LabelRisk(), LabelRisk()
    in_order.learn(verdicts)
    for verdict in reversed(verdicts):  # the earliest known heard last: put before the rest
        backwards.learn([verdict])
    at = MONDAY + 9 * DAY + 3600
    assert backwards.figures("u9", "m1", at) == in_order.figures("u9", "m1", at)

    month_later = MONDAY + 41 * DAY  # every verdict above known more than 31 days before
    in_order.expire(month_later)
    in_order.learn([label("d", at=month_later - 7 * DAY, known=month_later)])
    assert in_order.merchants["m1"].verdicts == [(month_later, "d", True)]
    assert in_order.figures("u9", "m1", month_later + 1).merchant_verdicts == ((1, 1.0),) * 2


def test_a_card_confirmed_stolen_is_known_from_then_on_and_never_by_its_own_purchase() -> None:
    risk = LabelRisk()
    risk.learn([label("a", at=MONDAY, known=MONDAY + 3600)])
    assert risk.figures("u1", "m2", MONDAY).card_frauds == 0  # the purchase itself
    assert risk.figures("u1", "m2", MONDAY + 1800).card_frauds == 0  # not known yet
    after = risk.figures("u1", "m2", MONDAY + 7200)
    assert (after.card_frauds, after.since_card_fraud) == (1, 7200)
    assert risk.figures("u2", "m2", MONDAY + 7200).card_frauds == 0


def test_state_is_bounded_days_and_labels_expire_with_the_longest_window() -> None:
    risk = LabelRisk()
    for day in range(200):
        risk.count("m1", MONDAY + day * DAY)
        risk.learn([label(f"t{day}", at=MONDAY + day * DAY, known=MONDAY + day * DAY + 60)])
        risk.expire(MONDAY + day * DAY)
    assert len(risk.merchants["m1"].days) <= KEPT_DAYS + 1
    assert len(risk.merchants["m1"].labelled) <= KEPT_DAYS + 1
    assert len(risk.cards["u1"]) <= CARD_MEMORY / DAY + 1


def test_replay_never_lets_a_label_from_a_transactions_future_change_its_features() -> None:
    history = [txn(i, minutes=60 * i, user_id=f"u{i}") for i in range(30)]  # one merchant
    late = txn(99, minutes=60 * 30, user_id="u0")
    known_after = late.timestamp + timedelta(seconds=1)
    labels = [LabelEvent.of(t, True, known_after) for t in history]
    assert replay([*history, late], labels)[-1] == replay([*history, late])[-1]
    known_before = late.timestamp - timedelta(seconds=1)
    knowing = replay([*history, late], [LabelEvent.of(t, True, known_before) for t in history])
    assert knowing[-1]["merchant_frauds_1d"] > 0 and knowing[-1]["card_confirmed_frauds"] == 1


def submit(client: FlaskClient, transaction_id: str, at: datetime, user: str) -> None:
    body = payload(
        transaction_id=transaction_id, user_id=user, timestamp=format_instant(at), amount=20.0
    )
    response = client.post("/transaction", json=body)
    assert response.status_code == 202, response.get_json()


def features(viewer: FlaskClient, transaction_id: str) -> dict[str, float]:
    return viewer.get(f"/transaction/{transaction_id}").get_json()["features"]


def test_in_the_stream_a_label_counts_only_for_transactions_after_it_became_known(
    client, analyst, viewer, container, clock: FixedClock
) -> None:
    day_one = clock.current
    for i in range(4):
        submit(client, f"d1-{i}", day_one + timedelta(minutes=i), user=f"u{i}")
    settle(container)
    clock.current = day_one + timedelta(days=1)  # the next day at noon: d1-0 is confirmed
    answer = analyst.post("/transaction/d1-0/label", json={"is_fraud": True})
    assert answer.status_code == 200
    settle(container)

    clock.advance(60)
    submit(client, "early-morning", day_one + timedelta(hours=15), user="u9")  # arrives late
    submit(client, "afternoon", clock.current, user="u9")
    submit(client, "stolen-card", clock.current, user="u0")
    settle(container)

    assert features(viewer, "early-morning")["merchant_frauds_1d"] == 0.0  # labelled after it
    assert features(viewer, "early-morning")["merchant_count_1d"] == 4.0
    afternoon = features(viewer, "afternoon")
    assert (afternoon["merchant_frauds_1d"], afternoon["merchant_fraud_share_1d"]) == (1.0, 0.25)
    assert features(viewer, "stolen-card")["card_confirmed_frauds"] == 1.0


def test_the_labels_the_stream_learnt_come_back_after_a_restart(
    client, analyst, viewer, container, clock: FixedClock
) -> None:
    submit(client, "bought", clock.current, user="u1")
    settle(container)
    analyst.post("/transaction/bought/label", json={"is_fraud": True})
    settle(container)
    container.profiles.reset()  # a new process: what the features knew is gone
    clock.advance(DAY)
    submit(client, "again", clock.current, user="u1")
    settle(container)
    assert features(viewer, "again")["card_confirmed_frauds"] == 1.0


def test_imported_chargebacks_are_stored_published_and_learnt_from_their_own_time(
    client, viewer, container, clock: FixedClock
) -> None:
    bought = clock.current
    for i in range(3):
        submit(client, f"p{i}", bought + timedelta(minutes=i), user=f"u{i}")
    settle(container)
    clock.advance(20 * DAY)
    chargebacks = [
        KnownLabel("p0", True, bought + timedelta(days=12)),
        KnownLabel("p2", True, bought + timedelta(days=30)),  # known after what follows
        KnownLabel("nobody", True, bought),
    ]
    imported = container.import_labels()(chargebacks, Actor("cli:ops", "host"))
    assert (imported.imported, imported.frauds, imported.unknown) == (2, 2, ["nobody"])
    published = container.bus().read_topic(Topic.LABELS)
    assert [m.headers["transaction_id"] for m in published] == ["p0", "p2"]
    shown = viewer.get("/transaction/p0").get_json()
    assert shown["label"]["analyst"] == "cli:ops"
    settle(container)

    submit(client, "u0-again", clock.current, user="u0")
    submit(client, "u2-again", clock.current, user="u2")
    settle(container)
    assert features(viewer, "u0-again")["card_confirmed_frauds"] == 1.0
    assert features(viewer, "u2-again")["card_confirmed_frauds"] == 0.0


def test_forgetting_what_no_window_reaches_changes_no_figure() -> None:
    risk = LabelRisk()
    risk.count("m1", MONDAY)
    risk.learn([label("a", at=MONDAY, known=MONDAY + DAY)])
    for days_later in (2, 31, 89, 91, 120):
        at = MONDAY + days_later * DAY
        before = risk.figures("u1", "m1", at)
        risk.expire(at)
        assert risk.figures("u1", "m1", at) == before, days_later


def test_a_late_purchase_counts_in_its_own_day_for_whoever_asks_next() -> None:
    risk = LabelRisk()
    risk.count("m1", MONDAY)
    tuesday = MONDAY + DAY + 3600
    assert risk.figures("u1", "m1", tuesday).merchant_transactions == (1, 1, 1, 1)
    risk.count("m1", MONDAY + 7200)  # arrives late, dated Monday
    risk.count("m1", tuesday)  # Tuesday's own: not before Tuesday
    assert risk.figures("u1", "m1", tuesday + 60).merchant_transactions == (2, 2, 2, 2)
