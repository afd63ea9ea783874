"""The model card in a model directory, read without loading TensorFlow.

The dashboard shows which model is in use from the card alone, so the web
process never pays for importing TensorFlow just to print a version.
"""

from __future__ import annotations

import json
from pathlib import Path

from fraud.domain.model import ModelInfo

INFO_FILE = "model.json"


def read_card(directory: str | Path) -> ModelInfo | None:
    """The card of the model in ``directory``; None when no model was saved there."""
    path = Path(directory) / INFO_FILE
    try:
        return ModelInfo.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
