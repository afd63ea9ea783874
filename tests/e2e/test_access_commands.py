"""`fraud keys`, `fraud users` and `fraud audit` as a person runs them, against the database
of a running `fraud run`: what they create works at once, what they revoke stops working
within a second, and every step is in the audit log."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.processes import FRAUD, Service, calling_as, fraud_env, signed_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def service(shared_service: Service) -> Service:
    """The keys and people these tests make are their own; the service can be the run's."""
    return shared_service


def fraud(service: Service, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FRAUD, *args],
        env=fraud_env(FRAUD_DATABASE_URL=service.database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_key_made_on_the_command_line_works_until_it_is_revoked(service) -> None:
    created = fraud(service, "keys", "create", "--name", "ci-reader", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()  # alone on standard output, for KEY=$(...)
    assert key.startswith("fraud_") and "\n" not in key
    assert "shown only now" in created.stderr
    assert key not in created.stderr  # and nowhere else

    listed = fraud(service, "keys", "list")
    assert "ci-reader" in listed.stdout and key not in listed.stdout
    reader = calling_as(key)
    assert reader.get(f"{service.url}/api/dashboard", timeout=5).status_code == 200

    revoked = fraud(service, "keys", "revoke", "ci-reader")
    assert revoked.returncode == 0, revoked.stderr
    refused_after = None
    since = time.monotonic()
    while time.monotonic() - since < 3:
        if reader.get(f"{service.url}/api/dashboard", timeout=5).status_code == 401:
            refused_after = time.monotonic() - since
            break
    assert refused_after is not None and refused_after < 1.0, refused_after

    again = fraud(service, "keys", "create", "--name", "ci-reader", "--role", "viewer")
    assert again.returncode == 2 and "exists" in again.stderr
    nobody = fraud(service, "keys", "revoke", "nobody")
    assert nobody.returncode == 2 and "no live key named 'nobody'" in nobody.stderr
    bad = fraud(service, "keys", "create", "--name", "has space", "--role", "viewer")
    assert bad.returncode == 2 and "name: must be 1 to 60 characters" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_people_added_on_the_command_line_sign_in_and_the_audit_log_says_so(service) -> None:
    typed = fraud(
        service,
        "users",
        "add",
        "bob",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="a password bob chose\n",
    )
    assert typed.returncode == 0, typed.stderr
    generated = fraud(service, "users", "add", "carol", "--role", "viewer", "--generate-password")
    password = generated.stdout.strip()
    assert generated.returncode == 0 and len(password) >= 12

    bob = signed_in(service.url, "bob", "a password bob chose")
    assert bob.get(f"{service.url}/api/dashboard", timeout=5).status_code == 200
    carol = signed_in(service.url, "carol", password)
    assert carol.get(f"{service.url}/admin", timeout=5).status_code == 403

    no_terminal = fraud(service, "users", "add", "dan", "--role", "viewer", stdin="")
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr
    short = fraud(service, "users", "add", "dan", "--role", "viewer", "--password-stdin", stdin="x")
    assert short.returncode == 2 and "password: must be 12 to 1024" in short.stderr

    reset = fraud(service, "users", "password", "bob", "--generate-password")
    assert reset.returncode == 0
    signed_out = time.monotonic() + 1.0  # a new password signs bob out everywhere, within a second
    while bob.get(f"{service.url}/api/dashboard", timeout=5).status_code != 401:
        assert time.monotonic() < signed_out, "bob is still signed in a second later"
        time.sleep(0.05)

    events = [
        json.loads(line) for line in fraud(service, "audit", "list", "--json").stdout.splitlines()
    ]
    seen = [(e["actor"], e["action"], e["target"], e["succeeded"]) for e in events]
    assert seen[:5] == [
        (seen[0][0], "user.password_set", "bob", True),
        ("carol", "sign_in", "carol", True),
        ("bob", "sign_in", "bob", True),
        (seen[0][0], "user.created", "carol", True),
        (seen[0][0], "user.created", "bob", True),
    ]
    assert seen[0][0].startswith("cli:")
    sign_ins = [e for e in events if e["action"] == "sign_in"]
    assert all(e["source"] == "127.0.0.1" for e in sign_ins)
    assert password not in json.dumps(events)
