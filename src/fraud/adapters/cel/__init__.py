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


def _import_cel_without_its_cli() -> None:
    if "cel" in sys.modules:
        return
    stand_in = ModuleType("cel.cli")
    sys.modules["cel.cli"] = stand_in
    try:
        import cel
    finally:
        del sys.modules["cel.cli"]
    del cel.cli


_import_cel_without_its_cli()
