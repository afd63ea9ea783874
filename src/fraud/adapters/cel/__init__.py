"""Rules' expressions in the Common Expression Language (CEL).

The ``cel`` package is imported here, before any module of this one imports it, and without
its command line: its ``__init__`` imports its REPL too (``cel.cli``: typer, prompt_toolkit,
rich's syntax highlighting), 0.13 s of CPU in every process that compiles a rule or a
queue's condition, for a tool the service never runs. A stand-in holds the REPL's place
while the package imports, and is taken away after: an ``import cel.cli`` elsewhere still
gets the real one.
"""

from __future__ import annotations

import sys
from types import ModuleType

from fraud.adapters.imports import kept_out


def _import_cel_without_its_cli() -> None:
    if "cel" in sys.modules:
        return
    with kept_out({"cel.cli": ModuleType("cel.cli")}):
        import cel
    del cel.cli


_import_cel_without_its_cli()
