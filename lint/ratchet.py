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
import json
import re
import subprocess
import sys
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
PYLINT_OUTPUT = ("--output-format=json2", "--score=n")
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


def duplicates() -> Findings:
    """pylint's duplicate-code findings in src: the modules sharing lines -> how many."""
    output = subprocess.run(
        [str(BIN / "pylint"), "--disable=all", "--enable=duplicate-code", *PYLINT_OUTPUT, SOURCE],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    findings: Findings = {}
    for message in json.loads(output)["messages"]:
        places = SIMILAR.findall(message["message"])
        name = " ".join(sorted(module for module, _, _ in places))
        lines = max(int(end) - int(start) for _, start, end in places)
        findings[name] = max(findings.get(name, 0), lines)
    return findings


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
