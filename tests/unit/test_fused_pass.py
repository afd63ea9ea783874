"""A worker running every stage in one pass stores the same verdicts and writes the same
intermediate messages as the three stages split, and never reads its own messages back."""

from __future__ import annotations

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.state_store.changelog import Changelog
from fraud.application.models import FixedModels
from fraud.application.outbox import OutboxRelay
from fraud.application.rules import LiveRules
from fraud.application.stream.fused import FusedStage
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.score import ScoreStage
from fraud.application.stream.stage import StageRunner
from fraud.application.submit import SubmitTransactions
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import OutgoingMessage, Topic
from fraud.domain.rules import Rule, RuleAction
from tests.factories import ENVELOPES, txn
from tests.fakes import FixedClock
from tests.pipeline_helpers import embedded_pipeline

RULE = Rule(
    "big-online", 'tx.merchant_type == "online" && tx.amount > 300.0', RuleAction.REVIEW, "big"
)


def transactions() -> list:
    return [
        txn(
            n,
            minutes=n,
            amount=[12.0, 450.0, 1_500.0, 80.0][n % 4],
            user_id=f"user-{n % 7}",
            merchant_type=["grocery", "online"][n % 2],
        )
        for n in range(60)
    ]


def with_rule(store: InMemoryStore, clock: FixedClock) -> None:
    with store() as uow:
        uow.rules.save(RULE, "tests", clock.now())
        uow.commit()


def fused_pipeline(model, clock):
    bus, store = MemoryBus(), InMemoryStore()
    stage = FusedStage(
        PreprocessStage(BehaviourProfiles(), clock, ENVELOPES, Changelog(clock, ENVELOPES)),
        ScoreStage(
            FixedModels(model), clock, ENVELOPES, LiveRules(store, CelRuleCompiler(), refresh_s=0.0)
        ),
        RecordStage(store, ENVELOPES, clock),
    )
    runner = StageRunner(
        stage, bus.consumer("fraud-preprocess", stage.topics), bus, poll_timeout=0.0
    )
    submit = SubmitTransactions(store, clock, OutboxRelay(bus, store, clock, ENVELOPES))
    return bus, store, submit, runner


def test_the_fused_and_the_split_paths_store_the_same_verdicts_and_write_the_same_messages(
    model,
) -> None:
    split_clock, fused_clock = FixedClock(), FixedClock()
    split = embedded_pipeline(model, split_clock)
    with_rule(split.store, split_clock)
    bus, store, submit, runner = fused_pipeline(model, fused_clock)
    with_rule(store, fused_clock)
    malformed = OutgoingMessage(key="x", value=b"{not json")

    split.submit(transactions())
    split.bus.publish(Topic.TRANSACTIONS, [malformed])
    split.run_until_idle()
    submit(transactions())
    bus.publish(Topic.TRANSACTIONS, [malformed])
    while runner.run_once():
        pass

    for topic in (Topic.PREPROCESSED, Topic.RESULTS):
        assert [(m.key, m.value, m.headers) for m in bus.read_topic(topic)] == [
            (m.key, m.value, m.headers) for m in split.bus.read_topic(topic)
        ], topic
    assert len(bus.read_topic(Topic.RESULTS)) == 60
    assert [m.value for m in bus.read_topic(Topic.DEAD_LETTERS)] == [
        m.value for m in split.bus.read_topic(Topic.DEAD_LETTERS)
    ]
    fused_verdicts = {r.transaction.transaction_id: r for r in store.recent(100)}
    split_verdicts = {r.transaction.transaction_id: r for r in split.store.recent(100)}
    assert fused_verdicts.keys() == split_verdicts.keys()
    for transaction_id, record in fused_verdicts.items():
        other = split_verdicts[transaction_id]
        assert (record.status, record.assessment, record.features) == (
            other.status,
            other.assessment,
            other.features,
        )
    assert (
        sum(
            r.assessment is not None and bool(r.assessment.rule_hits)
            for r in fused_verdicts.values()
        )
        > 0
    )
    # Nothing read its own messages back: the only group is the one reading transactions.
    assert bus.known_groups() == {"fraud-preprocess"}


def test_a_batch_redelivered_to_the_fused_pass_decides_nothing_twice(model) -> None:
    clock = FixedClock()
    bus, store, submit, runner = fused_pipeline(model, clock)
    submit(transactions()[:10])
    runner.run_once()
    decided = {r.transaction.transaction_id: r.assessment for r in store.recent(100)}
    # Every message of transactions handed out again, as after a crash before the commit.
    consumer = bus.consumer("again", [Topic.TRANSACTIONS])
    again = consumer.poll_batch(100, 0)
    runner.stage.handle(again)
    assert {r.transaction.transaction_id: r.assessment for r in store.recent(100)} == decided
