"""Registered archives are signed with the archive key and checked before a model is loaded
from one: an archive altered, moved to another version, stripped of its signature or signed
with another key is refused (logged with the model's version, never the key) and a worker
keeps the models it has; archives from before signing are signed once, by an admin who
holds the key, and a signature is never replaced."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.system.archive_seal import HmacArchiveSeal
from fraud.application.archives import SignArchives, SignedArchives
from fraud.application.models import LiveModels, ManageModels, RegisterModel
from fraud.domain.errors import ModelTampered, TransientFailure
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.registry import (
    AlteredArchive,
    RoleRefused,
    SignatureCheck,
    UnknownModel,
    UnsignedArchive,
)
from tests.archive_keys import TEST_ARCHIVE_KEY, seal_for_tests
from tests.fakes import FixedClock, RuleModel, RuleModelArchives

ADMIN = Actor("cli:admin", "ops-host")
OTHER_KEY = HmacArchiveSeal(b"\x42" * 32)


def registered(store: InMemoryStore, clock: FixedClock, *versions: str) -> None:
    register = RegisterModel(store, clock, seal_for_tests())
    for version in versions:
        clock.advance(1)
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ADMIN)


def tamper(store: InMemoryStore, version: str, **changes: object) -> None:
    """What a writer of the database can do to a registered archive."""
    model, archive = store.state.models[version]
    store.state.models[version] = (model, replace(archive, **changes))


def loader(store: InMemoryStore, seal: HmacArchiveSeal | None = None) -> SignedArchives:
    return SignedArchives(store, RuleModelArchives(), seal or seal_for_tests())


def test_a_model_loads_only_from_an_archive_whose_signature_holds(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1", "m2")
    assert loader(store).load("m1").info.version == "m1"  # the right key

    with pytest.raises(AlteredArchive, match="signed with another archive key") as wrong:
        loader(store, OTHER_KEY).load("m1")
    assert wrong.value.check is SignatureCheck.OTHER_KEY

    content = store.state.models["m1"][1].content
    tamper(store, "m1", content=content[:-1] + bytes([content[-1] ^ 1]))  # one byte
    with pytest.raises(AlteredArchive, match="changed in the database after it was signed"):
        loader(store).load("m1")

    tamper(store, "m2", signature=None)  # stripped
    with pytest.raises(UnsignedArchive, match="`fraud models sign m2`"):
        loader(store).load("m2")


def test_an_archive_and_its_signature_moved_to_another_version_are_refused(clock) -> None:
    """The signature covers the version: m1's row cannot be made to serve m2's model."""
    store = InMemoryStore()
    registered(store, clock, "m1", "m2")
    tamper(store, "m1", **vars_of(store.state.models["m2"][1]))
    with pytest.raises(AlteredArchive):
        loader(store).load("m1")
    assert seal_for_tests().check("m2", b"m2", seal_for_tests().sign("m1", b"m2")) is (
        SignatureCheck.ALTERED
    )


def vars_of(archive) -> dict[str, object]:
    return {"content": archive.content, "signature": archive.signature}


def test_a_refusal_is_logged_with_the_version_and_never_the_key(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1")
    tamper(store, "m1", content=b"an attacker's model")
    with capture_logs() as logs, pytest.raises(ModelTampered):
        loader(store).load("m1")
    refused = [entry for entry in logs if entry["event"] == "model archive refused"]
    assert refused == [
        {
            "event": "model archive refused",
            "log_level": "error",
            "model_version": "m1",
            "signature": "altered",
        }
    ]
    assert TEST_ARCHIVE_KEY not in repr(logs) and TEST_ARCHIVE_KEY not in repr(seal_for_tests())


def test_a_worker_keeps_its_champion_when_the_promoted_archive_is_refused(clock) -> None:
    store, archives = InMemoryStore(), RuleModelArchives()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, SignedArchives(store, archives, seal_for_tests()), refresh_s=0.0)
    assert live.current().champion.version == "m1"

    tamper(store, "m2", content=b"m-evil")
    ManageModels(store, store, clock).promote("m2", ADMIN)
    with capture_logs() as logs:
        assert live.current().champion.version == "m1"
    assert archives.unpacked == ["m1"]  # the altered archive was never unpacked
    events = [entry["event"] for entry in logs]
    assert "model archive refused" in events
    assert "the registry's champion could not be loaded; the models in hand stay" in events


def test_a_worker_starting_on_an_unsigned_champion_decides_nothing(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1")
    tamper(store, "m1", signature=None)
    live = LiveModels(store, loader(store), refresh_s=0.0)
    with pytest.raises(TransientFailure, match="not signed"):
        live.current()


def test_no_role_goes_to_a_model_whose_archive_is_unsigned(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1", "m2", "m3")
    tamper(store, "m2", signature=None)
    manage = ManageModels(store, store, clock)
    assert manage.get("m2").model.signed is False and manage.get("m3").model.signed is True
    with pytest.raises(RoleRefused, match="`fraud models sign m2`"):
        manage.promote("m2", ADMIN)
    with pytest.raises(RoleRefused, match="not signed"):
        manage.challenge("m2", ADMIN)
    assert store.roles().champion == "m1" and store.roles().challenger is None


def test_an_admin_signs_the_archives_from_before_signing_once_and_audited(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "old1", "old2", "new")
    for version in ("old1", "old2"):
        tamper(store, version, signature=None)
    sign = SignArchives(store, store, seal_for_tests(), clock)

    done = sign(None, ADMIN)

    assert sorted(done.signed) == ["old1", "old2"] and done.already == ["new"]
    assert loader(store).load("old1").info.version == "old1"
    events = [e for e in store.audit(10) if e.action is AuditAction.MODEL_SIGNED]
    assert sorted(e.target for e in events) == ["old1", "old2"]
    digest = hashlib.sha256(b"old1").hexdigest()
    assert {e.detail for e in events if e.target == "old1"} == {f"archive sha256 {digest}"}
    assert {(e.actor, e.source) for e in events} == {("cli:admin", "ops-host")}

    again = sign(["old1"], ADMIN)  # a signature is never made twice
    assert again.signed == [] and again.already == ["old1"]
    assert len([e for e in store.audit(10) if e.action is AuditAction.MODEL_SIGNED]) == 2


def test_an_archive_whose_signature_fails_is_never_signed_again_and_nothing_is(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "old", "altered")
    tamper(store, "old", signature=None)
    tamper(store, "altered", content=b"an attacker's model")
    sign = SignArchives(store, store, seal_for_tests(), clock)

    with pytest.raises(AlteredArchive, match="altered"):
        sign(None, ADMIN)
    with pytest.raises(AlteredArchive):
        sign(["altered"], ADMIN)

    assert store.state.models["old"][1].signature is None  # nothing was signed
    assert not [e for e in store.audit(10) if e.action is AuditAction.MODEL_SIGNED]


def test_an_admin_holding_another_key_signs_nothing(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "old", "new")
    tamper(store, "old", signature=None)
    with pytest.raises(AlteredArchive, match="another archive key"):
        SignArchives(store, store, OTHER_KEY, clock)(None, ADMIN)
    assert store.state.models["old"][1].signature is None


def test_signing_an_unknown_version_is_refused(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1")
    with pytest.raises(UnknownModel):
        SignArchives(store, store, seal_for_tests(), clock)(["m1", "m9"], ADMIN)


def test_an_archive_key_is_at_least_32_bytes() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        HmacArchiveSeal(b"\x01" * 31)
