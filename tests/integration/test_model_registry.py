"""The model registry in the SQL store (SQLite and PostgreSQL, schema from the migrations)
and in the in-memory fake, held to one contract through its use cases: the first model
registered becomes the champion, a promotion and a rollback change who decides and are
kept in the history, the challenger is never the champion, and the revision moves with
every change. In the SQL store, an archive whose row was rewritten is refused unless the
archive key signed it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.registry import SqlModelQueries
from fraud.adapters.sqlalchemy.tables import audit_events, models
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.adapters.system.archive_seal import HmacArchiveSeal
from fraud.application.archives import SignArchives, SignedArchives
from fraud.application.models import ManageModels, RegisterModel
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.registry import (
    AlteredArchive,
    ModelRole,
    RoleRefused,
    UnknownModel,
    UnsignedArchive,
)
from tests.archive_keys import seal_for_tests
from tests.fakes import FixedClock, RuleModel, RuleModelArchives
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

ALICE = Actor("alice", "test")


@pytest.fixture(params=[*BACKENDS, "memory"])
def registry(request: pytest.FixtureRequest) -> tuple[RegisterModel, ManageModels, object]:
    """Registering, managing, and the read side, on one store."""
    clock = FixedClock(datetime(2026, 12, 3, 10, tzinfo=UTC))
    if request.param == "memory":
        memory = InMemoryStore()
        unit_of_work, queries = memory, memory
    else:
        url = migrated_url_for(request.param, request)
        engine = create_engine_for(url)
        request.addfinalizer(engine.dispose)
        unit_of_work, queries = SqlUnitOfWorkFactory(engine), SqlModelQueries(engine)
    register = RegisterModel(unit_of_work, clock, seal_for_tests())
    manage = ManageModels(unit_of_work, queries, clock)
    return _Registering(register, clock), manage, queries


class _Registering:
    """Registers rule models a second apart, so the newest is listed first."""

    def __init__(self, register: RegisterModel, clock: FixedClock) -> None:
        self.register = register
        self.clock = clock

    def __call__(self, version: str):
        self.clock.advance(1)
        model = RuleModel(version)
        return self.register(model.info, RuleModelArchives.pack(model), ALICE)


def test_the_first_model_registered_decides_and_later_ones_wait(registry) -> None:
    register, manage, queries = registry
    assert queries.roles().champion is None and queries.roles().revision == 0

    assert register("m1").champion
    second = register("m2")
    assert not second.champion
    assert queries.roles().champion == "m1"
    assert [(e.model.version, e.role) for e in manage.models()] == [
        ("m2", None),
        ("m1", ModelRole.CHAMPION),
    ]
    assert queries.archive("m2").content == b"m2"
    assert queries.model("m2").info.thresholds.review == 0.5
    assert queries.model("m2").registered_by == "alice"
    again = register("m1")  # the same version again registers nothing new
    assert not again.champion and len(manage.models()) == 2


def test_promotion_and_rollback_change_who_decides_and_stay_in_the_history(registry) -> None:
    register, manage, queries = registry
    register("m1")
    register("m2")
    before = queries.roles().revision

    promoted = manage.promote("m2", ALICE)
    assert (promoted.version, promoted.previous) == ("m2", "m1")
    assert queries.roles().champion == "m2" and queries.roles().revision > before
    with pytest.raises(RoleRefused, match="champion already"):
        manage.promote("m2", ALICE)
    with pytest.raises(UnknownModel):
        manage.promote("m9", ALICE)

    rolled = manage.rollback(ALICE)
    assert (rolled.version, rolled.previous) == ("m1", "m2")
    assert queries.roles().champion == "m1"
    history = [(c.role, c.version, c.previous, c.by) for c in manage.history()]
    assert history == [
        (ModelRole.CHAMPION, "m1", None, "alice"),
        (ModelRole.CHAMPION, "m2", "m1", "alice"),
        (ModelRole.CHAMPION, "m1", "m2", "alice"),
    ]


def test_a_rollback_needs_an_earlier_champion(registry) -> None:
    register, manage, _ = registry
    with pytest.raises(RoleRefused):
        manage.rollback(ALICE)
    register("m1")
    with pytest.raises(RoleRefused, match="no earlier champion"):
        manage.rollback(ALICE)


def test_the_challenger_is_never_the_champion(registry) -> None:
    register, manage, queries = registry
    register("m1")
    register("m2")
    with pytest.raises(RoleRefused, match="cannot challenge itself"):
        manage.challenge("m1", ALICE)

    manage.challenge("m2", ALICE)
    assert (queries.roles().champion, queries.roles().challenger) == ("m1", "m2")
    assert manage.get("m2").role is ModelRole.CHALLENGER

    manage.promote("m2", ALICE)  # the challenger won: it decides, and challenges no more
    assert (queries.roles().champion, queries.roles().challenger) == ("m2", None)
    manage.challenge("m1", ALICE)
    manage.end_challenge(ALICE)
    assert queries.roles().challenger is None
    with pytest.raises(RoleRefused, match="no challenger"):
        manage.end_challenge(ALICE)


# --- archives signed with the archive key, in the SQL store ---------------------------------


@pytest.fixture(params=BACKENDS)
def sql_registry(request: pytest.FixtureRequest, clock) -> tuple[Engine, SqlModelQueries]:
    """A SQL registry holding models m1 and m2, registered as `fraud train` does, with the
    tests' archive key; and its engine, to write the rows as an attacker with database
    access would."""
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    queries = SqlModelQueries(engine)
    register = RegisterModel(SqlUnitOfWorkFactory(engine), clock, seal_for_tests())
    for version in ("m1", "m2"):
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ALICE)
    return engine, queries


def rewrite(engine: Engine, version: str, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(update(models).where(models.c.version == version).values(**values))


def test_a_stored_archive_altered_or_unsigned_is_refused_and_only_the_key_loads_it(
    sql_registry,
) -> None:
    engine, queries = sql_registry
    right, wrong = seal_for_tests(), HmacArchiveSeal(b"\x99" * 32)
    assert SignedArchives(queries, RuleModelArchives(), right).load("m1").info.version == "m1"
    with pytest.raises(AlteredArchive, match="another archive key"):
        SignedArchives(queries, RuleModelArchives(), wrong).load("m1")

    # One byte changed, and its SHA-256 written again, as anyone able to write the row can.
    altered = b"m" + bytes([ord("1") ^ 0x40])
    rewrite(engine, "m1", archive=altered, archive_sha256=hashlib.sha256(altered).hexdigest())
    with pytest.raises(AlteredArchive, match="changed in the database"):
        SignedArchives(queries, RuleModelArchives(), right).load("m1")

    rewrite(engine, "m2", archive_signature=None)
    with pytest.raises(UnsignedArchive):
        SignedArchives(queries, RuleModelArchives(), right).load("m2")
    assert [(m.version, m.signed) for m in queries.models()] == [("m2", False), ("m1", True)]


def test_an_unsigned_archive_is_signed_once_in_the_sql_store(sql_registry, clock) -> None:
    engine, queries = sql_registry
    rewrite(engine, "m2", archive_signature=None)  # as registered before signing
    sign = SignArchives(SqlUnitOfWorkFactory(engine), queries, seal_for_tests(), clock)

    assert sign(["m2"], ALICE).signed == ["m2"]
    assert SignedArchives(queries, RuleModelArchives(), seal_for_tests()).load("m2")
    assert sign(None, ALICE).signed == []  # both hold their signature now
    with engine.connect() as connection:
        actions = connection.execute(
            select(audit_events.c.action, audit_events.c.target).where(
                audit_events.c.action == AuditAction.MODEL_SIGNED.value
            )
        ).all()
    assert [tuple(row) for row in actions] == [("model.signed", "m2")]
