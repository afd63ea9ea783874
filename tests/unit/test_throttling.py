"""What a client cannot make the service do by asking often: batches count per item, requests
that prove no identity count per address and stop costing look-ups, /health answers from
its last checks, and password guesses are held back per address and per account."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fraud.application.identity import Authenticate
from fraud.containers import Container, bootstrap
from fraud.domain.identity import RateLimit, Role
from fraud.entrypoints.http.access import PUBLIC, requires
from fraud.entrypoints.http.api import HEALTH_CACHE_S, HEALTH_LIMIT
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.factories import payload
from tests.unit.conftest import TESTS, calling_as, in_memory

PASSWORD = "correct horse battery"


@pytest.fixture
def configured(model, clock) -> Iterator[Callable[..., Container]]:
    """An in-memory container with the settings given."""
    made: list[Container] = []

    def make(**settings: Any) -> Container:
        container = in_memory(
            bootstrap(Settings(database_url="sqlite://", model_dir="unused", **settings)),
            model,
            clock,
        )
        made.append(container)
        return container

    yield make
    for container in made:
        container.unwire()


class CountedLookUps:
    """The identity store, counting the look-ups of keys that reach it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.keys_looked_up = 0

    def key(self, digest: str) -> Any:
        self.keys_looked_up += 1
        return self.store.key(digest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class CountedReads:
    """The verdict store, counting the reads that reach it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.reads = 0

    def get(self, transaction_id: str) -> Any:
        self.reads += 1
        return self.store.get(transaction_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def from_address(app: Flask, address: str, key: str | None = None) -> FlaskClient:
    client = calling_as(app, key)
    client.environ_base["REMOTE_ADDR"] = address
    return client


# --- finding 5: a batch counts per transaction ------------------------------------------


def test_a_batch_counts_one_request_per_transaction_it_carries(app, container) -> None:
    """Issue 24, finding 5: one POST /transactions of 1,000 counted once, so batching
    multiplied a key's rate a thousandfold."""
    secret = (
        container.manage_keys()
        .create("batcher", Role.SUBMITTER, TESTS, RateLimit(10, "hour"))
        .secret
    )
    client = calling_as(app, secret)

    def batch(prefix: str, size: int) -> Any:
        items = [payload(transaction_id=f"{prefix}-{i}") for i in range(size)]
        return client.post("/transactions", json={"transactions": items})

    assert batch("a", 6).status_code == 200  # 6 of 10
    refused = batch("b", 5)  # 11 would be over: refused whole, and spends nothing
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.get_json()["error"] == (
        "rate limit of 10/hour reached (a batch counts one per item: this one 5); slow down"
    )
    assert client.get("/transaction/b-0").status_code == 404  # nothing of it was accepted
    assert batch("c", 2).status_code == 200  # 6, the refused batch's request, this read, 2
    assert client.post("/transaction", json=payload()).status_code == 429


def test_a_batch_larger_than_the_limit_itself_is_a_422_naming_it(app, container) -> None:
    secret = (
        container.manage_keys()
        .create("small", Role.SUBMITTER, TESTS, RateLimit(5, "minute"))
        .secret
    )
    items = [payload(transaction_id=f"s-{i}") for i in range(6)]
    response = calling_as(app, secret).post("/transactions", json={"transactions": items})
    assert response.status_code == 422
    assert response.get_json()["details"] == [
        {"field": "transactions", "rule": "at most 5 items under this identity's limit of 5/minute"}
    ]


# --- finding 5: no identity, per address --------------------------------------------------


@pytest.fixture
def counted(container: Container, clock) -> CountedLookUps:
    """The app's key look-ups, counted where they reach the store."""
    looked_up = CountedLookUps(container.identity_queries())
    container.authenticate.override(Authenticate(looked_up, clock))
    return looked_up


def test_requests_without_a_valid_credential_are_limited_per_address(configured, clock) -> None:
    """Issue 24, finding 5: requests with unknown keys were never limited, each a look-up in
    the database. Past the address's limit they are refused before any look-up."""
    container = configured(anonymous_rate_limit="5/minute")
    looked_up = CountedLookUps(container.identity_queries())
    container.authenticate.override(Authenticate(looked_up, clock))
    app = create_app(container)
    statuses = [
        from_address(app, "198.51.100.7", f"fraud_made-up-{n}").get("/api/dashboard").status_code
        for n in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    assert looked_up.keys_looked_up == 5  # the three refused cost no look-up
    refused = from_address(app, "198.51.100.7").get("/api/dashboard")  # nor does no key help
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == (
        "rate limit of 5/minute reached by requests from this address without a valid "
        "credential; slow down"
    )
    # Another address has its own count, and a valid key is served from anywhere else.
    assert from_address(app, "198.51.100.8", "fraud_nope").get("/api/health").status_code == 401
    viewer = container.manage_keys().create("v", Role.VIEWER, TESTS).secret
    assert from_address(app, "198.51.100.9", viewer).get("/api/health").status_code == 200


def test_a_key_that_works_is_not_held_back_with_made_up_ones_from_its_address(
    configured, clock
) -> None:
    """One client behind a NAT sends made-up (or revoked) keys; its neighbour's key, found
    live before, is still looked up and served. A key never seen waits for the window."""
    container = configured(anonymous_rate_limit="3/minute")
    now = [0.0]
    container.authenticate.override(
        Authenticate(container.identity_queries(), clock, timer=lambda: now[0])
    )
    app = create_app(container)
    manage = container.manage_keys()
    working = manage.create("neighbour", Role.VIEWER, TESTS).secret
    unseen = manage.create("newcomer", Role.VIEWER, TESTS).secret
    nat = "198.51.100.77"
    assert from_address(app, nat, working).get("/api/health").status_code == 200
    for n in range(4):
        from_address(app, nat, f"fraud_made-up-{n}").get("/api/health")
    now[0] += 1.0  # past the recheck interval: what is known of each key is asked again
    assert from_address(app, nat, working).get("/api/health").status_code == 200
    assert from_address(app, nat, unseen).get("/api/health").status_code == 429
    assert from_address(app, nat, "fraud_made-up-9").get("/api/health").status_code == 429


def test_an_unknown_key_is_looked_up_once_per_recheck_interval(counted, app) -> None:
    """The same made-up key again and again costs the store one look-up, not one each."""
    caller = calling_as(app, "fraud_unknown")
    assert [caller.get("/api/dashboard").status_code for _ in range(5)] == [401] * 5
    assert counted.keys_looked_up == 1


def test_the_anonymous_limit_is_a_setting_checked_at_start() -> None:
    from fraud.settings import BadSetting

    assert Settings.from_env({}).anonymous_rate_limit == "60/minute"
    assert Settings.from_env({"FRAUD_ANONYMOUS_RATE_LIMIT": "30/hour"}).anonymous_rate_limit == (
        "30/hour"
    )
    with pytest.raises(BadSetting, match="FRAUD_ANONYMOUS_RATE_LIMIT"):
        Settings.from_env({"FRAUD_ANONYMOUS_RATE_LIMIT": "lots"})


# --- finding 5: /health ----------------------------------------------------------------


def test_a_flood_of_health_checks_costs_one_database_read_a_second(container) -> None:
    """Issue 24, finding 5: /health, open to anybody, queried the database on every call."""
    reads = CountedReads(container.queries())
    container.queries.override(reads)
    app = create_app(container)
    probes = [from_address(app, f"192.0.2.{n}") for n in range(5)]  # within each one's limit
    answers = [probe.get("/health") for probe in probes for _ in range(10)]
    assert all(answer.get_json() == {"status": "ok"} for answer in answers)
    assert reads.reads == 1
    deadline = time.monotonic() + 10 * HEALTH_CACHE_S
    while reads.reads == 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        from_address(app, "192.0.2.100").get("/health")
    assert reads.reads == 2  # and read again once the checks are a second old


def test_the_checks_at_api_health_are_made_afresh(container, keys) -> None:
    reads = CountedReads(container.queries())
    container.queries.override(reads)
    viewer = calling_as(create_app(container), keys[Role.VIEWER])
    for _ in range(3):
        assert viewer.get("/api/health").get_json()["database"] == "ok"
    assert reads.reads == 3


def test_a_public_route_may_declare_a_limit_per_address(app) -> None:
    """/health declares one (HEALTH_LIMIT a second); here the same on a route of an hour's
    window, so that no second can end between two requests."""

    @app.get("/probe")
    @requires(PUBLIC, per_address="3/hour")
    def probe() -> str:
        return "up"

    assert app.view_functions["api.health"].per_address == HEALTH_LIMIT
    first, second = from_address(app, "192.0.2.1"), from_address(app, "192.0.2.2")
    assert [first.get("/probe").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert first.get("/probe").headers["Retry-After"]
    assert second.get("/probe").status_code == 200


# --- finding 6: signing in, per address and per account -----------------------------------


@pytest.fixture
def alice(container) -> str:
    container.manage_accounts().add("alice", Role.ANALYST, TESTS, PASSWORD)
    return "alice"


def attempt(
    app: Flask, name: str, password: str, address: str = "127.0.0.1", **headers: str
) -> Any:
    """One sign-in through the form, from ``address``, as a browser makes it."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    page = browser.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    answer = browser.post(
        "/signin",
        data={"name": name, "password": password, "csrf_token": token.group(1)},
        headers=headers,
    )
    answer.browser = browser  # to go on as whoever it let in, if anybody
    return answer


def test_failed_sign_ins_lock_an_account_whatever_the_address(app, alice) -> None:
    """Issue 24, finding 6: sign-in was throttled per address only, so guesses spread over
    many addresses were never held back."""
    guesses = [attempt(app, alice, "wrong guess", f"203.0.113.{n}") for n in range(5)]
    assert [guess.status_code for guess in guesses] == [401] * 5
    locked = attempt(app, alice, PASSWORD, "203.0.113.99")  # even the right password
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert "try again in 15 minute(s)" in locked.get_data(as_text=True)
    assert locked.browser.get("/api/dashboard").status_code == 401  # not signed in


def test_a_locked_name_answers_alike_whether_or_not_it_exists(app, alice) -> None:
    """No account enumeration: the lock counts names, not accounts."""
    answers = {}
    for name in (alice, "nobody"):
        for n in range(5):
            attempt(app, name, "wrong guess", f"198.18.0.{n}")
        answers[name] = attempt(app, name, PASSWORD, "198.18.1.1")
    assert {answer.status_code for answer in answers.values()} == {429}

    def shown(answer: Any) -> str:
        return re.sub(r'(value|content)="[^"]*"', "", answer.get_data(as_text=True))

    assert shown(answers[alice]).replace(alice, "NAME") == shown(answers["nobody"]).replace(
        "nobody", "NAME"
    )


def test_another_addresss_failures_on_other_accounts_do_not_block_a_sign_in(app, alice) -> None:
    for n in range(11):
        attempt(app, f"someone-{n}", "wrong guess", "192.0.2.66")
    assert attempt(app, "someone-else", "wrong guess", "192.0.2.66").status_code == 429
    assert attempt(app, alice, PASSWORD, "192.0.2.67").status_code == 302


def test_a_sign_in_that_succeeds_starts_the_accounts_count_afresh(app, alice) -> None:
    for round_ in range(2):
        for n in range(4):
            assert attempt(app, alice, "typo", f"192.0.2.{10 * round_ + n}").status_code == 401
        assert attempt(app, alice, PASSWORD, f"192.0.2.{10 * round_ + 9}").status_code == 302


def test_behind_a_trusted_proxy_each_client_is_held_back_alone(configured) -> None:
    """With FRAUD_TRUSTED_PROXIES the address is the one the proxy forwarded; without it,
    every client behind the proxy shares the proxy's address, and one client's guesses
    hold everybody back."""
    behind = create_app(configured(trusted_proxies=1))
    for n in range(10):
        attempt(behind, f"guess-{n}", "wrong", "10.0.0.1", X_Forwarded_For="203.0.113.5")
    assert attempt(behind, "x", "wrong", "10.0.0.1", X_Forwarded_For="203.0.113.5").status_code == (
        429
    )
    assert attempt(behind, "x", "wrong", "10.0.0.1", X_Forwarded_For="203.0.113.6").status_code == (
        401
    )

    unconfigured = create_app(configured())
    for n in range(10):
        attempt(unconfigured, f"guess-{n}", "wrong", "10.0.0.1", X_Forwarded_For="203.0.113.5")
    shared = attempt(unconfigured, "x", "wrong", "10.0.0.1", X_Forwarded_For="203.0.113.6")
    assert shared.status_code == 429  # the other client is held back with the first
