"""A registered model's archive is unpacked only within limits, whatever its headers claim:
a zip bomb (small compressed, huge declared or actual size), a path that climbs out, an
absolute path, a link, too many members or one a model directory never has are refused
before anything is loaded; a real model's archive unpacks and scores as it was saved."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from fraud.adapters.tensorflow.archive import ArchiveLimits, MiB, unpack
from fraud.domain.errors import ModelTampered
from fraud.domain.features import replay
from tests.integration.test_keras_model import labelled
from tests.lazy import lazily

# The archive's limits are checked before Keras loads anything, but what a registry keeps
# of a model directory (its members) is named beside the Keras model store.
pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

store = lazily("fraud.adapters.tensorflow.store")


def small() -> dict[str, bytes]:
    """An archive's every member, each a tiny placeholder."""
    return {name: b"{}" for name in store.ARCHIVED_FILES}


def zipped(members: dict[str, bytes], *, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def refused(archive: bytes, directory: Path, limits: ArchiveLimits | None = None) -> str:
    directory.mkdir(exist_ok=True)
    with pytest.raises(ModelTampered) as refusal:
        unpack(archive, directory, store.ARCHIVED_FILES, *(() if limits is None else (limits,)))
    return str(refusal.value)


def written(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.parent.rglob("*") if path.is_file())


def test_a_zip_bomb_is_refused_from_its_declared_size_before_a_byte_is_written(
    tmp_path,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in store.ARCHIVED_FILES[1:]:
            archive.writestr(name, b"{}")
        with archive.open(store.ARCHIVED_FILES[0], "w", force_zip64=True) as member:
            for _ in range(600):  # 600 MiB of zeros: about 600 KB compressed
                member.write(bytes(MiB))
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * MiB

    assert "unpacks to more than 256 MiB" in refused(bomb, tmp_path / "model")
    assert written(tmp_path / "model") == 0


def understated(archive: bytes, name: str, size: int) -> bytes:
    """``archive`` with ``name``'s uncompressed size given as ``size`` in its local and
    central headers, as a bomb's maker would write them."""
    data = bytearray(archive)
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = data.find(signature)
        while start >= 0:
            if data[start + name_at : start + name_at + len(name)] == name.encode():
                struct.pack_into("<I", data, start + size_at, size)
            start = data.find(signature, start + 4)
    return bytes(data)


def test_a_bomb_whose_headers_understate_its_size_stops_at_what_they_declare(tmp_path) -> None:
    bomb = understated(zipped({**small(), "model.keras": bytes(64 * MiB)}), "model.keras", 1000)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.getinfo("model.keras").file_size == 1000  # what it claims

    reason = refused(bomb, tmp_path / "model")
    assert "not a readable zip" in reason and "CRC" in reason
    assert written(tmp_path / "model") < MiB


def test_members_that_expand_far_more_than_a_models_files_are_refused(tmp_path) -> None:
    bomb = zipped({**small(), "model.keras": bytes(16 * MiB)}, level=9)  # about 1,000:1
    assert "expands" in refused(bomb, tmp_path / "model")


def test_members_adding_up_past_the_total_are_refused(tmp_path) -> None:
    members = {**small(), "model.keras": bytes(MiB), "model.json": bytes(MiB)}
    limits = ArchiveLimits(member_bytes=MiB, total_bytes=2 * MiB, ratio=10_000.0)
    assert "add up to more than 2 MiB" in refused(zipped(members), tmp_path / "over", limits)

    (tmp_path / "within").mkdir()
    room = ArchiveLimits(member_bytes=MiB, total_bytes=3 * MiB, ratio=10_000.0)
    unpack(zipped(members), tmp_path / "within", store.ARCHIVED_FILES, room)
    assert (tmp_path / "within" / "model.keras").read_bytes() == bytes(MiB)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../model.keras", "climbs out of the model directory"),
        ("model/../../evil", "climbs out of the model directory"),
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/evil", "absolute path"),
        ("nested/model.keras", "not a plain file name"),
        ("extra.bin", "not a file of a model directory"),
    ],
)
def test_a_member_outside_the_model_directory_is_refused(tmp_path, name, reason) -> None:
    assert reason in refused(zipped({**small(), name: b"evil"}), tmp_path / "model")
    assert written(tmp_path / "model") == 0
    assert not (tmp_path / "evil").exists() and not (tmp_path / "model.keras").exists()


def test_a_symbolic_link_is_refused(tmp_path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in small().items():
            if name != "model.json":
                archive.writestr(name, content)
        link = zipfile.ZipInfo("model.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert "symbolic link" in refused(buffer.getvalue(), tmp_path / "model")


def test_too_many_duplicated_or_missing_members_are_refused(tmp_path) -> None:
    many = zipped({**small(), **{f"m{i}": b"" for i in range(20)}})
    assert "more than 16" in refused(many, tmp_path / "many")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in small().items():
            archive.writestr(name, content)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("model.json", b"{}")
    assert "appears twice" in refused(buffer.getvalue(), tmp_path / "twice")

    missing = zipped({k: v for k, v in small().items() if k != "manifest.json"})
    assert "lacks manifest.json" in refused(missing, tmp_path / "missing")
    assert "not a readable zip" in refused(b"not a zip at all", tmp_path / "garbage")


@pytest.fixture
def saved(small_model: Path):
    """A real model's directory: the run's shared small model (any trained model will do)."""
    return store.KerasModelStore(small_model)


def test_a_real_models_archive_unpacks_and_scores_as_saved(saved) -> None:
    loaded = store.KerasModelArchives().unpack(saved.archive())
    features = replay([row.transaction for row in labelled(count=50)])
    assert loaded.info == saved.card()
    assert loaded.score(features) == pytest.approx(saved.load().score(features), abs=1e-6)


def test_a_bomb_is_refused_before_keras_loads_anything(tmp_path) -> None:
    bomb = zipped({**small(), "model.keras": bytes(16 * MiB)}, level=9)
    with pytest.raises(ModelTampered, match="refused"):
        store.KerasModelArchives().unpack(bomb)


def test_an_encrypted_member_is_refused(tmp_path) -> None:
    archive = bytearray(zipped(small()))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        start = archive.find(signature)
        while start >= 0:
            archive[start + flags_at] |= 0x1  # "encrypted": it takes a password to read
            start = archive.find(signature, start + 4)
    assert "not a readable zip" in refused(bytes(archive), tmp_path / "model")
