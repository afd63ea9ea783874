"""What a test run makes once and every test shares, whichever pytest-xdist worker asks
first: the others wait for it, then read the same folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

DONE = ".complete"


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of this whole run: under xdist, the parent of every worker's own
    (``pytest-N/popen-gwK``), else this process's (never ``pytest-of-USER``, which other runs
    on the machine share)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """The folder ``name`` of this run, filled by ``make(folder)`` the first time any worker
    asks for it. A ``make`` that fails leaves nothing behind, so the next one tries again."""
    root = run_folder(tmp_path_factory)
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (folder / DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                make(folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            (folder / DONE).touch()
    return folder
