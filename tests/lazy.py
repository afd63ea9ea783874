"""Modules imported on first use, for test modules whose tests need TensorFlow: collecting
them (which every run does, the fast tier included) then costs no TensorFlow import."""

from __future__ import annotations

import importlib
from types import ModuleType


class Lazily(ModuleType):
    """Stands for the module ``name`` (or the module it holds as ``attribute``) and imports it
    on the first attribute read."""

    def __init__(self, name: str, attribute: str | None = None) -> None:
        super().__init__(name if attribute is None else f"{name}.{attribute}")
        self._module_name = name
        self._attribute = attribute

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # pytest and inspect probe dunders: the module is not theirs
            raise AttributeError(name)
        module = importlib.import_module(self._module_name)
        held = module if self._attribute is None else getattr(module, self._attribute)
        return getattr(held, name)


def lazily(name: str, attribute: str | None = None) -> ModuleType:
    return Lazily(name, attribute)
