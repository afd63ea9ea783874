"""Run `fraud` commands as real processes, as a user would."""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from fraud.containers import Process, bootstrap
from fraud.domain.identity import Actor, Role
from fraud.settings import Settings
from tests.archive_keys import TEST_ARCHIVE_KEY

FRAUD = str(Path(sys.executable).with_name("fraud"))


# Each xdist worker hands out ports from a block of its own, below the kernel's ephemeral
# range (32768 and up): a port the kernel had picked was free when asked, but an outgoing
# connection of another test could take it before the server bound it (a broker of the
# outage test once failed to start so, with eight workers), and two workers could pick the
# same one. The tests' own services listen below 20000 and from 29092.
PORT_BLOCKS = range(20_000, 28_000, 1_000)


@functools.cache
def _ports() -> Iterator[int]:
    """This process's block of ports, round and round."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = PORT_BLOCKS[worker % len(PORT_BLOCKS)]
    return itertools.cycle(range(start, start + PORT_BLOCKS.step))


def free_port() -> int:
    """A port nothing listens on now, from this process's block, never the same twice."""
    for port in itertools.islice(_ports(), PORT_BLOCKS.step):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in this process's block")


def fraud_env(**overrides: str) -> dict[str, str]:
    """The environment of a `fraud` process: JSON logs, the embedded bus unless overridden,
    and the tests' archive key, which every process of a test shares (an empty
    FRAUD_ARCHIVE_KEY leaves a single host to its own key file)."""
    env = {**os.environ, "FRAUD_LOG_FORMAT": "json", "FRAUD_ARCHIVE_KEY": TEST_ARCHIVE_KEY}
    for name in (
        "FRAUD_BROKER",
        "FRAUD_TOPIC_PREFIX",
        "FRAUD_DATABASE_URL",
        "FRAUD_MODEL_DIR",
        "FRAUD_ARCHIVE_KEY_FILE",
    ):
        env.pop(name, None)
    return {**env, **overrides}


def fraud(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`fraud ARGUMENTS` run to success (in ``fraud_env(**env)``), its output captured."""
    result = subprocess.run(
        [FRAUD, *arguments], env=fraud_env(**env), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    log_path: Path
    keys: dict[Role, str]
    database_url: str

    def logs(self) -> str:
        return self.log_path.read_text()

    def client(self, role: Role = Role.SUBMITTER) -> requests.Session:
        """An HTTP session calling with the key of ``role``."""
        return calling_as(self.keys[role])


# A server closes a keep-alive connection left idle past its timeout (`fraud run`'s: 10 s),
# and a request sent on it as it closes finds it gone ("Remote end closed connection without
# response"). As a browser does, a read is sent once more on a new connection; a write never.
READ_ONCE_MORE = Retry(
    total=1, connect=0, read=1, status=0, redirect=0, allowed_methods=frozenset({"GET", "HEAD"})
)


def session() -> requests.Session:
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=READ_ONCE_MORE)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def calling_as(key: str) -> requests.Session:
    http = session()
    http.headers["Authorization"] = f"Bearer {key}"
    return http


def signed_in(url: str, name: str, password: str) -> requests.Session:
    """A browser-like session signed in through the sign-in form (with its CSRF token)."""
    browser = session()
    form = browser.get(f"{url}/signin", timeout=5).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token, "no CSRF token on the sign-in page"
    answer = browser.post(
        f"{url}/signin",
        data={"name": name, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text[-500:]
    return browser


def add_account(database_url: str, name: str, role: Role, password: str) -> None:
    """A person who signs in, made in-process as `fraud users add` does."""
    container = bootstrap(Settings(database_url=database_url), Process(migrate=True))
    try:
        container.manage_accounts().add(name, role, Actor("tests", "pytest"), password)
    finally:
        container.shutdown_resources()


def issue_keys(database_url: str) -> dict[Role, str]:
    """A key of each role in this database, made in-process the way `fraud keys create`
    does (the service reads keys from the database, so it knows them at once)."""
    container = bootstrap(Settings(database_url=database_url), Process(migrate=True))
    suffix = uuid.uuid4().hex[:8]
    try:
        manage = container.manage_keys()
        by = Actor("tests", "pytest")
        return {role: manage.create(f"tests-{role}-{suffix}", role, by).secret for role in Role}
    finally:
        container.shutdown_resources()


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
    env = fraud_env(
        **{
            "FRAUD_DATABASE_URL": f"sqlite:///{tmp_path / 'fraud.db'}",
            "FRAUD_FIRST_RUN_FILE": str(tmp_path / "first-run-credentials.txt"),
            **env_overrides,
        }
    )
    keys = issue_keys(env["FRAUD_DATABASE_URL"])
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
                return Service(url, process, log_path, keys, env["FRAUD_DATABASE_URL"])
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or too busy starting to answer within the second
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
