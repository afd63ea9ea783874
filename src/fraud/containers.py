"""The composition root: the one place that decides which adapter plays which port.

Entrypoints (the Flask app, the CLI, the workers) get their objects from here;
tests override providers with in-memory implementations.
"""

from __future__ import annotations

from collections.abc import Iterator

from dependency_injector import containers, providers
from sqlalchemy.engine import Engine

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.prometheus.metrics import PrometheusMetrics
from fraud.adapters.serialization.json import JsonSerializer
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.adapters.system.clock import SystemClock
from fraud.adapters.tensorflow.card import read_card
from fraud.application.envelopes import Envelopes
from fraud.application.monitoring import ActivityMonitor, PipelineWatch
from fraud.application.preprocess import PreprocessStage
from fraud.application.record import RecordStage
from fraud.application.score import ScoreStage
from fraud.application.submit import SubmitTransactions
from fraud.domain.features import BehaviourProfiles
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import FraudModel, MessageBus, ModelStore, ModelTrainer
from fraud.settings import Settings


def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine_for(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _kafka_bus(bootstrap: str, topic_prefix: str) -> Iterator[MessageBus]:
    from fraud.adapters.kafka.bus import KafkaBus

    bus = KafkaBus(bootstrap, topic_prefix=topic_prefix)
    try:
        yield bus
    finally:
        bus.close()  # deliver what is in flight before the process ends


def _model_store(directory: str) -> ModelStore:
    # TensorFlow is imported only by the commands that need a model.
    from fraud.adapters.tensorflow.store import KerasModelStore

    return KerasModelStore(directory)


def _trainer(seed: int = 7) -> ModelTrainer:
    from fraud.adapters.tensorflow.trainer import KerasTrainer

    return KerasTrainer(seed=seed)


def _load_model(store: ModelStore) -> FraudModel:
    return store.load()


def _policy_for(model: FraudModel) -> ScoringPolicy:
    """The thresholds chosen on validation data when the model was trained."""
    return ScoringPolicy(model.info.thresholds)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    envelopes = providers.Singleton(Envelopes, serializer=providers.Singleton(JsonSerializer))

    engine = providers.Resource(_engine, url=config.database_url)
    unit_of_work = providers.Singleton(SqlUnitOfWorkFactory, engine=engine)

    bus = providers.Selector(
        config.broker,
        memory=providers.Singleton(MemoryBus),
        kafka=providers.Resource(
            _kafka_bus, bootstrap=config.kafka_bootstrap, topic_prefix=config.topic_prefix
        ),
    )

    model_store = providers.Singleton(_model_store, directory=config.model_dir)
    trainer = providers.Factory(_trainer)
    model = providers.Singleton(_load_model, store=model_store)
    # The card of the model on disk, re-read on every call: a retrain shows at once.
    model_card = providers.Factory(read_card, directory=config.model_dir)
    policy = providers.Singleton(_policy_for, model=model)
    profiles = providers.Singleton(BehaviourProfiles)
    metrics = providers.Singleton(PrometheusMetrics)

    submit = providers.Factory(
        SubmitTransactions,
        bus=bus,
        unit_of_work=unit_of_work,
        clock=clock,
        envelopes=envelopes,
        metrics=metrics,
    )
    preprocess_stage = providers.Factory(
        PreprocessStage, profiles=profiles, clock=clock, envelopes=envelopes
    )
    score_stage = providers.Factory(
        ScoreStage, model=model, policy=policy, clock=clock, envelopes=envelopes
    )
    record_stage = providers.Factory(
        RecordStage, unit_of_work=unit_of_work, envelopes=envelopes, clock=clock, metrics=metrics
    )
    activity = providers.Singleton(ActivityMonitor, unit_of_work=unit_of_work, clock=clock)
    pipeline_watch = providers.Singleton(PipelineWatch, bus=bus, clock=clock)


def build_container(settings: Settings) -> Container:
    container = Container()
    container.config.from_dict(settings.to_dict())
    return container
