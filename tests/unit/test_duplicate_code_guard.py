"""The duplicate-code guard of `make lint` (lint/ratchet.py): pylint's similarity engine on
sources whose imports and signatures are blanked out, as pylint's own check leaves them out.
"""

from __future__ import annotations

from pathlib import Path

from lint.ratchet import MIN_SIMILAR_LINES, duplicates

BODY = "".join(
    f"    total = total * {n} + len(items) - {n}\n" for n in range(MIN_SIMILAR_LINES + 1)
)
# What two modules may share without it counting: the imports, a method's decorator and
# signature, and its docstring, each longer than the guard's lines, so that any of them
# counted would be found.
SHARED = """\
from collections import abc, deque, Counter
from typing import (
    Any,
    Callable,
    Iterable,
    Mapping,
)


class Handler:
    @staticmethod
    def handle(
        first: int,
        second: int,
        third: int,
        fourth: int,
        fifth: int,
    ) -> int:
        \"\"\"Sums
        the five
        numbers
        given
        here.
        \"\"\"
        return {result}
"""


def package(tmp_path: Path, **modules: str) -> Path:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)
    return root


def test_the_same_lines_in_two_modules_are_found_with_how_many(tmp_path) -> None:
    body = f"def {{name}}(items: list[int]) -> int:\n    total = 0\n{BODY}    return total\n"
    found = duplicates(
        package(tmp_path, one=body.format(name="first"), two=body.format(name="second"))
    )
    assert found == {"pkg.one pkg.two": MIN_SIMILAR_LINES + 3}


def test_shared_imports_signatures_and_docstrings_are_not_duplicates(tmp_path) -> None:
    one, two = SHARED.format(result="first + second"), SHARED.format(result="third - fifth")
    assert duplicates(package(tmp_path, one=one, two=two)) == {}
