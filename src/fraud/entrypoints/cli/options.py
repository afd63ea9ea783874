"""Options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fraud.entrypoints.cli.context import CliContext


def model_dir_option(command: Any) -> Any:
    return click.option(
        "--model-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Model directory [default: $FRAUD_MODEL_DIR or var/model].",
    )(command)


def use_model_dir(ctx: CliContext, model_dir: Path | None) -> None:
    if model_dir is not None:
        ctx.container.config.model_dir.from_value(str(model_dir))
