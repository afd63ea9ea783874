from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

FRAUD = str(Path(sys.executable).with_name("fraud"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fraud_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "FRAUD_LOG_FORMAT": "json", **overrides}
    env.pop("FRAUD_BROKER", None)
    return env


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A model trained through the real command, small enough to be quick."""
    directory = tmp_path_factory.mktemp("e2e") / "model"
    result = subprocess.run(
        [FRAUD, "train", "--samples", "4000", "--epochs", "3", "--model-dir", str(directory)],
        env=fraud_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()


def start_service(tmp_path: Path, model_dir: Path, timeout: float = 300.0) -> Service:
    port = free_port()
    log_path = tmp_path / "service.log"
    env = fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}")
    process = subprocess.Popen(
        [FRAUD, "run", "--port", str(port), "--model-dir", str(model_dir)],
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"fraud run exited with {process.returncode}:\n{log_path.read_text()[-5000:]}"
            )
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return Service(url, process, log_path)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"fraud run did not become healthy:\n{log_path.read_text()[-5000:]}")


def stop_service(service: Service) -> int:
    service.process.send_signal(signal.SIGTERM)
    try:
        return service.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.process.kill()
        raise


@pytest.fixture
def service(tmp_path, small_model) -> Iterator[Service]:
    running = start_service(tmp_path, small_model)
    yield running
    if running.process.poll() is None:
        stop_service(running)
