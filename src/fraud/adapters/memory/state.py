"""The in-memory store's state, and a unit of work's staged view of it.

A unit of work reads and writes an overlay of the state; its writes are kept as
functions and applied again, in order, to the shared state as it is at commit,
like a database transaction.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

from fraud.domain.assessment import Assessment, LabelChange, TransactionRecord
from fraud.domain.canary import CanaryStep
from fraud.domain.cases import DEFAULT_QUEUE, Case, CaseEvent, CaseNote, Queue
from fraud.domain.identity import Account, ApiKey, AuditEvent, SignedIn
from fraud.domain.lists import ListChange, ListEntry, ValueList
from fraud.domain.monitoring import Bucket
from fraud.domain.registry import RegisteredModel, RoleChange, StoredArchive, ThresholdsChange
from fraud.domain.rules import Rule, RuleChange, RuleHealth
from fraud.domain.webhooks import Attempt, Delivery, Subscription


def _default_queue() -> dict[str, Queue]:
    """What the store starts with, as the migrations make it: the default queue."""
    return {DEFAULT_QUEUE: Queue(DEFAULT_QUEUE, description="every review no other queue takes")}


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    """A delivery in the outbox and who holds it until when (None: nobody)."""

    delivery: Delivery
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass
class State:
    """What the store holds: rows by id, and beside them the outbox marks, the ledger's
    versions, the label history, the dead letters replayed, and identities and their audit
    log."""

    rows: MutableMapping[str, TransactionRecord] = field(default_factory=dict)
    published: MutableMapping[str, datetime | None] = field(default_factory=dict)
    versions: MutableMapping[str, tuple[Assessment, ...]] = field(default_factory=dict)
    label_history: MutableMapping[str, tuple[LabelChange, ...]] = field(default_factory=dict)
    replays: MutableMapping[str, datetime] = field(default_factory=dict)
    keys: MutableMapping[str, ApiKey] = field(default_factory=dict)
    accounts: MutableMapping[str, Account] = field(default_factory=dict)
    sessions: MutableMapping[str, SignedIn] = field(default_factory=dict)
    secrets: MutableMapping[str, str] = field(default_factory=dict)
    audit: MutableMapping[int, AuditEvent] = field(default_factory=dict)
    rules: MutableMapping[str, Rule] = field(default_factory=dict)
    rule_changes: MutableMapping[int, RuleChange] = field(default_factory=dict)
    models: MutableMapping[str, tuple[RegisteredModel, StoredArchive]] = field(default_factory=dict)
    model_roles: MutableMapping[int, RoleChange] = field(default_factory=dict)
    model_thresholds: MutableMapping[int, ThresholdsChange] = field(default_factory=dict)
    model_canary: MutableMapping[int, CanaryStep] = field(default_factory=dict)
    # Drift tallies: (model version, hour, name) -> count per bin.
    drift: MutableMapping[tuple[str, datetime, str], tuple[int, ...]] = field(default_factory=dict)
    # Rules' tallies: (rule, period) -> how the rule fared then.
    rule_tallies: MutableMapping[tuple[str, datetime], RuleHealth] = field(default_factory=dict)
    # Review cases: queues by name, cases by id (and which transaction opened which), their
    # notes and histories.
    queues: MutableMapping[str, Queue] = field(default_factory=_default_queue)
    cases: MutableMapping[int, Case] = field(default_factory=dict)
    case_of: MutableMapping[str, int] = field(default_factory=dict)
    case_notes: MutableMapping[int, tuple[CaseNote, ...]] = field(default_factory=dict)
    case_events: MutableMapping[int, tuple[CaseEvent, ...]] = field(default_factory=dict)
    # Value lists: each with its version, its entries by (list, value), its changes.
    lists: MutableMapping[str, ValueList] = field(default_factory=dict)
    list_versions: MutableMapping[str, int] = field(default_factory=dict)
    list_entries: MutableMapping[tuple[str, str], ListEntry] = field(default_factory=dict)
    list_changes: MutableMapping[tuple[str, int], ListChange] = field(default_factory=dict)
    # Webhooks: subscriptions with their secrets, the outbox, the attempts.
    subscriptions: MutableMapping[int, tuple[Subscription, str]] = field(default_factory=dict)
    deliveries: MutableMapping[int, HeldDelivery] = field(default_factory=dict)
    attempts: MutableMapping[int, Attempt] = field(default_factory=dict)

    def overlay(self) -> State:
        """A view whose writes stay in it: what a unit of work reads and writes."""
        return State(*(dict(getattr(self, part.name)) for part in fields(self)))


Write = Callable[[State], object]


class Staged:
    """A unit of work's view of the state, and the writes to apply to the shared state (as it
    is then) on commit."""

    def __init__(self, state: State, activity: Sequence[tuple[datetime, Bucket]]) -> None:
        self.state = state
        self.activity = activity
        self.writes: list[Write] = []
        self.logged: list[tuple[datetime, Bucket]] = []
        self.pruned_before: datetime | None = None

    def write(self, write: Write) -> object:
        self.writes.append(write)
        return write(self.state)

    def clear(self) -> None:
        """Forget the pending writes: applied, or rolled back."""
        self.writes.clear()
        self.logged.clear()
        self.pruned_before = None
