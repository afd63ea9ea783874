"""What the command line imports before it runs a command: every `fraud` process pays for
it (the tests start about 155), so what only some commands use is imported by those."""

from __future__ import annotations

import subprocess
import sys

# Each costs a command that does not use it 0.01 to 0.1 s of CPU.
ONLY_SOME_COMMANDS = ("numpy", "prometheus_client", "cheroot", "tqdm", "sqlalchemy.orm")


def test_the_command_line_imports_no_library_only_some_commands_use() -> None:
    program = (
        "import sys\n"
        "import fraud.entrypoints.cli.main\n"
        f"print([name for name in {ONLY_SOME_COMMANDS!r} if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["[]"]


def test_rules_compile_without_the_cel_packages_own_command_line() -> None:
    """Its REPL (typer, prompt_toolkit) is never imported by the compilers, and whoever
    imports it still gets it."""
    program = (
        "import sys\n"
        "import fraud.adapters.cel.conditions\n"
        "print([name for name in ('typer', 'prompt_toolkit') if name in sys.modules])\n"
        "import cel.cli\n"
        "print(callable(cel.cli.main))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["[]", "True"]
