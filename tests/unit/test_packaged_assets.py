"""The pages' scripts and stylesheets travel with the package: each one a page loads is a file
of the package, kept in git (so a clone, an sdist and a wheel all carry it, and `pip install .`
needs no npm) and named by the package data, the vendored ones beside their licenses."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "fraud"
HTTP = PACKAGE / "entrypoints" / "http"
STATIC_URL = re.compile(r"url_for\('static', filename='([^']+)'\)")


def loaded_by_pages() -> set[str]:
    return {
        found
        for template in (HTTP / "templates").glob("*.html")
        for found in STATIC_URL.findall(template.read_text())
    }


def test_every_page_loads_only_files_the_package_has() -> None:
    loaded = loaded_by_pages()
    assert {"vendor/chart.umd.min.js", "vendor/swagger-ui-bundle.js", "dashboard.js"} <= loaded
    for name in loaded:
        assert (HTTP / "static" / name).is_file(), name


def test_the_package_data_names_every_file_a_page_loads() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["fraud"]
    for name in loaded_by_pages():
        relative = f"entrypoints/http/static/{name}"
        assert any(fnmatch(relative, pattern) for pattern in globs), relative


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_git_keeps_every_file_a_page_loads_so_a_clone_has_them() -> None:
    names = [f"src/fraud/entrypoints/http/static/{name}" for name in sorted(loaded_by_pages())]
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tracked.returncode == 0, tracked.stderr
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout == "", f"ignored, so a new file there would not be committed: {ignored}"


def test_each_vendored_library_ships_with_its_license() -> None:
    vendor = HTTP / "static" / "vendor"
    assert "MIT License" in (vendor / "chart.js.LICENSE.md").read_text()
    assert "Apache License" in (vendor / "swagger-ui.LICENSE").read_text()
    # The bundle's first line points at the licenses of what it bundles.
    assert "swagger-ui-bundle.js.LICENSE.txt" in (vendor / "swagger-ui-bundle.js").open().readline()
    assert (vendor / "swagger-ui-bundle.js.LICENSE.txt").is_file()
