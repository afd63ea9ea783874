"""A model directory as one archive for the registry: packed as a zip of its files, and
unpacked only within limits, whatever the archive claims.

The archive comes from the database, so it is checked as input from outside would be
before a byte is written: a flat list of the files training writes, no links, no paths,
and sizes far above a real model's refused both as declared and as actually read (a zip
bomb's headers may lie). No TensorFlow here: what is refused is refused before Keras is
imported.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fraud.domain.errors import ModelTampered

MiB = 1 << 20
_CHUNK = MiB


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What an archive may unpack to. A trained model's archive holds five files and a
    few MiB; the limits leave room for much larger networks and none for a bomb."""

    members: int = 16
    member_bytes: int = 256 * MiB
    total_bytes: int = 512 * MiB
    # Uncompressed over compressed size: the Keras file hardly compresses and the JSON
    # files compress about 5:1; zip bombs expand 1,000:1. Small members are let be.
    ratio: float = 100.0
    ratio_from_bytes: int = MiB


LIMITS = ArchiveLimits()


def pack(directory: Path, names: Iterable[str]) -> bytes:
    """The files ``names`` of ``directory`` as one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(directory / name, arcname=name)
    return buffer.getvalue()


def unpack(
    archive: bytes, directory: Path, names: Iterable[str], limits: ArchiveLimits = LIMITS
) -> None:
    """Write the files ``names`` of ``archive`` into ``directory`` (empty), refusing an
    archive that holds anything else or more than ``limits`` allow."""
    expected = set(names)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as files:
            members = files.infolist()
            _check(members, expected, limits)
            written = 0
            for member in members:
                written += _extract(files, member, directory / member.filename, limits, written)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as broken:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression
        raise _refused(f"it is not a readable zip ({broken})") from None


def _check(members: list[zipfile.ZipInfo], expected: set[str], limits: ArchiveLimits) -> None:
    if len(members) > limits.members:
        raise _refused(f"it holds {len(members)} members, more than {limits.members}")
    seen: set[str] = set()
    declared = 0
    for member in members:
        name = member.filename
        _check_name(name)
        if stat.S_ISLNK(member.external_attr >> 16):
            raise _refused(f"member {name!r} is a symbolic link")
        if member.is_dir() or name not in expected:
            raise _refused(f"member {name!r} is not a file of a model directory")
        if name in seen:
            raise _refused(f"member {name!r} appears twice")
        seen.add(name)
        _check_size(name, member.file_size, member.compress_size, limits)
        declared += member.file_size
        if declared > limits.total_bytes:
            raise _refused(f"its members add up to more than {limits.total_bytes // MiB} MiB")
    missing = sorted(expected - seen)
    if missing:
        raise _refused(f"it lacks {', '.join(missing)}")


def _check_name(name: str) -> None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise _refused(f"member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise _refused(f"member {name!r} climbs out of the model directory ('..')")
    if len(parts) > 1 or not name or "\0" in name:
        raise _refused(f"member {name!r} is not a plain file name")


def _check_size(name: str, size: int, compressed: int, limits: ArchiveLimits) -> None:
    if size > limits.member_bytes:
        raise _refused(f"member {name!r} unpacks to more than {limits.member_bytes // MiB} MiB")
    if size >= limits.ratio_from_bytes and size > limits.ratio * max(compressed, 1):
        raise _refused(
            f"member {name!r} expands {size / max(compressed, 1):,.0f} times, more than a "
            f"model's files ever do ({limits.ratio:g})"
        )


def _extract(
    files: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    target: Path,
    limits: ArchiveLimits,
    written_before: int,
) -> int:
    """Copy one member, counting what is actually read against the limits."""
    written = 0
    with files.open(member) as source, target.open("xb") as sink:
        while block := source.read(_CHUNK):
            written += len(block)
            if written > limits.member_bytes or written_before + written > limits.total_bytes:
                raise _refused(f"member {member.filename!r} unpacks to more than it declared")
            sink.write(block)
    return written


def _refused(why: str) -> ModelTampered:
    return ModelTampered(f"a registered model's archive is refused: {why}")
