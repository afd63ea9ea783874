"""The identity store's contract (keys, accounts, sessions, secrets, the audit log), held
by the SQL adapter on a migrated SQLite file and PostgreSQL database, and by the in-memory
fake alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.identity import SqlIdentityQueries
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.identity import (
    Account,
    ApiKey,
    AuditAction,
    AuditEvent,
    Kind,
    Principal,
    RateLimit,
    Role,
    SignedIn,
)
from fraud.domain.ports import AuditQueries, IdentityQueries, UnitOfWorkFactory, VerdictQueries
from tests.factories import txn
from tests.postgres import BACKENDS, migrated_url_for

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


class Queries(IdentityQueries, AuditQueries, VerdictQueries):
    """Everything read here."""


@dataclass(frozen=True)
class Store:
    unit_of_work: UnitOfWorkFactory
    queries: Queries


class _SqlReads(SqlIdentityQueries, SqlQueries):
    def __init__(self, engine: Engine) -> None:
        SqlIdentityQueries.__init__(self, engine)
        SqlQueries.__init__(self, engine)


@pytest.fixture(params=[*BACKENDS, "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    """The SQL store on each backend, its schema from the migrations, and the in-memory fake."""
    if request.param == "memory":
        memory = InMemoryStore()
        return Store(memory, memory)  # type: ignore[arg-type]
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    return Store(SqlUnitOfWorkFactory(engine), _SqlReads(engine))  # type: ignore[arg-type]


def key(name: str, digest: str, at: datetime = T0, **overrides) -> ApiKey:
    return ApiKey(name, Role.SUBMITTER, digest, at, "tests", **overrides)


def account(name: str, at: datetime = T0, role: Role = Role.ANALYST) -> Account:
    return Account(name, role, "$argon2id$hash-of-" + name, at, "tests")


def session(digest: str, name: str, expires: datetime) -> SignedIn:
    return SignedIn(digest, Principal(name, Role.ANALYST, Kind.USER), T0, expires)


def test_a_key_is_found_by_its_digest_and_its_name_is_taken_for_good(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.identities.add_key(key("gateway", "d1", rate_limit=RateLimit(60, "minute")))
        assert not uow.identities.add_key(key("gateway", "d2"))
        uow.commit()
    found = store.queries.key("d1")
    assert found == key("gateway", "d1", rate_limit=RateLimit(60, "minute"))
    assert store.queries.key("d2") is None

    with store.unit_of_work() as uow:
        assert uow.identities.revoke_key("gateway", T0 + timedelta(hours=1))
        assert not uow.identities.revoke_key("gateway", T0 + timedelta(hours=2))
        assert not uow.identities.revoke_key("nobody", T0)
        assert not uow.identities.add_key(key("gateway", "d3"))  # revoked names stay taken
        uow.commit()
    assert store.queries.key("d1").revoked_at == T0 + timedelta(hours=1)


def test_keys_and_accounts_are_listed_newest_first(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.identities.add_key(key("older", "d1", T0))
        uow.identities.add_key(key("newer", "d2", T0 + timedelta(minutes=1)))
        uow.identities.add_account(account("ann", T0))
        uow.identities.add_account(account("ben", T0 + timedelta(minutes=1)))
        uow.commit()
    assert [k.name for k in store.queries.keys()] == ["newer", "older"]  # noqa: SIM118
    assert [a.name for a in store.queries.accounts()] == ["ben", "ann"]
    assert store.queries.account("ann") == account("ann", T0)
    assert store.queries.account("nobody") is None


def test_a_session_lives_until_closed_or_its_person_changes(store: Store) -> None:
    later = T0 + timedelta(hours=8)
    with store.unit_of_work() as uow:
        uow.identities.add_account(account("ann"))
        for digest in ("s1", "s2", "s3"):
            uow.identities.open_session(session(digest, "ann", later))
        uow.commit()
    opened = store.queries.session("s1")
    assert opened is not None and opened.principal == Principal("ann", Role.ANALYST, Kind.USER)
    assert opened.expires_at == later

    with store.unit_of_work() as uow:
        assert uow.identities.close_session("s1")
        assert not uow.identities.close_session("s1")
        uow.commit()
    assert store.queries.session("s1") is None
    assert store.queries.session("s2") is not None

    with store.unit_of_work() as uow:
        assert uow.identities.set_password("ann", "$argon2id$new")
        uow.commit()
    assert store.queries.session("s2") is None  # a new password signs out everywhere
    assert store.queries.account("ann").password_hash == "$argon2id$new"


def test_revoking_a_person_closes_their_sessions(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.identities.add_account(account("ann"))
        uow.identities.open_session(session("s1", "ann", T0 + timedelta(hours=1)))
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.identities.revoke_account("ann", T0)
        assert not uow.identities.revoke_account("ann", T0)
        assert not uow.identities.set_password("ann", "x")
        uow.commit()
    assert store.queries.session("s1") is None
    assert store.queries.account("ann").revoked_at == T0


def test_expired_sessions_are_closed(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.identities.add_account(account("ann"))
        uow.identities.open_session(session("old", "ann", T0))
        uow.identities.open_session(session("new", "ann", T0 + timedelta(hours=1)))
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.identities.close_expired_sessions(T0) == 1
        uow.commit()
    assert store.queries.session("old") is None
    assert store.queries.session("new") is not None


def test_the_first_secret_stored_is_everyones(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.identities.secret("signing", "first") == "first"
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.identities.secret("signing", "second") == "first"
        uow.commit()


def test_the_audit_log_appends_in_order_and_pages_back(store: Store) -> None:
    events = [
        AuditEvent(T0 + timedelta(seconds=i), "ann", AuditAction.LABEL, f"t{i}", "10.0.0.1")
        for i in range(5)
    ]
    with store.unit_of_work() as uow:
        uow.audit.append(events[:3])
        uow.commit()
    with store.unit_of_work() as uow:
        uow.audit.append(events[3:])
        uow.commit()
    latest = store.queries.audit(3)
    assert [e.target for e in latest] == ["t4", "t3", "t2"]
    assert latest[0].id > latest[1].id > latest[2].id
    older = store.queries.audit(10, before=latest[-1].id)
    assert [e.target for e in older] == ["t1", "t0"]
    assert older[0] == AuditEvent(
        T0 + timedelta(seconds=1), "ann", AuditAction.LABEL, "t1", "10.0.0.1", id=older[0].id
    )


def test_nothing_is_kept_unless_the_unit_of_work_commits(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.identities.add_key(key("gateway", "d1"))
        uow.audit.append([AuditEvent(T0, "ann", AuditAction.KEY_CREATED, "key:gateway", "cli")])
    assert store.queries.key("d1") is None
    assert store.queries.audit(10) == []


def test_who_submitted_a_transaction_is_kept_through_its_verdict(store: Store) -> None:
    record = TransactionRecord(txn(1), T0, submitted_by="key:gateway")
    with store.unit_of_work() as uow:
        uow.verdicts.claim([record])
        uow.commit()
    transaction_id = record.transaction.transaction_id
    assert store.queries.get(transaction_id).submitted_by == "key:gateway"

    verdict = Assessment(transaction_id, 0.2, Decision.APPROVE, ("fine",), "m1", T0)
    scored = TransactionRecord(txn(1), T0, Status.SCORED, verdict, recorded_at=T0)
    with store.unit_of_work() as uow:  # the record stage knows nothing of who submitted it
        assert uow.verdicts.decide([scored]) == {transaction_id}
        uow.commit()
    decided = store.queries.get(transaction_id)
    assert decided.status is Status.SCORED
    assert decided.submitted_by == "key:gateway"
