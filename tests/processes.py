"""Run `fraud` commands as real processes, as a user would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

FRAUD = str(Path(sys.executable).with_name("fraud"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fraud_env(**overrides: str) -> dict[str, str]:
    """The environment of a `fraud` process: JSON logs, the embedded bus unless overridden."""
    env = {**os.environ, "FRAUD_LOG_FORMAT": "json"}
    for name in ("FRAUD_BROKER", "FRAUD_TOPIC_PREFIX", "FRAUD_DATABASE_URL", "FRAUD_MODEL_DIR"):
        env.pop(name, None)
    return {**env, **overrides}


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()


def start_service(
    tmp_path: Path,
    model_dir: Path,
    timeout: float = 300.0,
    *,
    command: str = "run",
    **env_overrides: str,
) -> Service:
    """``fraud run`` (or ``command``, e.g. ``serve``) on a free port, once it is healthy."""
    port = free_port()
    log_path = tmp_path / f"{command}.log"
    env = fraud_env(**{"FRAUD_DATABASE_URL": f"sqlite:///{tmp_path / 'fraud.db'}", **env_overrides})
    process = subprocess.Popen(
        [FRAUD, command, "--port", str(port), "--model-dir", str(model_dir)],
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"fraud {command} exited with {process.returncode}:\n"
                + log_path.read_text()[-5000:]
            )
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return Service(url, process, log_path)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"fraud {command} did not become healthy:\n{log_path.read_text()[-5000:]}")


def stop_service(service: Service) -> int:
    service.process.send_signal(signal.SIGTERM)
    try:
        return service.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.process.kill()
        raise


def non_json_lines(output: str) -> list[str]:
    """The lines of a process's output that are not one JSON event each."""
    lines = []
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if not isinstance(event, dict) or "event" not in event:
            lines.append(line)
    return lines
