"""The verdict store's schema as SQLAlchemy Core tables.

One row per transaction_id holds the transaction, where it stands in the
pipeline and, once scored, its verdict. Alembic's revisions in ``migrations/``
create this schema; ``metadata.create_all`` is only for throwaway databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from fraud.domain.assessment import Decision, Status
from fraud.domain.cases import MAX_QUEUE_NAME_LENGTH, CaseAction, CaseStatus, Disposition
from fraud.domain.identity import NAME_MAX_LENGTH, AuditAction, Role
from fraud.domain.lists import MAX_LIST_NAME_LENGTH, MAX_VALUE_LENGTH
from fraud.domain.registry import ModelRole
from fraud.domain.rules import (
    MAX_EXPRESSION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REASON_LENGTH,
    RuleAction,
    RuleMode,
    RuleOnError,
)
from fraud.domain.webhooks import MAX_URL_LENGTH, DeliveryStatus

# Named constraints keep future migrations (and SQLite's batch mode) deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant stored as naive UTC, read back as aware UTC.

    Naive UTC behaves the same on every backend (SQLite has no time zones, and
    ``TIMESTAMP WITHOUT TIME ZONE`` never shifts with a session's zone), and its
    fixed-width text form on SQLite sorts in time order. Naive input is refused
    rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # the usual case, and the hot path of every batch
            return value.replace(tzinfo=None)
        if value.tzinfo is None:
            raise ValueError(f"refusing to store naive datetime {value!r}: give it a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


STATUSES = tuple(status.value for status in Status)
ROLES = tuple(role.value for role in Role)
AUDIT_ACTIONS = tuple(action.value for action in AuditAction)
DECISIONS = tuple(decision.value for decision in Decision)
RULE_ACTIONS = tuple(action.value for action in RuleAction)
RULE_MODES = tuple(mode.value for mode in RuleMode)
RULE_ON_ERROR = tuple(choice.value for choice in RuleOnError)
MODEL_ROLES = tuple(role.value for role in ModelRole)
DELIVERY_STATUSES = tuple(status.value for status in DeliveryStatus)
# Descriptions and reasons people type for queues, lists and subscriptions.
MAX_CASE_TEXT = 200


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


transactions = Table(
    "transactions",
    metadata,
    # The transaction as submitted. Double keeps the float amount exact, so a
    # resubmission compares equal to what was stored (the idempotency check).
    Column("transaction_id", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("amount", Double(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("merchant", String(128), nullable=False),
    Column("timestamp", UtcDateTime(), nullable=False),
    Column("merchant_type", String(64), nullable=False),
    Column("device_type", String(64), nullable=False),
    Column("location_match", Boolean(), nullable=False),
    # Where it stands in the pipeline.
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    # The verdict, present once scored.
    Column("fraud_score", Double(), nullable=True),
    Column("decision", String(16), nullable=True),
    Column("reasons", JSON(none_as_null=True), nullable=True),
    Column("model_version", String(128), nullable=True),
    Column("scored_at", UtcDateTime(), nullable=True),
    Column("latency_ms", Double(), nullable=True),  # denormalised for SQL analytics
    Column("features", JSON(none_as_null=True), nullable=True),
    # The analysts' rules that hit it (active and shadow) and the rule set's version.
    Column("rule_hits", JSON(none_as_null=True), nullable=True),
    Column("rules_version", Integer(), nullable=True),
    # The model's reasons and the share of the risk each carries: [{reason, share}].
    Column("explanation", JSON(none_as_null=True), nullable=True),
    # The rules that failed on it (an error, or cut off by the evaluation budget).
    Column("rule_faults", JSON(none_as_null=True), nullable=True),
    Column("error", Text(), nullable=True),
    # The analyst's label, once given (feedback for precision figures and training).
    Column("label_is_fraud", Boolean(), nullable=True),
    Column("label_analyst", String(64), nullable=True),
    Column("labelled_at", UtcDateTime(), nullable=True),
    # The timeline: when the preprocess stage handled it and the record stage stored it,
    # as milliseconds after receipt (a float binds at a fraction of a datetime's cost).
    Column("preprocessed_ms", Double(), nullable=True),
    Column("recorded_ms", Double(), nullable=True),
    # The outbox: when its message became durable on the bus (None: claimed, not yet).
    Column("published_at", UtcDateTime(), nullable=True),
    # Who submitted it over the API (a principal's subject); None when it came on the topic.
    Column("submitted_by", String(64), nullable=True),
    # Its trace's W3C traceparent (the request that submitted it, or its producer's).
    Column("traceparent", String(55), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint(_one_of("status", STATUSES), name="status"),
    CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
    CheckConstraint("fraud_score >= 0 AND fraud_score <= 1", name="fraud_score"),
    CheckConstraint(
        "decision IS NULL OR (fraud_score IS NOT NULL AND reasons IS NOT NULL"
        " AND model_version IS NOT NULL AND scored_at IS NOT NULL)",
        name="verdict_complete",
    ),
    CheckConstraint("status <> 'scored' OR decision IS NOT NULL", name="scored_has_verdict"),
)

# "Recent": newest first, transaction_id breaking ties within one submitted batch.
Index(
    "ix_transactions_received_at",
    transactions.c.received_at.desc(),
    transactions.c.transaction_id.desc(),
)
# "Recent flagged": the decisions asked for, newest first.
Index(
    "ix_transactions_decision_received_at",
    transactions.c.decision,
    transactions.c.received_at.desc(),
)
# A card's transactions, newest first: its page.
Index(
    "ix_transactions_user_received_at",
    transactions.c.user_id,
    transactions.c.received_at.desc(),
    transactions.c.transaction_id.desc(),
)
# Status look-ups, and status_counts() as a scan of this index alone.
Index("ix_transactions_status_decision", transactions.c.status, transactions.c.decision)
# Event-time order, in keyset pages: the profiles a restart rebuilds, the periods retraining
# reads (without it, each page sorted the whole table).
Index("ix_transactions_timestamp", transactions.c.timestamp, transactions.c.transaction_id)
# The outbox relay's question: claimed, not yet published, oldest first (the order whole in
# the index, or SQLite's planner walks ix_transactions_received_at's published rows instead).
Index(
    "ix_transactions_unpublished",
    transactions.c.received_at,
    transactions.c.transaction_id,
    sqlite_where=transactions.c.published_at.is_(None),
    postgresql_where=transactions.c.published_at.is_(None),
)

# Later scorings of decided transactions: the decision ledger's other versions.
verdict_versions = Table(
    "verdict_versions",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False, index=True),
    Column("fraud_score", Double(), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reasons", JSON(), nullable=False),
    Column("model_version", String(128), nullable=False),
    Column("scored_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("rule_hits", JSON(none_as_null=True), nullable=True),
    Column("rules_version", Integer(), nullable=True),
    # The model's reasons and the share of the risk each carries: [{reason, share}].
    Column("explanation", JSON(none_as_null=True), nullable=True),
    Column("rule_faults", JSON(none_as_null=True), nullable=True),
    # A scoring is its model, decision and score: the same again (a redelivery, a replay
    # through the same model and features) is not a new version. The repository also takes a
    # score within SCORE_TOLERANCE for the same; this refuses exact repeats from racing writers.
    UniqueConstraint("transaction_id", "model_version", "fraud_score"),
    CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
)
# A challenger's scorings, compared with the champion's and read for a review budget.
Index("ix_verdict_versions_model_version", verdict_versions.c.model_version)

# Every label an analyst gave, with the one it replaced; append-only.
label_history = Table(
    "label_history",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False, index=True),
    Column("is_fraud", Boolean(), nullable=False),
    Column("analyst", String(64), nullable=False),
    Column("labelled_at", UtcDateTime(), nullable=False),
    Column("previous_is_fraud", Boolean(), nullable=True),
)

# Dead letters sent back to their source topic, keyed by source position and stage.
dead_letter_replays = Table(
    "dead_letter_replays",
    metadata,
    Column("letter", String(512), primary_key=True),
    Column("replayed_at", UtcDateTime(), nullable=False),
)

# The dashboard's rollup: per batch, the verdicts it recorded tallied by the second they
# were scored in (counts by decision, sparse latency and score histograms as {bin: count}).
verdict_activity = Table(
    "verdict_activity",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("second", UtcDateTime(), nullable=False, index=True),
    Column("approve", Integer(), nullable=False),
    Column("review", Integer(), nullable=False),
    Column("decline", Integer(), nullable=False),
    Column("latency_counts", JSON(), nullable=False),
    Column("score_counts", JSON(), nullable=False),
)


# --- identity and access ------------------------------------------------------------------

# Systems' keys, by the SHA-256 of the secret (the secret is shown once and never stored).
api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(NAME_MAX_LENGTH), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("rate_limit", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint(_one_of("role", ROLES), name="role"),
)

# People who sign in; the password as argon2id's encoded hash.
accounts = Table(
    "accounts",
    metadata,
    Column("name", String(NAME_MAX_LENGTH), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint(_one_of("role", ROLES), name="role"),
)

# Signed-in sessions, by the SHA-256 of the token in the cookie: signing out deletes the row.
sessions = Table(
    "sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("account", String(NAME_MAX_LENGTH), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# Who did what, when, from where, and whether it was allowed; append-only.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", Text(), nullable=False),
    Column("source", String(256), nullable=False),
    Column("succeeded", Boolean(), nullable=False),
    Column("detail", Text(), nullable=False),
    CheckConstraint(_one_of("action", AUDIT_ACTIONS), name="action"),
)

# Secrets every process of the service shares (the key that signs session cookies).
service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)


# --- analysts' rules ------------------------------------------------------------------------


def _rule_columns() -> list[Column[Any]]:
    return [
        Column("expression", Text(), nullable=False),
        Column("action", String(16), nullable=False),
        Column("reason", String(MAX_REASON_LENGTH), nullable=False),
        Column("mode", String(16), nullable=False),
        Column("version", Integer(), nullable=False),
        Column("on_error", String(8), nullable=False, server_default=RuleOnError.SKIP.value),
    ]


def _rule_checks() -> list[CheckConstraint]:
    return [
        CheckConstraint(_one_of("action", RULE_ACTIONS), name="action"),
        CheckConstraint(_one_of("mode", RULE_MODES), name="mode"),
        CheckConstraint(f"length(expression) <= {MAX_EXPRESSION_LENGTH}", name="expression"),
        CheckConstraint(_one_of("on_error", RULE_ON_ERROR), name="on_error"),
    ]


# Each rule as it is now; the scoring workers read the evaluated ones.
rules = Table(
    "rules",
    metadata,
    Column("name", String(MAX_NAME_LENGTH), primary_key=True),
    *_rule_columns(),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("changed_by", String(64), nullable=False),
    *_rule_checks(),
)

# Every version of every rule, append-only; the highest id is the rule set's version.
rule_changes = Table(
    "rule_changes",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME_LENGTH), nullable=False, index=True),
    *_rule_columns(),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("changed_by", String(64), nullable=False),
    UniqueConstraint("name", "version"),
    *_rule_checks(),
)


# --- the model registry ---------------------------------------------------------------------

# Every registered model: its card, and its files as one archive, so every machine of the
# service loads the same model from the database it already shares. The SHA-256 catches
# corruption; the signature (made with the archive key, which is never stored here; NULL:
# registered before signing) catches tampering, and is checked before a worker loads it.
models = Table(
    "models",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("card", JSON(), nullable=False),
    Column("archive", LargeBinary(), nullable=False),
    Column("archive_sha256", String(64), nullable=False),
    Column("archive_signature", String(128), nullable=True),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("registered_by", String(64), nullable=False),
)

# Every change of role, append-only: the latest row of each role says who holds it (a None
# version: nobody), and the highest id is the registry's revision, which workers watch.
model_roles = Table(
    "model_roles",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("role", String(16), nullable=False),
    Column("version", String(128), nullable=True),
    Column("previous", String(128), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
    CheckConstraint(_one_of("role", MODEL_ROLES), name="role"),
)

# Thresholds set for a model after training (a review budget), append-only: the latest of a
# model is in force. Its ids count in the registry's revision too.
model_thresholds = Table(
    "model_thresholds",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("version", String(128), nullable=False, index=True),
    Column("review", Double(), nullable=False),
    Column("decline", Double(), nullable=False),
    Column("budget", JSON(none_as_null=True), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
    CheckConstraint("review >= 0 AND review <= decline AND decline <= 1", name="ordered"),
)


# A canary: the share of cards (0 to 1) the challenger decides, every step kept; the latest for
# the challenger in force is the share. Its ids count in the registry's revision too.
model_canary = Table(
    "model_canary",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("version", String(128), nullable=False, index=True),
    Column("share", Double(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
    Column("reason", Text(), nullable=False),
    CheckConstraint("share >= 0 AND share <= 1", name="share"),
)


# --- drift -------------------------------------------------------------------------------------

# How many recorded verdicts of a model fell in each bin of its drift reference, per feature
# (and "score"), per hour: the last day's drift is a sum of 24 hours, never a scan.
drift_tallies = Table(
    "drift_tallies",
    metadata,
    Column("model_version", String(128), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("bin", Integer(), primary_key=True),
    Column("count", Integer(), nullable=False),
)


# --- rules' health -----------------------------------------------------------------------------

# Per rule and five minutes (``period``: when they start): the verdicts it was evaluated on,
# those on which it raised an error and those the evaluation budget cut it off from (the
# rules page's error rate).
rule_tallies = Table(
    "rule_tallies",
    metadata,
    Column("rule", String(MAX_NAME_LENGTH), primary_key=True),
    Column("period", UtcDateTime(), primary_key=True),
    Column("evaluated", Integer(), nullable=False),
    Column("errors", Integer(), nullable=False),
    Column("cut_off", Integer(), nullable=False),
)


# --- review cases and their queues ------------------------------------------------------------

CASE_STATUSES = tuple(status.value for status in CaseStatus)
DISPOSITIONS = tuple(disposition.value for disposition in Disposition)
CASE_ACTIONS = tuple(action.value for action in CaseAction)

# Where cases wait: the condition that routes a case here (CEL), the SLA in seconds, whether
# declines open cases here, the priority's exponents ({score, amount, waiting}), the routing
# order; ``version`` grows with every change (their sum is the queue set's version).
queues = Table(
    "queues",
    metadata,
    Column("name", String(MAX_QUEUE_NAME_LENGTH), primary_key=True),
    Column("condition", Text(), nullable=False),
    Column("sla_s", Integer(), nullable=False),
    Column("include_declines", Boolean(), nullable=False),
    Column("weights", JSON(), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("description", String(MAX_CASE_TEXT), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("changed_by", String(64), nullable=False),
    CheckConstraint("sla_s > 0", name="sla"),
)

# One case per transaction decided review (or declined, where its queue takes declines): the
# transaction's figures a queue is ordered by, who holds it and how it ended.
cases = Table(
    "cases",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False, unique=True),
    Column("user_id", String(64), nullable=False),
    Column("merchant", String(128), nullable=False),
    Column("amount", Double(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fraud_score", Double(), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("queue", String(MAX_QUEUE_NAME_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("disposition", String(16), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    CheckConstraint(_one_of("status", CASE_STATUSES), name="status"),
    CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
    CheckConstraint(
        f"disposition IS NULL OR {_one_of('disposition', DISPOSITIONS)}", name="disposition"
    ),
    CheckConstraint("status <> 'claimed' OR assignee IS NOT NULL", name="claimed_has_assignee"),
)
# A queue's page and its next case: its cases by status, oldest first.
Index("ix_cases_queue_status_opened_at", cases.c.queue, cases.c.status, cases.c.opened_at)
# A card's other cases.
Index("ix_cases_user_id_status", cases.c.user_id, cases.c.status)
# A merchant's confirmed frauds, on a case's page: only cases resolved as fraud are in it, so
# a case opened writes nothing to it.
Index(
    "ix_cases_merchant_frauds",
    cases.c.merchant,
    sqlite_where=cases.c.disposition == Disposition.FRAUD.value,
    postgresql_where=cases.c.disposition == Disposition.FRAUD.value,
)

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("case_id", Integer(), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
    Column("text", Text(), nullable=False),
)

# Who did what to a case, when (its opening is the case's own row); append-only.
case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("case_id", Integer(), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("detail", Text(), nullable=False),
    CheckConstraint(_one_of("action", CASE_ACTIONS), name="action"),
)


# --- value lists ------------------------------------------------------------------------------

# Each list, and its version: it grows with every change of its entries, taken while the row
# is held, so one list's changes commit in the order of their versions.
value_lists = Table(
    "value_lists",
    metadata,
    Column("name", String(MAX_LIST_NAME_LENGTH), primary_key=True),
    Column("field", String(32), nullable=False),
    Column("description", String(MAX_CASE_TEXT), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
)

# The entries as they are: one per list and value, until removed (an expired one stays until
# then, and matches nothing).
list_entries = Table(
    "list_entries",
    metadata,
    Column("list", String(MAX_LIST_NAME_LENGTH), primary_key=True),
    Column("value", String(MAX_VALUE_LENGTH), primary_key=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("added_at", UtcDateTime(), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("reason", String(MAX_CASE_TEXT), nullable=False),
)

# Every change of a list by version, append-only: what the scoring workers apply.
list_changes = Table(
    "list_changes",
    metadata,
    Column("list", String(MAX_LIST_NAME_LENGTH), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("value", String(MAX_VALUE_LENGTH), nullable=False),
    Column("removed", Boolean(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("by", String(64), nullable=False),
)


# --- webhooks -----------------------------------------------------------------------------

# Where events go. The secret signs them: kept as given, since the service signs with it (an
# API key, which the service only checks, is kept as a digest).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("url", String(MAX_URL_LENGTH), nullable=False),
    Column("events", JSON(), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("description", String(MAX_CASE_TEXT), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("removed_at", UtcDateTime(), nullable=True),
)

# The outbox: one row per event and subscription, written with what the event tells, sent
# (and retried) from here. A sender holds a row it claimed until ``lease_until``.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("subscription_id", Integer(), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("body", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("last_error", Text(), nullable=True),
    UniqueConstraint("subscription_id", "event_id"),
    CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
)
# The sender's question: pending, due first.
Index(
    "ix_webhook_deliveries_status_next_attempt_at",
    webhook_deliveries.c.status,
    webhook_deliveries.c.next_attempt_at,
)

# Every attempt, append-only: a subscription's delivery log.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("delivery_id", Integer(), nullable=False),
    Column("subscription_id", Integer(), nullable=False, index=True),
    Column("event_id", String(36), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("duration_ms", Double(), nullable=False),
)
