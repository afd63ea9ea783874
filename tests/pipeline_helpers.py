"""Drive the three stages on a memory bus, step by step, without threads."""

from __future__ import annotations

from dataclasses import dataclass

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.state_store.changelog import Changelog
from fraud.application.models import FixedModels
from fraud.application.outbox import OutboxRelay
from fraud.application.rules import LiveRules
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.score import ScoreStage
from fraud.application.stream.stage import Backoff, StageRunner
from fraud.application.submit import SubmitTransactions
from fraud.domain.features import BehaviourProfiles
from tests.factories import ENVELOPES


@dataclass
class EmbeddedPipeline:
    bus: MemoryBus
    store: InMemoryStore
    submit: SubmitTransactions
    runners: list[StageRunner]

    def run_until_idle(self, max_rounds: int = 50) -> None:
        for _ in range(max_rounds):
            if sum(runner.run_once() for runner in self.runners) == 0:
                return
        raise AssertionError("pipeline did not settle")


def embedded_pipeline(
    model, clock, *, store=None, record_stage=None, batch_size=500, models=None
) -> EmbeddedPipeline:
    """The stages on a memory bus; ``models`` (the champion and challenger in force) replaces
    the one ``model`` when given."""
    bus = MemoryBus()
    store = store or InMemoryStore()
    stages = [
        PreprocessStage(BehaviourProfiles(), clock, ENVELOPES, Changelog(clock, ENVELOPES)),
        ScoreStage(
            models or FixedModels(model),
            clock,
            ENVELOPES,
            LiveRules(store, CelRuleCompiler(), refresh_s=0.0),
        ),
        record_stage or RecordStage(store, ENVELOPES, clock),
    ]
    runners = [
        StageRunner(
            stage,
            bus.consumer(f"fraud-{stage.name}", stage.topics),
            bus,
            batch_size=batch_size,
            poll_timeout=0.0,
            backoff=Backoff(initial=0.001, maximum=0.01),
        )
        for stage in stages
    ]
    outbox = OutboxRelay(bus, store, clock, ENVELOPES)  # not started: publishes at once
    return EmbeddedPipeline(bus, store, SubmitTransactions(store, clock, outbox), runners)
