"""A single host with no archive key set, as a developer runs it: a model saved before the
first `fraud run` (by `fraud train`, which with no key leaves registering it to that start:
tests/e2e/test_model_commands.py) is registered by that start; `fraud run` makes
`archive.key` beside the database (0600) and signs with it; an archive registered
before signing stops the next start with a message, until `fraud models sign --all`
(which reads the same key file) signs it; the key is never printed or logged."""

from __future__ import annotations

import json
import shutil
import stat

import pytest
from sqlalchemy import create_engine, update

from fraud.adapters.sqlalchemy.tables import models
from tests.e2e.test_rules_service import HABIT
from tests.e2e.test_run_service import wait_for_verdict
from tests.processes import fraud, start_service, stop_service

pytestmark = pytest.mark.e2e

NO_KEY = {"FRAUD_ARCHIVE_KEY": ""}  # as a developer's shell: none set


def test_a_single_host_signs_with_the_key_its_first_fraud_run_makes(tmp_path, small_model) -> None:
    database = f"sqlite:///{tmp_path / 'var' / 'fraud.db'}"
    key_file = tmp_path / "var" / "archive.key"
    model_dir = tmp_path / "model"
    env = {"FRAUD_DATABASE_URL": database, **NO_KEY}
    shutil.copytree(small_model, model_dir)  # saved, registered nowhere yet
    version = json.loads((model_dir / "model.json").read_text())["version"]

    service = start_service(tmp_path, model_dir, **env)
    stop_service(service)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert '"archive key made"' in service.logs()
    listed = fraud("models", "list", **env).stdout
    assert f"{version}  champion" in listed and "unsigned" not in listed

    strip_signature(database, version)  # as the archives registered before signing are
    with pytest.raises(AssertionError, match="exited with 2") as refused:
        start_service(tmp_path, model_dir, **env)
    assert f"model {version}'s archive is not signed" in str(refused.value)
    assert f"fraud models sign {version}" in str(refused.value)
    assert "unsigned" in fraud("models", "list", **env).stdout

    signed = fraud("models", "sign", "--all", **env)
    assert f"{version}: signed" in signed.stdout
    assert "model.signed" in fraud("audit", "list", "--limit", "3", **env).stdout

    service = start_service(tmp_path, model_dir, **env)
    try:
        purchase = {**HABIT, "user_id": "signed-archive", "transaction_id": "signed-1"}
        answer = service.client().post(f"{service.url}/transaction", json=purchase, timeout=5)
        assert answer.status_code == 202, answer.text
        assert wait_for_verdict(service, "signed-1")["model_version"] == version
    finally:
        stop_service(service)
    assert key not in signed.stdout + signed.stderr
    assert key not in service.logs() and key not in str(refused.value)


def strip_signature(database: str, version: str) -> None:
    engine = create_engine(database)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(models).where(models.c.version == version).values(archive_signature=None)
            )
    finally:
        engine.dispose()
