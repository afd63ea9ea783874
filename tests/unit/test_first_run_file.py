"""The first start's credentials file (issue 24, finding 8): owner-only, and never written
through a link or a folder others may write in."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click
import pytest

from fraud.containers import Container
from fraud.entrypoints.cli.access import first_run
from fraud.entrypoints.cli.context import CliContext
from fraud.owner_only import UnsafePath, write_owner_only
from fraud.settings import Settings

URL = "http://127.0.0.1:5000"


def without_terminal(path: Path) -> CliContext:
    """`fraud run` under a service manager: JSON logs, the secrets go to the file."""
    return CliContext(Settings(log_format="json", first_run_file=str(path)))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_credentials_are_written_owner_only_in_a_folder_made_owner_only(
    container: Container, tmp_path: Path
) -> None:
    path = tmp_path / "state" / "first-run-credentials.txt"
    first_run(without_terminal(path), container, URL)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert "password:" in path.read_text()


def test_a_symlink_at_the_path_is_refused_and_nothing_is_written_or_made(
    container: Container, tmp_path: Path
) -> None:
    target = tmp_path / "attacker-readable.txt"
    target.write_text("before\n")
    path = tmp_path / "first-run-credentials.txt"
    path.symlink_to(target)

    with pytest.raises(click.ClickException) as refused:
        first_run(without_terminal(path), container, URL)

    assert refused.value.exit_code == 2
    assert f"{path} is a symbolic link" in refused.value.message
    assert "Nothing was made" in refused.value.message
    assert target.read_text() == "before\n"
    assert container.manage_accounts().list() == []  # a later start can still make them


def test_a_dangling_symlink_is_refused_without_creating_its_target(tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    path = tmp_path / "credentials.txt"
    path.symlink_to(target)
    with pytest.raises(UnsafePath, match="is a symbolic link"):
        write_owner_only(path, "secret")
    assert not target.exists()


def test_a_hard_link_to_another_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("keep me\n")
    path = tmp_path / "credentials.txt"
    os.link(other, path)
    with pytest.raises(UnsafePath, match="another hard link"):
        write_owner_only(path, "secret")
    assert other.read_text() == "keep me\n"


def test_a_folder_others_may_write_in_is_refused_unless_sticky(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePath, match="may be written by other accounts"):
        write_owner_only(shared / "credentials.txt", "secret")
    assert not (shared / "credentials.txt").exists()

    shared.chmod(0o1777)  # as /tmp: others cannot remove or rename our file
    write_owner_only(shared / "credentials.txt", "secret")
    assert (shared / "credentials.txt").read_text() == "secret"


def test_a_file_left_from_before_is_rewritten_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "credentials.txt"
    path.write_text("an older and longer text\n")
    path.chmod(0o644)
    write_owner_only(path, "new")
    assert path.read_text() == "new"
    assert mode(path) == 0o600
