"""The composition root: the one place that decides which adapter plays which port.

Entrypoints (the Flask app, the CLI, the workers) get every collaborator from
here, built by :func:`bootstrap`; tests override providers with in-memory
implementations. Technologies a process may not need (TensorFlow, Kafka,
matplotlib, numpy, prometheus-client) are imported only when their provider is first
called: a command that lists the users pays for none of them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dependency_injector import containers, providers
from sqlalchemy.engine import Engine

from fraud.adapters.csv.labelled import CsvFiles
from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.serialization.json import JsonSerializer
from fraud.adapters.sqlalchemy.cases import SqlCaseQueries
from fraud.adapters.sqlalchemy.drift import SqlDriftQueries
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.identity import SqlIdentityQueries
from fraud.adapters.sqlalchemy.lists import SqlListQueries
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.registry import SqlModelQueries
from fraud.adapters.sqlalchemy.rules import SqlRuleQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.adapters.sqlalchemy.webhooks import SqlWebhookQueries
from fraud.adapters.state_store.changelog import Changelog
from fraud.adapters.state_store.database import FromTheDatabase
from fraud.adapters.system.clock import SystemClock
from fraud.application.answers import VerdictWaiter
from fraud.application.archives import SignArchives, SignedArchives
from fraud.application.canary import CanaryTally, ManageCanary
from fraud.application.cases import WorkCases
from fraud.application.drift import DriftTally, DriftWatch
from fraud.application.follow_ups import DecisionFollowUps
from fraud.application.identity import (
    AuditTrail,
    Authenticate,
    FirstRun,
    ManageAccounts,
    ManageKeys,
    ServiceSecret,
    SignIn,
)
from fraud.application.labels import ExportLabels, ImportLabels, LabelTransaction
from fraud.application.lists import LiveLists, ManageLists
from fraud.application.models import (
    CompareModels,
    LiveModels,
    ManageModels,
    RegisterModel,
    SetReviewBudget,
)
from fraud.application.monitoring import ActivityMonitor, PipelineWatch
from fraud.application.outbox import OutboxRelay
from fraud.application.queries import DashboardFigures, LabelLoopFigures
from fraud.application.queues import LiveQueues, ManageQueues
from fraud.application.replay import EvaluateModel, ScoreTransactions
from fraud.application.retrain import RetrainModel
from fraud.application.rule_health import RulesHealth, RuleTally
from fraud.application.rules import LiveRules, ManageRules, TryRules
from fraud.application.stream.dead_letters import ListDeadLetters, ReplayDeadLetters
from fraud.application.stream.envelopes import Envelopes
from fraud.application.stream.fused import FusedStage
from fraud.application.stream.pipeline import (
    ALL,
    DEFAULT_GROUP_PREFIX,
    Pipeline,
    PipelineStatus,
    StagesElsewhere,
)
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.score import ScoreStage
from fraud.application.stream.stage import Stage
from fraud.application.stream.tracing import NO_TRACING, TracedPublishing, TracedStage
from fraud.application.submit import RepublishPending, SubmitTransactions
from fraud.application.training import TrainModel
from fraud.application.webhooks import DeliverWebhooks, DeliveryPolicy, ManageWebhooks
from fraud.domain.features import BehaviourProfiles
from fraud.domain.identity import Actor
from fraud.domain.lists import ListLookup
from fraud.domain.model import ModelInfo
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import (
    ArchiveSeal,
    BinCounter,
    EvaluationCharts,
    FraudModel,
    MessageBus,
    ModelArchives,
    ModelQueries,
    ModelStore,
    ModelTrainer,
    PasswordHasher,
    RuleCompiler,
    SchemaMigrator,
    Simulator,
    TopicAdmin,
    Tracer,
)
from fraud.domain.ports.backups import DatabaseBackups
from fraud.domain.ports.cases import ConditionCompiler
from fraud.domain.ports.webhooks import WebhookQueries, WebhookSender
from fraud.domain.registry import thresholds_in_force
from fraud.domain.rules import EvaluationBudget
from fraud.domain.webhooks import RetryPolicy
from fraud.settings import KafkaSecurity, Secret, Settings

if TYPE_CHECKING:
    from fraud.adapters.prometheus.metrics import PrometheusMetrics

EMBEDDED = "embedded"  # the stages run in this process: `fraud run`, `fraud worker`
SEPARATE = "separate"  # they run in `fraud worker` processes: `fraud serve`


def count_metrics_across_processes(directory: Path) -> None:
    """Every process this one forks from now on counts into ``directory``, and a scrape of
    any of them reports the sum (granian's workers under `fraud serve`)."""
    from fraud.adapters.prometheus.metrics import count_across_processes

    count_across_processes(directory)


def _metrics(
    bus: Callable[[], MessageBus],
    status: Callable[[], PipelineStatus],
    drift: Callable[[], DriftWatch],
    cases: Callable[[], WorkCases],
    webhooks: Callable[[], WebhookQueries],
) -> PrometheusMetrics:
    """The pipeline's metrics, made by what counts or is scraped: prometheus-client is
    imported then. A scrape reads the consumer lag, the drift and the review queues from
    the providers it is given."""
    from fraud.adapters.prometheus.metrics import PrometheusMetrics, shared_directory

    metrics = PrometheusMetrics(shared_dir=shared_directory())
    metrics.watch_consumer_lag(bus, status)
    metrics.watch_drift(lambda: drift().report())
    metrics.watch_cases(lambda: cases().queue_states(), lambda: webhooks().backlog())
    return metrics


def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine_for(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _check_broker(broker: str, bootstrap: str, security: KafkaSecurity) -> None:
    """Credentials the broker refuses stop the process here, at start, with a message
    (``BrokerRefusedCredentials``), instead of a client retrying them for ever."""
    if broker == "kafka":
        from fraud.adapters.kafka.access import check_credentials

        check_credentials(bootstrap, security)


def _bus(
    broker: str, bootstrap: str, topic_prefix: str, security: KafkaSecurity
) -> Iterator[MessageBus]:
    """The chosen broker only: on the memory bus no Kafka client is ever created."""
    if broker == "memory":
        yield MemoryBus()
        return
    from fraud.adapters.kafka.bus import KafkaBus

    _check_broker(broker, bootstrap, security)
    bus = KafkaBus(bootstrap, topic_prefix=topic_prefix, security=security)
    try:
        yield bus
    finally:
        bus.close()  # deliver what is in flight before the process ends


def _tracer(endpoint: str | None) -> Iterator[Tracer]:
    """Spans sent over OTLP when an endpoint is set (OpenTelemetry imported only then), none
    otherwise; closing sends what is queued."""
    if endpoint is None:
        yield NO_TRACING
        return
    from fraud.adapters.opentelemetry.tracer import OpenTelemetryTracer, traces_provider

    provider = traces_provider(endpoint)
    try:
        yield OpenTelemetryTracer(provider)
    finally:
        provider.shutdown()


def _traced_stage(stage: Stage, tracer: Tracer) -> Stage:
    """A split stage, its batches traced when tracing is on (off, it is left as it is)."""
    return TracedStage(stage, tracer) if tracer.enabled else stage


def _traced_publishing(bus: MessageBus, tracer: Tracer) -> MessageBus:
    return TracedPublishing(bus, tracer) if tracer.enabled else bus


def _migrator(url: str) -> SchemaMigrator:
    from fraud.adapters.sqlalchemy.migrator import SqlMigrator

    return SqlMigrator(url)


def _database_backups(url: str) -> DatabaseBackups:
    from fraud.adapters.backups import backups_for

    return backups_for(url)


def _topic_admin(bootstrap: str, prefix: str, security: KafkaSecurity) -> TopicAdmin:
    from fraud.adapters.kafka.access import check_credentials
    from fraud.adapters.kafka.admin import KafkaTopicAdmin

    check_credentials(bootstrap, security)  # as for the bus: refused credentials stop here
    return KafkaTopicAdmin(bootstrap, prefix=prefix, security=security)


def _password_hasher() -> PasswordHasher:
    from fraud.adapters.passwords.argon2 import Argon2Hasher

    return Argon2Hasher()


def evaluation_budget(per_rule_ms: float, per_batch_ms: float) -> EvaluationBudget:
    return EvaluationBudget(per_rule_s=per_rule_ms / 1000.0, per_batch_s=per_batch_ms / 1000.0)


def _rule_compiler(lists: ListLookup) -> RuleCompiler:
    from fraud.adapters.cel.rules import CelRuleCompiler

    return CelRuleCompiler(lists=lists)


def _condition_compiler() -> ConditionCompiler:
    from fraud.adapters.cel.conditions import CelConditionCompiler

    return CelConditionCompiler()


def _webhook_sender(timeout_s: float, private_addresses: bool) -> WebhookSender:
    from fraud.adapters.webhooks.urllib3_sender import Urllib3Sender

    return Urllib3Sender(timeout_s, private_addresses)


def _delivery_policy(attempts: int, first_retry_s: float, timeout_s: float) -> DeliveryPolicy:
    """A claim outlasts the longest send of a round (each of its sends, a few at a time)."""
    retries = RetryPolicy(attempts=attempts, first_delay=timedelta(seconds=first_retry_s))
    policy = DeliveryPolicy(retries=retries)
    rounds = -(-policy.batch // policy.concurrency)
    return replace(policy, lease=timedelta(seconds=timeout_s * rounds + 5.0))


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _revealed(secret: Secret | None) -> str | None:
    return None if secret is None else secret.reveal()


def _this_service() -> Actor:
    """Who acts when the service itself creates something (the first run's credentials)."""
    return Actor("service", socket.gethostname())


def _model_store(directory: str) -> ModelStore:
    # Imported by the commands that need a model only. Loading one imports no TensorFlow
    # (the saved network is served with numpy); training, which saves, does.
    from fraud.adapters.tensorflow.store import KerasModelStore

    return KerasModelStore(directory)


def _model_archives() -> ModelArchives:
    from fraud.adapters.tensorflow.store import KerasModelArchives

    return KerasModelArchives()


def _archive_seal(
    configured: Secret | None, database_url: str, broker: str, create: bool
) -> ArchiveSeal:
    """Resolved only by what signs or checks archives: a process that does neither (`fraud
    serve`, the preprocess and record stages) needs no key."""
    from fraud.adapters.system.archive_key import archive_key
    from fraud.adapters.system.archive_seal import HmacArchiveSeal

    return HmacArchiveSeal(archive_key(configured, database_url, broker, create=create))


def _bin_counter() -> BinCounter:
    from fraud.adapters.numpy.drift import NumpyBinCounter

    return NumpyBinCounter()


def _simulator() -> Simulator:
    from fraud.adapters.simulation.simulator import Simulator

    return Simulator()


def _trainer(seed: int, verbose: bool) -> ModelTrainer:
    from fraud.adapters.tensorflow.trainer import KerasTrainer

    return KerasTrainer(seed=seed, verbose=verbose)


def _charts() -> EvaluationCharts:
    from fraud.adapters.charts.evaluation import MatplotlibCharts

    return MatplotlibCharts()


def _seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _load_model(store: ModelStore) -> FraudModel:
    return store.load()


def _policy_for(model: FraudModel) -> ScoringPolicy:
    """The thresholds chosen on validation data when the model was trained."""
    return ScoringPolicy(model.info.thresholds)


def _card_in_use(models: LiveModels, queries: ModelQueries) -> ModelInfo | None:
    """The champion this process scores with, with the thresholds it uses; the registry's
    before it has loaded one (a request never loads a model)."""
    in_hand = models.in_hand()
    if in_hand is None:
        return _champion_card(queries)
    champion = in_hand.champion
    return replace(champion.model.info, thresholds=champion.policy.thresholds)


def _champion_card(queries: ModelQueries) -> ModelInfo | None:
    """The registry's champion, read from its card with the thresholds in force: no
    TensorFlow in a process that only shows it."""
    champion = queries.roles().champion
    registered = queries.model(champion) if champion else None
    if registered is None:
        return None
    changed = queries.thresholds(registered.version)
    return replace(registered.info, thresholds=thresholds_in_force(registered.info, changed))


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    max_skew = providers.Callable(_seconds, config.max_clock_skew_s)
    envelopes = providers.Singleton(
        Envelopes, serializer=providers.Singleton(JsonSerializer), max_skew=max_skew
    )
    # Summed over every process of a server that shares a directory of counts (`fraud serve`).
    # What a scrape reads is given below, once its providers are defined.
    metrics = providers.Singleton(_metrics)
    tracer = providers.Resource(_tracer, endpoint=config.otlp_endpoint)

    # --- storage: the write side (units of work) and the read side (queries) -------------
    engine = providers.Resource(_engine, url=config.database_url)
    unit_of_work = providers.Singleton(SqlUnitOfWorkFactory, engine=engine)
    queries = providers.Singleton(SqlQueries, engine=engine)
    migrator = providers.Singleton(_migrator, url=config.database_url)
    database_backups = providers.Singleton(_database_backups, url=config.database_url)

    # --- identity and access ------------------------------------------------------------
    identity_queries = providers.Singleton(SqlIdentityQueries, engine=engine)
    password_hasher = providers.Singleton(_password_hasher)
    manage_keys = providers.Factory(
        ManageKeys, unit_of_work=unit_of_work, queries=identity_queries, clock=clock
    )
    manage_accounts = providers.Factory(
        ManageAccounts,
        unit_of_work=unit_of_work,
        queries=identity_queries,
        hasher=password_hasher,
        clock=clock,
    )
    sign_in = providers.Factory(
        SignIn,
        unit_of_work=unit_of_work,
        queries=identity_queries,
        hasher=password_hasher,
        clock=clock,
        lifetime=providers.Callable(_hours, config.session_hours),
    )
    authenticate = providers.Singleton(Authenticate, queries=identity_queries, clock=clock)
    audit_trail = providers.Factory(AuditTrail, queries=identity_queries)
    service_secret = providers.Factory(
        ServiceSecret,
        unit_of_work=unit_of_work,
        configured=providers.Callable(_revealed, config.secret_key),
    )
    first_run = providers.Factory(
        FirstRun,
        accounts=manage_accounts,
        keys=manage_keys,
        by=providers.Callable(_this_service),
    )

    # --- analysts' rules and the lists they read ------------------------------------------------
    list_queries = providers.Singleton(SqlListQueries, engine=engine)
    live_lists = providers.Singleton(LiveLists, queries=list_queries)  # one copy per process
    manage_lists = providers.Factory(
        ManageLists, unit_of_work=unit_of_work, queries=list_queries, clock=clock
    )
    rule_queries = providers.Singleton(SqlRuleQueries, engine=engine)
    rule_compiler = providers.Singleton(_rule_compiler, lists=live_lists)
    manage_rules = providers.Factory(
        ManageRules,
        unit_of_work=unit_of_work,
        queries=rule_queries,
        compiler=rule_compiler,
        clock=clock,
    )
    try_rules = providers.Factory(TryRules, verdicts=queries, compiler=rule_compiler, clock=clock)
    rules_health = providers.Factory(RulesHealth, queries=rule_queries, clock=clock)

    # --- the broker -------------------------------------------------------------------------
    bus = providers.Resource(
        _bus,
        broker=config.broker,
        bootstrap=config.kafka_bootstrap,
        topic_prefix=config.topic_prefix,
        security=config.kafka_security,
    )
    topic_admin = providers.Singleton(
        _topic_admin,
        bootstrap=config.kafka_bootstrap,
        prefix=config.topic_prefix,
        security=config.kafka_security,
    )
    # For a process that hands the bus to others (`fraud serve` before granian forks).
    broker_check = providers.Callable(
        _check_broker,
        broker=config.broker,
        bootstrap=config.kafka_bootstrap,
        security=config.kafka_security,
    )

    # --- the model --------------------------------------------------------------------------
    # A model directory: what `fraud train` writes and a replay of a file scores with.
    model_store = providers.Singleton(_model_store, directory=config.model_dir)
    model_store_at = providers.Factory(_model_store)  # a directory of the caller's: directory=
    trainer = providers.Factory(_trainer, seed=7, verbose=config.interactive)
    model = providers.Singleton(_load_model, store=model_store)
    policy = providers.Singleton(_policy_for, model=model)
    # The registry: every trained model, and the champion (and challenger) the stream uses.
    model_queries = providers.Singleton(SqlModelQueries, engine=engine)
    model_archives = providers.Singleton(_model_archives)
    # The key every archive is signed with when registered and checked with before a load.
    archive_seal = providers.Singleton(
        _archive_seal,
        configured=config.archive_key,
        database_url=config.database_url,
        broker=config.broker,
        create=config.makes_archive_key,
    )
    signed_archives = providers.Singleton(
        SignedArchives, queries=model_queries, archives=model_archives, seal=archive_seal
    )
    live_models = providers.Singleton(LiveModels, queries=model_queries, archives=signed_archives)
    register_model = providers.Factory(
        RegisterModel, unit_of_work=unit_of_work, clock=clock, seal=archive_seal
    )
    sign_archives = providers.Factory(
        SignArchives,
        unit_of_work=unit_of_work,
        queries=model_queries,
        seal=archive_seal,
        clock=clock,
    )
    manage_canary = providers.Factory(
        ManageCanary, unit_of_work=unit_of_work, queries=model_queries, clock=clock
    )
    manage_models = providers.Factory(
        ManageModels, unit_of_work=unit_of_work, queries=model_queries, clock=clock
    )
    set_review_budget = providers.Factory(
        SetReviewBudget,
        unit_of_work=unit_of_work,
        models=model_queries,
        verdicts=queries,
        clock=clock,
    )
    compare_models = providers.Singleton(  # one cache per process
        CompareModels, models=model_queries, verdicts=queries, clock=clock
    )
    # Drift: what the record stage counts, and the champion's last day against its training.
    drift_queries = providers.Singleton(SqlDriftQueries, engine=engine)
    drift_watch = providers.Singleton(
        DriftWatch, models=model_queries, tallies=drift_queries, clock=clock
    )

    # --- files and data for the commands --------------------------------------------------
    labelled_files = providers.Singleton(CsvFiles)
    simulator = providers.Singleton(_simulator)
    charts = providers.Singleton(_charts)

    # --- use cases --------------------------------------------------------------------------
    outbox = providers.Singleton(
        OutboxRelay,
        bus=providers.Callable(_traced_publishing, bus=bus, tracer=tracer),
        unit_of_work=unit_of_work,
        clock=clock,
        envelopes=envelopes,
    )
    # One per process: its callers' claims share commits.
    submit = providers.Singleton(
        SubmitTransactions,
        unit_of_work=unit_of_work,
        clock=clock,
        outbox=outbox,
        metrics=metrics,
        max_skew=max_skew,
    )
    verdict_waiter = providers.Singleton(VerdictWaiter, bus=bus, envelopes=envelopes)
    republish_pending = providers.Factory(
        RepublishPending, unit_of_work=unit_of_work, outbox=outbox
    )
    label_transaction = providers.Factory(
        LabelTransaction,
        unit_of_work=unit_of_work,
        queries=queries,
        clock=clock,
        bus=bus,
        envelopes=envelopes,
    )
    import_labels = providers.Factory(
        ImportLabels,
        unit_of_work=unit_of_work,
        clock=clock,
        bus=bus,
        envelopes=envelopes,
    )
    export_labels = providers.Factory(ExportLabels, queries=queries, files=labelled_files)
    # Review cases and their queues; webhooks and the sender of their outbox.
    case_queries = providers.Singleton(SqlCaseQueries, engine=engine)
    condition_compiler = providers.Singleton(_condition_compiler)
    manage_queues = providers.Factory(
        ManageQueues,
        unit_of_work=unit_of_work,
        queries=case_queries,
        compiler=condition_compiler,
        clock=clock,
    )
    work_cases = providers.Factory(
        WorkCases,
        unit_of_work=unit_of_work,
        cases=case_queries,
        labels=label_transaction,
        lists=manage_lists,
        clock=clock,
    )
    webhook_queries = providers.Singleton(SqlWebhookQueries, engine=engine)
    webhook_sender = providers.Singleton(
        _webhook_sender,
        timeout_s=config.webhook_timeout_s,
        private_addresses=config.webhook_private_addresses,
    )
    manage_webhooks = providers.Factory(
        ManageWebhooks,
        unit_of_work=unit_of_work,
        queries=webhook_queries,
        sender=webhook_sender,
        clock=clock,
    )
    webhook_delivery = providers.Singleton(  # one sender per process
        DeliverWebhooks,
        unit_of_work=unit_of_work,
        queries=webhook_queries,
        sender=webhook_sender,
        clock=clock,
        policy=providers.Callable(
            _delivery_policy,
            attempts=config.webhook_attempts,
            first_retry_s=config.webhook_first_retry_s,
            timeout_s=config.webhook_timeout_s,
        ),
    )
    dashboard_figures = providers.Factory(DashboardFigures, queries=queries, clock=clock)
    label_loop = providers.Factory(LabelLoopFigures, queries=queries, clock=clock)
    train_model = providers.Factory(TrainModel, trainer=trainer, store=model_store, clock=clock)
    retrain_model = providers.Factory(
        RetrainModel,
        verdicts=queries,
        train=train_model,
        store=model_store,
        register=register_model,
        manage=manage_models,
        models=model_queries,
        archives=signed_archives,
        clock=clock,
    )
    score_transactions = providers.Factory(
        ScoreTransactions, model=model, policy=policy, clock=clock
    )
    evaluate_model = providers.Factory(EvaluateModel, model=model, policy=policy, clock=clock)
    list_dead_letters = providers.Factory(ListDeadLetters, bus=bus)
    replay_dead_letters = providers.Factory(
        ReplayDeadLetters, bus=bus, unit_of_work=unit_of_work, clock=clock
    )

    # --- the pipeline -----------------------------------------------------------------------
    profiles = providers.Singleton(BehaviourProfiles)
    # Where a worker keeps its users' profiles: a compacted topic on Kafka, or (the embedded
    # bus keeps nothing after a restart) rebuilt from the transactions the database stored.
    profile_store = providers.Selector(
        config.broker,
        kafka=providers.Factory(Changelog, clock=clock, envelopes=envelopes),
        memory=providers.Factory(FromTheDatabase, queries=queries),
    )
    preprocess_stage = providers.Factory(
        PreprocessStage,
        profiles=profiles,
        clock=clock,
        envelopes=envelopes,
        store=profile_store,
    )
    score_stage = providers.Factory(
        ScoreStage,
        models=live_models,
        clock=clock,
        envelopes=envelopes,
        rules=providers.Factory(
            LiveRules, queries=rule_queries, compiler=rule_compiler, lists=live_lists
        ),
        metrics=metrics,
        rule_budget=providers.Factory(
            evaluation_budget,
            per_rule_ms=config.rule_budget_ms,
            per_batch_ms=config.rules_budget_ms,
        ),
    )
    record_stage = providers.Factory(
        RecordStage,
        unit_of_work=unit_of_work,
        envelopes=envelopes,
        clock=clock,
        metrics=metrics,
        tallies=providers.List(
            providers.Factory(
                DriftTally,
                models=model_queries,
                counter=providers.Singleton(_bin_counter),
                clock=clock,
                watch=drift_watch,
            ),
            providers.Factory(RuleTally, queries=rule_queries, clock=clock),
            providers.Factory(CanaryTally, queries=model_queries, clock=clock),
            providers.Factory(
                DecisionFollowUps,
                queues=providers.Factory(
                    LiveQueues, queries=case_queries, compiler=condition_compiler
                ),
            ),
        ),
    )
    fused_stage = providers.Factory(
        FusedStage,
        preprocess=preprocess_stage,
        score=score_stage,
        record=record_stage,
        tracer=tracer,
    )
    pipeline = providers.Singleton(
        Pipeline,
        stages=providers.Dict(
            preprocess=providers.Factory(
                _traced_stage, stage=preprocess_stage, tracer=tracer
            ).provider,
            score=providers.Factory(_traced_stage, stage=score_stage, tracer=tracer).provider,
            record=providers.Factory(_traced_stage, stage=record_stage, tracer=tracer).provider,
            all=fused_stage.provider,
        ),
        bus=bus,
        names=config.stages,
        group_prefix=config.group_prefix,
        batch_size=config.batch_size,
        poll_timeout=config.poll_timeout_s,
        metrics=metrics,
    )
    # What the API and the dashboard report of the stages, and which model card they show:
    # the pipeline and the champion of this process, or the workers' (the registry's).
    pipeline_status = providers.Selector(
        config.pipeline,
        embedded=pipeline,
        separate=providers.Singleton(StagesElsewhere, group_prefix=config.group_prefix),
    )
    model_card = providers.Selector(
        config.pipeline,
        embedded=providers.Callable(_card_in_use, models=live_models, queries=model_queries),
        separate=providers.Callable(_champion_card, queries=model_queries),
    )
    activity = providers.Singleton(ActivityMonitor, activity=queries, clock=clock)
    pipeline_watch = providers.Singleton(
        PipelineWatch, bus=bus, clock=clock, status=pipeline_status
    )
    metrics.add_kwargs(
        bus=bus.provider,
        status=pipeline_status.provider,
        drift=drift_watch.provider,
        cases=work_cases.provider,
        webhooks=webhook_queries.provider,
    )


@dataclass(frozen=True, slots=True)
class Process:
    """What this process runs, beside its settings: whether the stages run here, which ones
    and in which consumer groups; the model directory when a command names one; whether
    the schema is migrated first; whether a person watches its output (progress bars
    rather than log events); whether it may make a single host's archive key (`fraud run`
    alone, on its first start)."""

    pipeline: str = SEPARATE
    stages: Sequence[str] = (ALL,)
    group_prefix: str = DEFAULT_GROUP_PREFIX
    model_dir: Path | None = None
    migrate: bool = False
    interactive: bool = False
    makes_archive_key: bool = False


def bootstrap(settings: Settings, process: Process = Process()) -> Container:
    """The container every entrypoint uses: the settings, and what this process runs."""
    container = Container()
    container.config.from_dict(
        {
            **settings.to_dict(),
            "model_dir": str(process.model_dir or settings.model_dir),
            "pipeline": process.pipeline,
            "stages": tuple(process.stages),
            "group_prefix": process.group_prefix,
            "interactive": process.interactive,
            "makes_archive_key": process.makes_archive_key,
        }
    )
    if process.migrate:
        container.migrator().upgrade()
    return container
