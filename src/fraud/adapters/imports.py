"""Importing a library without the parts of it the project never uses.

Some libraries import, whenever they can, modules only their extras need (Keras's
scikit-learn wrappers, CEL's REPL), and pay seconds or tenths of a second of CPU for them in
every process. While such a library imports, :func:`kept_out` makes those modules resolve
to a stand-in, or to nothing (an ``ImportError``, as if they were not installed); afterwards
they import again as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def kept_out(modules: Mapping[str, ModuleType | None]) -> Iterator[None]:
    """While inside, importing a name of ``modules`` not yet imported gives the stand-in it
    maps to, or raises ImportError where that is None; afterwards the name imports as usual.
    One already imported stays as it is."""
    kept = {name: stand_in for name, stand_in in modules.items() if name not in sys.modules}
    sys.modules.update(kept)  # type: ignore[arg-type]  # None: the import system's "absent"
    try:
        yield
    finally:
        for name, stand_in in kept.items():
            if sys.modules.get(name, False) is stand_in:
                del sys.modules[name]
