"""The guards that keep src from growing worse, run by `make lint`: ruff's complexity and size
rules and pylint's duplicate-code check, each against a baseline of the findings there were
when the guard came in.

    python lint/ratchet.py           fail on a finding the baseline does not hold, on one
                                     that grew, and on a baseline entry nothing matches now
    python lint/ratchet.py --shrink  drop from the baselines what is fixed (never adds)

A finding is named by where it is, not by its line: a function (``path::Class.function``)
and the rule, or for duplicate code the modules that share lines. Its figure (complexity,
branches, statements, arguments, similar lines) may fall but never rise. A fixed one must
leave the baseline in the same change, so the baseline only ever shrinks.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCE = "src/fraud"
# C901 over 12; PLR0912, PLR0915, PLR0913 at ruff's defaults (12 branches, 50 statements,
# 5 arguments), all set in pyproject.toml.
RUFF_RULES = "C901,PLR0912,PLR0915,PLR0913"
RUFF_OUTPUT = ("--output-format", "json", "--exit-zero", "--no-cache")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MIN_SIMILAR_LINES = PYPROJECT["tool"]["pylint"]["similarities"]["min-similarity-lines"]
COMPLEXITY = ROOT / "lint" / "complexity-baseline.txt"
DUPLICATES = ROOT / "lint" / "duplicate-code-baseline.txt"
FIGURE = re.compile(r"\((\d+) > \d+\)")
SIMILAR = re.compile(r"^==([\w.]+):\[(\d+):(\d+)\]$", re.MULTILINE)

Findings = dict[str, int]  # name -> figure


def complexity() -> Findings:
    """ruff's findings in src: ``path::function RULE`` -> the measured figure."""
    output = subprocess.run(
        [str(BIN / "ruff"), "check", SOURCE, "--select", RUFF_RULES, *RUFF_OUTPUT],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    findings: Findings = {}
    for finding in json.loads(output):
        path = Path(finding["filename"]).resolve().relative_to(ROOT)
        function = function_at(path, finding["location"]["row"])
        figure = FIGURE.search(finding["message"])
        findings[f"{path}::{function} {finding['code']}"] = int(figure.group(1)) if figure else 0
    return findings


def function_at(path: Path, row: int) -> str:
    """The qualified name of the function defined on ``row`` of ``path``."""
    for name, line in definitions(path):
        if line == row:
            return name
    return f"line {row}"


@cache
def definitions(path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child.lineno))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse((ROOT / path).read_text()), "")
    return found


def duplicates(package: Path = ROOT / SOURCE) -> Findings:
    """pylint's duplicate-code findings in ``package``: the modules sharing lines -> how
    many.

    pylint's own engine (``Symilar``) with the options its check reads from pyproject.toml,
    fed the sources with their imports and function signatures blanked out, the lines that
    check leaves out: pylint finds them in an astroid tree of every module, which took 33 s
    of CPU here (the whole of `make lint` but 7 s); Python's own ast finds them in under
    one. The lines compared are the same as pylint's, for every module of src, tests and
    ten libraries; the modules are read in name order, where pylint reads them in the
    file system's, so where overlapping similarities tie the one named is the same on
    every machine.
    """
    from pylint.checkers.symilar import Symilar  # here: the tests import this module

    similar = Symilar(min_lines=MIN_SIMILAR_LINES, ignore_comments=True, ignore_docstrings=True)
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        similar.append_stream(module.removesuffix(".__init__"), io.StringIO(blanked(path)))
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        similar.run()
    findings: Findings = {}
    for block in report.getvalue().split("\n\n"):
        places = SIMILAR.findall(block)
        if places:
            name = " ".join(sorted(module for module, _, _ in places))
            lines = max(int(end) - int(start) for _, start, end in places)
            findings[name] = max(findings.get(name, 0), lines)
    return findings


def blanked(path: Path) -> str:
    """``path``'s source with the lines pylint's check ignores emptied: every import, and
    each function's signature (from its first decorator to its first statement after the
    docstring), in functions at module level and in class and function bodies, as pylint
    walks them."""
    source = path.read_text()
    tree = ast.parse(source)
    ignored: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            ignored.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))

    def signatures(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                code = node.body[1:] if is_docstring(node.body[0]) else node.body
                ignored.update(range(first, code[0].lineno if code else node.end_lineno + 1))
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                signatures(node.body)

    signatures(tree.body)
    lines = source.splitlines(keepends=True)
    return "".join(
        "\n" if n in ignored and not quoting(line) else line
        for n, line in enumerate(lines, start=1)
    )


def quoting(line: str) -> bool:
    """Whether pylint would read ``line`` as opening or closing a docstring: it reads
    docstrings from the text, before it leaves out a line, so such a line is left for it."""
    text = line.strip()
    return text.startswith(('"""', "'''", 'r"""', "r'''")) or text.endswith(('"""', "'''"))


def is_docstring(statement: ast.stmt) -> bool:
    """Whether ``statement`` is a docstring (astroid keeps it apart from the body)."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def read(baseline: Path) -> Findings:
    entries: Findings = {}
    for line in baseline.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, figure = line.rsplit(" ", 1)
            entries[name] = int(figure)
    return entries


def write(baseline: Path, entries: Findings) -> None:
    header = [line for line in baseline.read_text().splitlines() if line.startswith("#")]
    body = [f"{name} {figure}" for name, figure in sorted(entries.items())]
    baseline.write_text("\n".join([*header, *body]) + "\n")


def compare(what: str, baseline: Path, found: Findings) -> list[str]:
    allowed = read(baseline)
    problems = [
        f"{what}: new: {name} ({figure})" for name, figure in found.items() if name not in allowed
    ]
    problems += [
        f"{what}: grew: {name} ({allowed[name]} -> {figure})"
        for name, figure in found.items()
        if name in allowed and figure > allowed[name]
    ]
    problems += [
        f"{what}: fixed, take it out of {baseline.relative_to(ROOT)} "
        f"(python lint/ratchet.py --shrink): {name}"
        for name in allowed
        if name not in found
    ]
    return problems


def shrink(baseline: Path, found: Findings) -> None:
    allowed = read(baseline)
    kept = {name: min(allowed[name], found[name]) for name in allowed if name in found}
    write(baseline, kept)


def report(problems: Iterable[str]) -> int:
    listed = list(problems)
    for problem in listed:
        print(problem, file=sys.stderr)
    if listed:
        print(
            "Split the function or share the code rather than raising a baseline "
            "(lint/ratchet.py says why).",
            file=sys.stderr,
        )
    return 1 if listed else 0


def main(arguments: list[str]) -> int:
    guards = (
        ("complexity", COMPLEXITY, complexity()),
        ("duplicate code", DUPLICATES, duplicates()),
    )
    if arguments == ["--shrink"]:
        for _, baseline, found in guards:
            shrink(baseline, found)
    return report(
        problem for what, baseline, found in guards for problem in compare(what, baseline, found)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
