"""A module kept out while a library imports: absent (or a stand-in) only inside, and one
already imported stays (fraud.adapters.imports)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fraud.adapters.imports import kept_out


def test_a_module_is_absent_only_inside_and_one_already_imported_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fraud_probe_hidden.py").write_text("VALUE = 1\n")
    (tmp_path / "fraud_probe_kept.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import fraud_probe_kept  # type: ignore[import-not-found]

        with kept_out(dict.fromkeys(("fraud_probe_hidden", "fraud_probe_kept"))):
            with pytest.raises(ImportError):
                import fraud_probe_hidden  # type: ignore[import-not-found]
            assert sys.modules["fraud_probe_kept"] is fraud_probe_kept

        import fraud_probe_hidden  # type: ignore[import-not-found]

        assert fraud_probe_hidden.VALUE == 1
    finally:
        sys.modules.pop("fraud_probe_hidden", None)
        sys.modules.pop("fraud_probe_kept", None)
