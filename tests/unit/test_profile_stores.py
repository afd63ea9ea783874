"""Which state store keeps the preprocess stage's profiles (the ``ProfileStore`` port), and the
embedded bus's store: the profiles a restart rebuilds from the database are the ones the
stage had."""

from __future__ import annotations

from fraud.adapters.state_store.changelog import Changelog
from fraud.adapters.state_store.database import FromTheDatabase
from fraud.containers import Container
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import AssignedPartition, Topic
from tests.factories import txn
from tests.pipeline_helpers import embedded_pipeline


def test_the_memory_bus_keeps_profiles_in_the_database_and_kafka_on_a_compacted_topic(
    container: Container,
) -> None:
    assert isinstance(container.preprocess_stage().store, FromTheDatabase)
    with container.config.broker.override("kafka"):
        assert isinstance(container.preprocess_stage().store, Changelog)


def test_a_restart_on_the_embedded_bus_gets_back_the_profiles_the_stage_had(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(1), txn(2, minutes=1), txn(3, minutes=2, user_id="bob")])
    pipeline.run_until_idle()
    before = pipeline.runners[0].stage.profiles

    after = BehaviourProfiles()
    store = FromTheDatabase(pipeline.store)
    assigned = [AssignedPartition(Topic.TRANSACTIONS, 0, resume_at=3)]
    assert store.restore(after, assigned, pipeline.bus) == []  # resume where committed

    following = [txn(4, minutes=3), txn(5, minutes=4, user_id="bob")]
    assert after.observe(following) == before.observe(following)


def test_the_database_store_writes_nothing_down_after_a_batch(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    profiles = BehaviourProfiles()
    profiles.observe([txn(1)])
    output = FromTheDatabase(pipeline.store).changes(profiles, {"alice": 0}, {0: 1}, {0})
    assert not any(output.messages.values())
    assert profiles.take_changes() == {}  # taken: the next batch's changes start afresh
