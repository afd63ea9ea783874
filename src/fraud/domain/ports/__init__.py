"""The ports: what the core needs from the outside world, named for the need.

Adapters implement these protocols; use cases receive them as arguments. Each
module holds one concern; everything is importable from here.
"""

from fraud.domain.ports.drift import BinCounter, DriftLog, DriftQueries
from fraud.domain.ports.identity import (
    AuditLog,
    AuditQueries,
    Identities,
    IdentityQueries,
    PasswordHasher,
)
from fraud.domain.ports.messaging import (
    AssignedPartition,
    AssignmentListener,
    Message,
    MessageBus,
    MessageConsumer,
    MessageFollower,
    OutgoingMessage,
    Serializer,
    Topic,
)
from fraud.domain.ports.models import (
    ArchiveSeal,
    Attributed,
    Fitted,
    FraudModel,
    ModelArchives,
    ModelQueries,
    ModelRegistry,
    ModelStore,
    ModelTrainer,
    Scorer,
    TrainingData,
)
from fraud.domain.ports.operations import (
    EvaluationCharts,
    LabelledFiles,
    Progress,
    SchemaMigrator,
    Simulator,
    TopicAdmin,
    TopicOutcome,
)
from fraud.domain.ports.rules import (
    CompiledRules,
    RuleCompiler,
    RuleQueries,
    RuleRepository,
    RuleTallies,
)
from fraud.domain.ports.storage import (
    ActivityLog,
    ActivityQueries,
    DeadLetterReplays,
    LabelRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    VerdictQueries,
    VerdictRepository,
)
from fraud.domain.ports.system import Clock, PipelineMetrics
from fraud.domain.ports.tracing import TRACEPARENT, Tracer

__all__ = [
    "TRACEPARENT",
    "ActivityLog",
    "ActivityQueries",
    "ArchiveSeal",
    "AssignedPartition",
    "AssignmentListener",
    "Attributed",
    "AuditLog",
    "AuditQueries",
    "BinCounter",
    "Clock",
    "CompiledRules",
    "DeadLetterReplays",
    "DriftLog",
    "DriftQueries",
    "EvaluationCharts",
    "Fitted",
    "FraudModel",
    "Identities",
    "IdentityQueries",
    "LabelRepository",
    "LabelledFiles",
    "Message",
    "MessageBus",
    "MessageConsumer",
    "MessageFollower",
    "ModelArchives",
    "ModelQueries",
    "ModelRegistry",
    "ModelStore",
    "ModelTrainer",
    "OutgoingMessage",
    "PasswordHasher",
    "PipelineMetrics",
    "Progress",
    "RuleCompiler",
    "RuleQueries",
    "RuleRepository",
    "RuleTallies",
    "SchemaMigrator",
    "Scorer",
    "Serializer",
    "Simulator",
    "Topic",
    "TopicAdmin",
    "TopicOutcome",
    "Tracer",
    "TrainingData",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "VerdictQueries",
    "VerdictRepository",
]
