"""Offline replay on several processes, each for a part of the users, gives what one does."""

from __future__ import annotations

from datetime import timedelta

from fraud.adapters.simulation.simulator import simulate
from fraud.application.replay import ScoreTransactions, features_in_parts
from fraud.application.training import known_labels
from fraud.domain.features import part_of, replay, replay_part
from fraud.domain.policy import ScoringPolicy
from tests.fakes import FixedClock, RuleModel

EXAMPLES = simulate(3_000, seed=11, fraud_rate=0.05, days=6)
TRANSACTIONS = [example.transaction for example in EXAMPLES]
# Labels a day behind: the merchant and card figures depend on every user's purchases.
LABELS = known_labels(EXAMPLES, timedelta(days=1))


def test_the_parts_of_the_users_make_up_the_whole_replay_feature_for_feature() -> None:
    whole = replay(TRANSACTIONS, LABELS)
    assert any(v["merchant_fraud_share_7d"] > 0 for v in whole), "merchant figures are exercised"
    parts = [replay_part(TRANSACTIONS, LABELS, part, 3) for part in range(3)]
    places = sorted(index for part in parts for index, _ in part)
    assert places == list(range(len(TRANSACTIONS)))  # each transaction in exactly one part
    for part, found in enumerate(parts):
        for index, vector in found:
            assert part_of(TRANSACTIONS[index].user_id, 3) == part
            assert vector == whole[index]


def test_two_processes_give_exactly_the_features_and_verdicts_of_one() -> None:
    one = features_in_parts(TRANSACTIONS, LABELS, 1)
    two = features_in_parts(TRANSACTIONS, LABELS, 2)
    assert two == one
    score = ScoreTransactions(RuleModel(), ScoringPolicy(), FixedClock())
    score.chunk = 97  # many model calls in each part, chunks cut elsewhere than in one process
    one, two = (score(TRANSACTIONS, labels=LABELS, processes=n) for n in (1, 2))
    assert [v.transaction_id for v in one] == [t.transaction_id for t in TRANSACTIONS]
    assert two == one
    assert any(v.explanation for v in one) and len({v.decision for v in one}) == 3


def test_progress_counts_every_transaction_once_in_any_number_of_processes() -> None:
    score = ScoreTransactions(RuleModel(), ScoringPolicy(), FixedClock())
    for processes in (1, 2, 3):
        told: list[int] = []
        score(TRANSACTIONS, told.append, LABELS, processes)
        assert sum(told) == len(TRANSACTIONS) and min(told) > 0, processes


def test_without_explanations_the_scores_and_decisions_are_the_same() -> None:
    explained = ScoreTransactions(RuleModel(), ScoringPolicy(), FixedClock())
    plain = ScoreTransactions(RuleModel(), ScoringPolicy(), FixedClock(), explain=False)
    with_reasons, without = (score(TRANSACTIONS, processes=2) for score in (explained, plain))
    assert [(v.fraud_score, v.decision) for v in without] == [
        (v.fraud_score, v.decision) for v in with_reasons
    ]
    assert not any(v.explanation for v in without) and any(v.explanation for v in with_reasons)
