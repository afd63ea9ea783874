"""How long a rule change takes to decide transactions: measured from outside `fraud run`.

Starts `fraud run` on a fresh database, then, ``--changes`` times: adds (or disables) a
decline rule through the API and sends a matching purchase every ``--every`` seconds until
one comes back decided under the change; reports, for each change, how long after the
API's answer the first such purchase was sent. The score stage looks at the rule set's
version at most once a second, so this is at most about a second plus one batch.

    python benchmarks/rule_propagation.py --model-dir var/model --changes 10
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from fraud.containers import Process, bootstrap
from fraud.domain.identity import Actor, Role
from fraud.settings import Settings

FRAUD = str(Path(sys.executable).with_name("fraud"))
RULE = {
    "name": "hold-corner-grocery",
    "expression": 'tx.merchant == "Corner Grocery"',
    "action": "decline",
    "reason": "held",
}


def keys(database_url: str) -> dict[Role, str]:
    container = bootstrap(Settings(database_url=database_url), Process(migrate=True))
    try:
        manage = container.manage_keys()
        by = Actor("bench", "rule_propagation")
        return {role: manage.create(f"bench-{role}", role, by).secret for role in Role}
    finally:
        container.shutdown_resources()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def decided(http: requests.Session, url: str, transaction_id: str) -> dict:
    while True:
        answer = http.get(f"{url}/transaction/{transaction_id}", timeout=5).json()
        if answer["status"] == "scored":
            return answer
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("var/model"))
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/fraud.db"
        secrets = keys(database)
        port = free_port()
        env = {
            **os.environ,
            "FRAUD_DATABASE_URL": database,
            "FRAUD_LOG_FORMAT": "json",
            "FRAUD_FIRST_RUN_FILE": f"{folder}/first-run.txt",
        }
        env.pop("FRAUD_BROKER", None)
        with Path(folder, "run.log").open("w") as log:
            service = subprocess.Popen(
                [FRAUD, "run", "--port", str(port), "--model-dir", str(args.model_dir)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        submitter, analyst = requests.Session(), requests.Session()
        submitter.headers["Authorization"] = f"Bearer {secrets[Role.SUBMITTER]}"
        analyst.headers["Authorization"] = f"Bearer {secrets[Role.ANALYST]}"
        try:
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.2)
            delays = []
            for change in range(args.changes):
                active = change % 2 == 0
                if change == 0:
                    answer = analyst.post(f"{url}/api/rules", json=RULE, timeout=10)
                else:
                    mode = {"mode": "active" if active else "disabled"}
                    answer = analyst.patch(f"{url}/api/rules/{RULE['name']}", json=mode)
                answer.raise_for_status()
                changed = time.monotonic()
                while True:
                    transaction_id = uuid.uuid4().hex
                    body = {
                        "transaction_id": transaction_id,
                        "user_id": f"user-{change}",
                        "amount": 20.0,
                        "merchant": "Corner Grocery",
                        "timestamp": "2026-03-02T10:00:00Z",
                        "merchant_type": "grocery",
                        "device_type": "pos",
                        "location_match": 1,
                    }
                    sent = time.monotonic()
                    submitter.post(f"{url}/transaction", json=body, timeout=5).raise_for_status()
                    reasons = decided(submitter, url, transaction_id).get("reasons") or [""]
                    ruled = reasons[0] == RULE["reason"]
                    if ruled == active:
                        delays.append(sent - changed)
                        break
                    time.sleep(args.every)
                print(
                    f"change {change + 1} ({'on' if active else 'off'}): the first purchase "
                    f"decided under it was sent {1000 * delays[-1]:.0f} ms after the change"
                )
            print(
                f"over {len(delays)} changes: median {1000 * statistics.median(delays):.0f} ms, "
                f"max {1000 * max(delays):.0f} ms"
            )
        finally:
            service.terminate()
            service.wait(timeout=30)


if __name__ == "__main__":
    main()
