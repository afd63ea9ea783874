"""Which archive key a process uses: the configured one always; on a single host (the
embedded bus and a SQLite file) the key file beside the database, made by `fraud run`
alone (0600, O_EXCL, never through a link) and read safely by every other command; a
deployment never falls back to a key of a host's own."""

from __future__ import annotations

import os
import stat

import pytest

from fraud.adapters.system.archive_key import archive_key, local_key_path
from fraud.domain.errors import ArchiveKeyUnavailable, NoLocalArchiveKeyYet
from tests.archive_keys import TEST_ARCHIVE_KEY, archive_key_for_tests

pytestmark = pytest.mark.integration


@pytest.fixture
def database(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'fraud.db'}"


def test_fraud_run_makes_the_key_beside_the_database_once_and_owner_only(
    tmp_path, database
) -> None:
    made = archive_key(None, database, "memory", create=True)
    path = tmp_path / "var" / "archive.key"
    assert len(made) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert archive_key(None, database, "memory", create=True) == made  # kept, not made again
    assert archive_key(None, database, "memory") == made  # what the other commands read


def test_the_other_commands_of_a_single_host_never_make_it(database) -> None:
    with pytest.raises(NoLocalArchiveKeyYet, match="`fraud run` makes it on its first start"):
        archive_key(None, database, "memory")


# A server's URL, never connected to: which key applies is decided from the settings alone.
SERVER = "postgresql+psycopg://fraud:secret@db.internal:5432/fraud"


def test_a_deployment_needs_the_key_it_is_given(database) -> None:
    for url, broker in ((database, "kafka"), (SERVER, "memory")):
        with pytest.raises(ArchiveKeyUnavailable, match="FRAUD_ARCHIVE_KEY is not set") as no:
            archive_key(None, url, broker, create=True)
        assert not isinstance(no.value, NoLocalArchiveKeyYet)
        assert archive_key(archive_key_for_tests(), url, broker) == bytes.fromhex(TEST_ARCHIVE_KEY)
    assert local_key_path("sqlite://", "memory") is None  # nowhere to keep one


def test_a_configured_key_wins_over_the_key_file(tmp_path, database) -> None:
    archive_key(None, database, "memory", create=True)
    assert archive_key(archive_key_for_tests(), database, "memory") == bytes.fromhex(
        TEST_ARCHIVE_KEY
    )


def test_a_link_in_place_of_the_key_file_is_never_followed(tmp_path, database) -> None:
    elsewhere = tmp_path / "attackers.key"
    elsewhere.write_text("ab" * 32)
    elsewhere.chmod(0o600)
    (tmp_path / "var").mkdir(mode=0o700)
    (tmp_path / "var" / "archive.key").symlink_to(elsewhere)
    for create in (False, True):
        with pytest.raises(ArchiveKeyUnavailable, match="symbolic link"):
            archive_key(None, database, "memory", create=create)
    assert elsewhere.read_text() == "ab" * 32  # not written through the link either


def test_a_key_file_others_may_read_or_without_a_key_is_refused(tmp_path, database) -> None:
    archive_key(None, database, "memory", create=True)
    path = tmp_path / "var" / "archive.key"
    path.chmod(0o644)
    with pytest.raises(ArchiveKeyUnavailable, match="chmod 600"):
        archive_key(None, database, "memory")
    path.chmod(0o600)
    path.write_text("too short\n")
    with pytest.raises(ArchiveKeyUnavailable, match="at least 32 random bytes"):
        archive_key(None, database, "memory")


def test_a_key_file_already_there_is_the_key_and_never_replaced(tmp_path, database) -> None:
    (tmp_path / "var").mkdir(mode=0o700)
    path = tmp_path / "var" / "archive.key"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(descriptor, ("cd" * 32 + "\n").encode())
    os.close(descriptor)
    assert archive_key(None, database, "memory", create=True) == bytes.fromhex("cd" * 32)
    assert path.read_text() == "cd" * 32 + "\n"
