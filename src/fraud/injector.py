"""dependency-injector, imported without pydantic-settings.

Its providers module imports pydantic-settings whenever it is installed, for
``Configuration.from_pydantic``, which the service never calls: 0.08 s of CPU in every
process. The test tools install it (openapi-spec-validator), the service does not. Its
import is refused while dependency-injector imports, and only then.
"""

from __future__ import annotations

import sys


def _import_without_pydantic_settings() -> None:
    if "dependency_injector.providers" in sys.modules or "pydantic_settings" in sys.modules:
        return
    sys.modules["pydantic_settings"] = None  # type: ignore[assignment]  # import raises
    try:
        import dependency_injector.providers  # noqa: F401
    finally:
        del sys.modules["pydantic_settings"]


_import_without_pydantic_settings()

from dependency_injector import containers, providers  # noqa: E402

__all__ = ["containers", "providers"]
