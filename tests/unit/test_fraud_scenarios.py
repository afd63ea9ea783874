"""The model comparison's error analysis: each fraud's scenario read back from the labels
around it, and the frauds and money each model's daily reviews find per scenario."""

from __future__ import annotations

import numpy as np
from benchmarks.fraud_scenarios import (
    STAGES,
    breakdown,
    false_alarms,
    reviewed,
    scenarios,
    terminal_stages,
)

from fraud.domain.label_risk import MERCHANT_MEMORY
from fraud.domain.model import LabelledTransaction
from tests.factories import txn

DAY = 24 * 60


def labelled(n: int, fraud: bool, *, day: float, **fields: object) -> LabelledTransaction:
    return LabelledTransaction(txn(n, minutes=day * DAY, **fields), fraud)


def test_each_fraud_is_read_as_the_scenario_its_neighbours_show() -> None:
    examples = [
        # two cards robbed at one skimmed terminal, three weeks apart
        labelled(1, True, day=0, user_id="ann", merchant="t-skimmed"),
        labelled(2, True, day=21, user_id="bob", merchant="t-skimmed"),
        # one card used for fraud twice in a week, at two terminals
        labelled(3, True, day=2, user_id="cat", merchant="t-1", amount=180.0),
        labelled(4, True, day=8, user_id="cat", merchant="t-2"),
        # a lone large purchase, and a lone small one
        labelled(5, True, day=3, user_id="dan", merchant="t-3", amount=250.0),
        labelled(6, True, day=4, user_id="eve", merchant="t-4"),
        labelled(7, False, day=5, user_id="eve", merchant="t-skimmed"),
    ]
    assert scenarios(examples) == {
        "t1": "terminal",
        "t2": "terminal",
        "t3": "customer",
        "t4": "customer",
        "t5": "large amount",
        "t6": "other",
        "t7": None,
    }


def test_a_terminals_frauds_a_month_apart_are_not_one_skimming() -> None:
    examples = [
        labelled(1, True, day=0, user_id="ann", merchant="t-1"),
        labelled(2, True, day=29, user_id="bob", merchant="t-1"),
    ]
    assert set(scenarios(examples).values()) == {"other"}


def test_the_reviews_are_each_days_highest_scores_ties_in_input_order() -> None:
    transactions = [txn(i, minutes=(i // 3) * DAY + i) for i in range(6)]  # two days of three
    scores = np.asarray([0.1, 0.9, 0.5, 0.7, 0.7, 0.2])
    assert reviewed(transactions, scores, 2).tolist() == [False, True, True, True, True, False]
    assert reviewed(transactions, scores, 1).tolist() == [False, True, False, True, False, False]


def test_the_breakdown_counts_each_models_catches_and_those_it_alone_made() -> None:
    transactions = [txn(i, amount=10.0 * (i + 1)) for i in range(4)]
    kinds = ["terminal", "terminal", "customer", None]
    found = {
        "network": np.asarray([True, False, True, True]),
        "trees": np.asarray([False, True, False, True]),
    }
    rows = breakdown(kinds, transactions, found)
    assert [row["scenario"] for row in rows] == ["terminal", "customer"]
    terminal, customer = rows
    assert terminal["frauds"] == 2 and terminal["money"] == 30.0
    assert terminal["network"] == {
        "caught": 1,
        "recall": 0.5,
        "money_caught": 10.0,
        "caught_first_missed": 0,
        "missed_first_caught": 0,
    }
    assert terminal["trees"]["caught_first_missed"] == 1
    assert terminal["trees"]["missed_first_caught"] == 1
    assert customer["trees"] == {
        "caught": 0,
        "recall": 0.0,
        "money_caught": 0.0,
        "caught_first_missed": 0,
        "missed_first_caught": 1,
    }


def test_a_purchases_terminal_stage_is_how_long_ago_its_first_confirmed_fraud_was() -> None:
    day = 86_400.0
    since_first = np.asarray([MERCHANT_MEMORY, 8 * day, 22 * day, 28 * day, 29.5 * day])
    since_latest = np.asarray([MERCHANT_MEMORY, 7 * day, 7 * day, 7 * day, 7.5 * day])
    assert terminal_stages(since_first, since_latest).tolist() == [
        "no confirmed fraud known",
        "first fraud under 3 weeks before",
        "first fraud 3 to 4 weeks before",
        "first fraud 4 weeks or more before",
        "first fraud 4 weeks or more before",
    ]


def test_false_alarms_count_each_models_reviews_of_genuine_purchases_per_stage() -> None:
    stages = np.asarray([STAGES[0], STAGES[3], STAGES[3], STAGES[3]])
    labels = np.asarray([0, 0, 0, 1])
    found = {
        "network": np.asarray([True, True, True, True]),
        "trees": np.asarray([False, True, False, True]),
    }
    rows = {row["stage"]: row for row in false_alarms(stages, labels, found)}
    assert list(rows) == list(STAGES)
    assert rows[STAGES[3]] == {
        "stage": STAGES[3],
        "genuine": 2,
        "network": {"reviewed": 3, "false_alarms": 2},
        "trees": {"reviewed": 2, "false_alarms": 1},
    }
    assert rows[STAGES[0]]["network"] == {"reviewed": 1, "false_alarms": 1}
    assert rows[STAGES[1]]["genuine"] == 0
