"""Identity and access over HTTP: who may call what (the matrix, from the OpenAPI document),
keys, sessions, CSRF, rate limits, headers and the audit log; on the in-memory container."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from fraud.application.identity import RECHECK_AFTER_S, Authenticate
from fraud.domain.identity import RateLimit, Role
from fraud.domain.rules import Rule, RuleAction, RuleMode
from fraud.entrypoints.http.app import create_app
from tests.factories import payload
from tests.fakes import RuleModel, RuleModelArchives
from tests.unit import case_calls
from tests.unit.conftest import TESTS, calling_as, settle

ROLES = list(Role)
EVERYONE = set(ROLES)  # the documentation holds nothing secret: Prometheus' key reads it too
READERS = {Role.VIEWER, Role.ANALYST, Role.ADMIN}
# Who may call each operation: written here, apart from the code that enforces it, so a
# change to either shows. A new operation fails the matrix until it is added.
MAY = {
    ("post", "/transaction"): {Role.SUBMITTER},
    ("post", "/transactions"): {Role.SUBMITTER},
    ("get", "/transaction/{transaction_id}"): {Role.SUBMITTER} | READERS,
    ("post", "/transaction/{transaction_id}/label"): {Role.ANALYST, Role.ADMIN},
    ("get", "/health"): "public",
    ("get", "/api/health"): READERS,
    ("get", "/api/dashboard"): READERS,
    ("get", "/api/activity"): READERS,
    ("get", "/api/model"): READERS,
    ("get", "/api/pipeline"): READERS,
    ("get", "/api/labels"): READERS,
    ("get", "/metrics"): {Role.METRICS},
    ("get", "/api/keys"): {Role.ADMIN},
    ("post", "/api/keys"): {Role.ADMIN},
    ("delete", "/api/keys/{name}"): {Role.ADMIN},
    ("get", "/api/users"): {Role.ADMIN},
    ("post", "/api/users"): {Role.ADMIN},
    ("delete", "/api/users/{name}"): {Role.ADMIN},
    ("get", "/api/audit"): {Role.ADMIN},
    ("get", "/api/rules"): READERS,
    ("get", "/api/rules/{name}"): READERS,
    ("post", "/api/rules"): {Role.ANALYST, Role.ADMIN},
    ("patch", "/api/rules/{name}"): {Role.ANALYST, Role.ADMIN},
    ("delete", "/api/rules/{name}"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/rules/check"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/rules/try"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/rules/backtest"): {Role.ANALYST, Role.ADMIN},
    ("get", "/api/drift"): READERS,
    ("get", "/api/models"): READERS,
    ("get", "/api/models/challenge"): READERS,
    ("get", "/api/models/canary"): READERS,
    ("put", "/api/models/canary"): {Role.ADMIN},
    ("post", "/api/models/canary/raise"): {Role.ADMIN},
    ("post", "/api/models/canary/rollback"): {Role.ADMIN},
    ("get", "/api/models/{version}"): READERS,
    ("post", "/api/models/{version}/promote"): {Role.ADMIN},
    ("post", "/api/models/{version}/review-budget"): {Role.ADMIN},
    ("post", "/api/models/rollback"): {Role.ADMIN},
    ("put", "/api/models/challenger"): {Role.ADMIN},
    ("delete", "/api/models/challenger"): {Role.ADMIN},
    ("get", "/api/queues"): READERS,
    ("post", "/api/queues"): {Role.ADMIN},
    ("get", "/api/queues/{name}"): READERS,
    ("patch", "/api/queues/{name}"): {Role.ADMIN},
    ("post", "/api/queues/{name}/next"): {Role.ANALYST, Role.ADMIN},
    ("get", "/api/cases"): READERS,
    ("get", "/api/cases/{case_id}"): READERS,
    ("post", "/api/cases/{case_id}/claim"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/cases/{case_id}/release"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/cases/{case_id}/note"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/cases/{case_id}/resolve"): {Role.ANALYST, Role.ADMIN},
    ("post", "/api/cases/{case_id}/list"): {Role.ANALYST, Role.ADMIN},
    ("get", "/api/lists"): READERS,
    ("post", "/api/lists"): {Role.ANALYST, Role.ADMIN},
    ("get", "/api/lists/{name}"): READERS,
    ("post", "/api/lists/{name}/entries"): {Role.ANALYST, Role.ADMIN},
    ("delete", "/api/lists/{name}/entries/{value}"): {Role.ANALYST, Role.ADMIN},
    ("get", "/api/webhooks"): {Role.ADMIN},
    ("post", "/api/webhooks"): {Role.ADMIN},
    ("get", "/api/webhooks/{subscription_id}"): {Role.ADMIN},
    ("delete", "/api/webhooks/{subscription_id}"): {Role.ADMIN},
    ("get", "/api/webhooks/{subscription_id}/deliveries"): {Role.ADMIN},
    ("get", "/api/webhooks/{subscription_id}/attempts"): {Role.ADMIN},
    ("post", "/api/webhooks/{subscription_id}/replay"): {Role.ADMIN},
}
# Pages and other routes outside the document.
PAGES = {
    "/": READERS,
    "/dashboard/transactions/t-own": READERS,
    "/dashboard/cards/u-own": READERS,
    "/admin": {Role.ADMIN},
    "/dashboard/rules": READERS,
    "/dashboard/queues": READERS,
    "/dashboard/queues/default": READERS,
    "/admin/webhooks": {Role.ADMIN},
    "/docs": EVERYONE,
    "/openapi.json": EVERYONE,
}


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()


@pytest.fixture
def call(app: Flask, keys: dict[Role, str], container) -> Callable[..., Any]:
    """Make a valid request to an operation as a role (None: anonymous): whatever it needs
    exists (a transaction the submitter sent, a key or user to revoke)."""
    submitter = calling_as(app, keys[Role.SUBMITTER])
    submitter.post("/transaction", json=payload(transaction_id="t-own"))
    settle(container)
    fresh = itertools.count()

    def request(method: str, path: str, role: Role | None) -> Any:
        caller = calling_as(app, None if role is None else keys[role])
        n = next(fresh)
        if role is None:  # each from its own address: nobody's limit (test_throttling) aside
            caller.environ_base["REMOTE_ADDR"] = f"198.51.{n // 256}.{n % 256}"
        if path == "/api/keys/{name}":
            container.manage_keys().create(f"doomed-{n}", Role.VIEWER, TESTS)
            path = f"/api/keys/doomed-{n}"
        elif path == "/api/users/{name}":
            container.manage_accounts().add(f"doomed-{n}", Role.VIEWER, TESTS)
            path = f"/api/users/doomed-{n}"
        elif path == "/api/rules/{name}":
            rule = Rule(f"doomed-{n}", "score > 0.5", RuleAction.REVIEW, "doomed", RuleMode.SHADOW)
            container.manage_rules().add(rule, TESTS)
            path = f"/api/rules/doomed-{n}"
        elif path.startswith("/api/models"):
            path = _registry_ready(container, method, path, n)
        elif path.startswith(case_calls.PREFIXES):
            path, body = case_calls.prepared(container, method, path, n, role)
            return caller.open(path, method=method.upper(), json=body)
        path = path.replace("{transaction_id}", "t-own")
        draft = {"expression": "score > 0.5", "action": "review"}
        body = {
            ("post", "/transaction"): payload(transaction_id=f"new-{n}"),
            ("post", "/transactions"): {"transactions": [payload(transaction_id=f"new-{n}")]},
            ("post", "/transaction/t-own/label"): {"is_fraud": True},
            ("post", "/api/keys"): {"name": f"made-{n}", "role": "viewer"},
            ("post", "/api/users"): {"name": f"made-{n}", "role": "viewer"},
            ("post", "/api/rules"): {**draft, "name": f"made-{n}", "reason": "made"},
            ("patch", f"/api/rules/doomed-{n}"): {"mode": "active"},
            ("post", "/api/rules/check"): draft,
            ("post", "/api/rules/try"): {**draft, "transaction_id": "t-own"},
            ("post", "/api/rules/backtest"): {**draft, "days": 1},
            ("put", "/api/models/challenger"): {"version": f"c-{n}"},
            ("put", "/api/models/canary"): {"share": 0.1},
            ("post", "/api/models/rule-model-1/review-budget"): {"per_day": 10},
        }.get((method, path))
        return caller.open(path, method=method.upper(), json=body)

    return request


def _registry_ready(container, method: str, path: str, n: int) -> str:
    """Models registered so that the call can succeed: one to read or promote, an earlier
    champion to roll back to, one to challenge, a challenger to stop."""
    register, manage = container.register_model(), container.manage_models()

    def registered(version: str) -> str:
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), TESTS)
        return version

    if path.endswith("/review-budget"):  # the model that scored the submitter's transaction,
        container.clock().advance(7200)  # two hours ago
        return path.replace("{version}", registered("rule-model-1"))
    if "{version}" in path:
        return path.replace("{version}", registered(f"m-{n}"))
    if path == "/api/models/rollback":
        registered(f"q-{n}")  # the champion, if there was none
        manage.promote(registered(f"r-{n}"), TESTS)
    elif (method, path) == ("put", "/api/models/challenger"):
        registered(f"c-{n}")
    elif (method, path) == ("delete", "/api/models/challenger"):
        manage.challenge(registered(f"c-{n}"), TESTS)
    elif path.startswith("/api/models/canary") and method != "get":
        registered(f"q-{n}")  # the champion, if there was none
        manage.challenge(registered(f"c-{n}"), TESTS)
        if path.endswith("/rollback"):  # a share to take back
            container.manage_canary().set_share(0.1, TESTS)
    return path


def test_the_document_lists_exactly_the_operations_the_matrix_knows(document) -> None:
    assert set(_operations(document)) == set(MAY)


def test_every_operation_names_the_roles_that_may_call_it(document) -> None:
    for key, operation in _operations(document).items():
        allowed = MAY[key]
        if allowed == "public":
            assert operation["security"] == [], key
            continue
        assert {Role(role) for role in operation["x-roles"]} == allowed, key
        assert {"401", "403", "429"} <= set(operation["responses"]), key


@pytest.mark.parametrize("role", [None, *ROLES], ids=lambda r: r or "anonymous")
def test_the_access_matrix(document, call, role: Role | None) -> None:
    """Every operation, as nobody and as each role: 401, 403, or answered."""
    for method, path in _operations(document):
        allowed = MAY[(method, path)]
        status = call(method, path, role).status_code
        if allowed == "public" or (role is not None and role in allowed):
            assert 200 <= status < 300, (method, path, role, status)
        elif role is None:
            assert status == 401, (method, path, status)
        else:
            assert status == 403, (method, path, role, status)


@pytest.mark.parametrize("role", [None, *ROLES], ids=lambda r: r or "anonymous")
def test_the_pages_let_in_only_their_roles(app, keys, call, role: Role | None) -> None:
    caller = calling_as(app, None if role is None else keys[role])
    for path, allowed in PAGES.items():
        response = caller.get(path)
        if role is not None and role in allowed:
            assert response.status_code == 200, (path, role)
        elif role is None and path != "/openapi.json":
            assert response.status_code == 302, path  # to the sign-in page
            assert response.headers["Location"].startswith("/signin?next=")
        else:
            assert response.status_code == (401 if role is None else 403), (path, role)


def test_a_route_that_declares_nothing_is_refused_to_everybody(container, keys) -> None:
    app = create_app(container)

    @app.get("/forgotten")
    def forgotten() -> str:
        return "secret"

    for role in ROLES:
        assert calling_as(app, keys[role]).get("/forgotten").status_code == 403
    assert calling_as(app, None).get("/forgotten").status_code == 403


def test_every_route_declares_what_it_requires(app) -> None:
    from fraud.entrypoints.http.access import declared_need

    for rule in app.url_map.iter_rules():
        assert declared_need(rule.endpoint, app.view_functions[rule.endpoint]), rule.rule


def test_an_operation_without_a_declaration_stops_the_document(container) -> None:
    from flask_smorest import Blueprint

    from fraud.entrypoints.http.openapi import documented_api

    app = Flask(__name__)
    api = documented_api(app)
    blueprint = Blueprint("extra", __name__)

    @blueprint.get("/extra")
    @blueprint.response(200)
    def extra() -> str:
        return ""

    with pytest.raises(ValueError, match="GET /extra declares no permission"):
        api.register_blueprint(blueprint)


# --- keys ------------------------------------------------------------------------------


def test_no_key_or_an_unknown_one_is_a_401_that_says_how(anonymous, app) -> None:
    missing = anonymous.get("/transaction/x")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="fraud"'
    wrong = calling_as(app, "fraud_not-a-key").get("/transaction/x")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="fraud", error="invalid_token"'
    basic = anonymous.get("/transaction/x", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert 'error="invalid_request"' in basic.headers["WWW-Authenticate"]


def test_a_revoked_key_stops_working_within_a_second(container, clock) -> None:
    now = [0.0]
    container.authenticate.override(
        Authenticate(container.identity_queries(), clock, timer=lambda: now[0])
    )
    app = create_app(container)
    secret = container.manage_keys().create("soon-gone", Role.VIEWER, TESTS).secret
    caller = calling_as(app, secret)
    assert caller.get("/api/dashboard").status_code == 200

    container.manage_keys().revoke("soon-gone", TESTS)
    now[0] += 0.99
    assert caller.get("/api/dashboard").status_code == 401


def test_what_a_process_remembers_may_expire_at_any_moment(container, clock) -> None:
    """Each look at the cache moves time on past the recheck interval: the answer is
    always read afresh, never lost between a check and a read."""
    ticks = itertools.count()
    remember = Authenticate(
        container.identity_queries(), clock, recheck_after_s=0.5, timer=lambda: next(ticks) * 0.3
    )
    secret = container.manage_keys().create("ticking", Role.VIEWER, TESTS).secret
    assert all(remember.key(secret) is not None for _ in range(20))
    assert all(remember.session("no-such-session") is None for _ in range(20))


def test_only_a_digest_of_a_key_is_stored_and_no_secret_is_logged(admin, container) -> None:
    with capture_logs() as logs:
        created = admin.post("/api/keys", json={"name": "gateway", "role": "submitter"})
    secret = created.get_json()["key"]
    assert created.status_code == 201 and secret.startswith("fraud_")
    stored = container.identity_queries().keys()
    assert all(secret not in repr(key) for key in stored)
    assert secret not in repr(logs)
    listed = admin.get("/api/keys").get_json()
    assert "gateway" in [key["name"] for key in listed]
    assert all("key" not in key for key in listed)
    again = admin.post("/api/keys", json={"name": "gateway", "role": "viewer"})
    assert again.status_code == 409


def test_a_bad_key_request_names_each_field(admin) -> None:
    response = admin.post(
        "/api/keys", json={"name": "no spaces", "role": "boss", "rate_limit": "fast", "x": 1}
    )
    assert response.status_code == 422
    assert [detail["field"] for detail in response.get_json()["details"]] == ["x"]
    response = admin.post(
        "/api/keys", json={"name": "no spaces", "role": "boss", "rate_limit": "1"}
    )
    assert [d["field"] for d in response.get_json()["details"]] == ["name", "role", "rate_limit"]


# --- what a submitter sees ---------------------------------------------------------------


def test_a_submitter_reads_its_own_verdict_only_and_never_the_features(
    app, container, keys, viewer
) -> None:
    first = calling_as(app, keys[Role.SUBMITTER])
    second_key = container.manage_keys().create("other-system", Role.SUBMITTER, TESTS).secret
    second = calling_as(app, second_key)
    first.post("/transaction", json=payload(transaction_id="mine", amount=9000.0))
    settle(container)

    own = first.get("/transaction/mine")
    assert own.status_code == 200
    body = own.get_json()
    assert {"fraud_score", "decision", "reasons"} <= set(body)
    assert not {"features", "versions", "label", "label_history"} & set(body)
    assert "features" in viewer.get("/transaction/mine").get_json()

    theirs = second.get("/transaction/mine")
    assert theirs.status_code == 404
    assert theirs.get_json() == first.get("/transaction/nope").get_json() | {
        "error": "no transaction with id 'mine'"
    }
    assert second.get("/api/model").status_code == 403  # the thresholds are not theirs


def test_another_clients_id_is_a_conflict_that_tells_nothing_of_it(app, container, keys) -> None:
    calling_as(app, keys[Role.SUBMITTER]).post("/transaction", json=payload(transaction_id="x1"))
    other = calling_as(app, container.manage_keys().create("b", Role.SUBMITTER, TESTS).secret)
    same_body = other.post("/transaction", json=payload(transaction_id="x1"))
    assert same_body.status_code == 409
    assert set(same_body.get_json()) == {"error", "status"}
    assert other.get("/transaction/x1").status_code == 404


# --- rate limits -------------------------------------------------------------------------


def test_the_61st_request_in_a_minute_under_a_limit_of_60_is_a_429(app, container) -> None:
    secret = container.manage_keys().create("busy", Role.VIEWER, TESTS, RateLimit(60, "minute"))
    caller = calling_as(app, secret.secret)
    statuses = [caller.get("/api/health").status_code for _ in range(60)]
    assert statuses == [200] * 60
    refused = caller.get("/api/health")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == "rate limit of 60/minute reached; slow down"
    assert (
        calling_as(app, container.manage_keys().create("calm", Role.VIEWER, TESTS).secret)
        .get("/api/health")
        .status_code
        == 200
    )  # another identity has its own count


def test_the_default_limit_is_a_setting(model, clock) -> None:
    from fraud.containers import bootstrap
    from fraud.settings import Settings
    from tests.unit.conftest import in_memory

    container = in_memory(
        bootstrap(Settings(database_url="sqlite://", model_dir="unused", rate_limit="3/hour")),
        model,
        clock,
    )
    app = create_app(container)
    caller = calling_as(app, container.manage_keys().create("v", Role.VIEWER, TESTS).secret)
    assert [caller.get("/api/health").status_code for _ in range(4)] == [200, 200, 200, 429]
    container.unwire()


# --- people: sign in, sessions, CSRF -----------------------------------------------------

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf[-_]token" (?:type="hidden" value|content)="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(app: Flask, name: str, password: str = PASSWORD, **kwargs: Any) -> FlaskClient:
    browser = app.test_client(**kwargs)
    token = csrf_of(browser.get("/signin").get_data(as_text=True))
    browser.post("/signin", data={"name": name, "password": password, "csrf_token": token})
    return browser


@pytest.fixture
def alice(container) -> str:
    container.manage_accounts().add("alice", Role.ANALYST, TESTS, PASSWORD)
    return "alice"


def test_signing_in_opens_a_strict_httponly_session(app, alice, container) -> None:
    browser = app.test_client()
    token = csrf_of(browser.get("/signin").get_data(as_text=True))
    response = browser.post(
        "/signin?next=/dashboard/transactions/x",
        data={"name": alice, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/transactions/x"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("fraud_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert browser.get("/").status_code == 200


def test_over_tls_the_session_cookie_is_secure(app, alice) -> None:
    browser = app.test_client()
    page = browser.get("/signin", base_url="https://fraud.example")
    response = browser.post(
        "/signin",
        base_url="https://fraud.example",
        data={"name": alice, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_sign_in_goes_back_only_to_a_page_of_this_site(app, alice) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        browser = app.test_client()
        token = csrf_of(browser.get("/signin").get_data(as_text=True))
        response = browser.post(
            f"/signin?next={target}",
            data={"name": alice, "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == "/", target


def test_a_wrong_password_or_name_is_refused_alike_and_audited(app, alice, container) -> None:
    for name, password in ((alice, "not the password"), ("nobody", PASSWORD)):
        browser = sign_in(app, name, password)
        assert browser.get("/api/dashboard").status_code == 401
    events = container.audit_trail()(10)
    refusals = [(e.target, e.succeeded, e.detail) for e in events if e.action == "sign_in"]
    assert refusals == [("nobody", False, "unknown user"), ("alice", False, "wrong password")]


def test_sign_in_without_the_forms_token_is_refused(app, alice) -> None:
    browser = app.test_client()
    response = browser.post("/signin", data={"name": alice, "password": PASSWORD})
    assert response.status_code == 400
    assert browser.get("/api/dashboard").status_code == 401


def test_sign_in_attempts_are_limited_per_address(app, alice) -> None:
    """Ten names tried from one address, two attempts each at most: the address's limit,
    not any account's, stops the eleventh."""
    browser = app.test_client()
    token = csrf_of(browser.get("/signin").get_data(as_text=True))
    statuses = [
        browser.post(
            "/signin", data={"name": f"guess-{n % 6}", "password": "wrong!", "csrf_token": token}
        )
        for n in range(11)
    ]
    assert [s.status_code for s in statuses[:10]] == [401] * 10
    assert statuses[10].status_code == 429
    assert 1 <= int(statuses[10].headers["Retry-After"]) <= 60


def test_a_label_with_the_session_needs_the_pages_csrf_token(app, alice, client, container) -> None:
    client.post("/transaction", json=payload(transaction_id="t9"))
    browser = sign_in(app, alice)
    token = csrf_of(browser.get("/").get_data(as_text=True))

    without = browser.post("/transaction/t9/label", json={"is_fraud": True})
    assert without.status_code == 403
    labelled = browser.post(
        "/transaction/t9/label", json={"is_fraud": True}, headers={"X-CSRFToken": token}
    )
    assert labelled.status_code == 200
    assert labelled.get_json()["label"]["analyst"] == "alice"


def test_a_cross_site_form_cannot_label_even_with_the_cookie(app, alice, client) -> None:
    client.post("/transaction", json=payload(transaction_id="t8"))
    browser = sign_in(app, alice)
    forged = browser.post(
        "/transaction/t8/label",
        data='{"is_fraud": true}',
        content_type="text/plain",
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
    )
    assert forged.status_code == 403
    assert "label" not in browser.get("/transaction/t8").get_json()


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, alice) -> None:
    browser = sign_in(app, alice)
    cookie = browser.get_cookie("fraud_session").value
    token = csrf_of(browser.get("/").get_data(as_text=True))
    assert browser.post("/signout", data={"csrf_token": token}).status_code == 302
    assert browser.get("/api/dashboard").status_code == 401

    thief = app.test_client()
    thief.set_cookie("fraud_session", cookie)
    assert thief.get("/api/dashboard").status_code == 401


def test_a_session_expires(app, alice, clock) -> None:
    browser = sign_in(app, alice)
    assert browser.get("/api/dashboard").status_code == 200
    clock.advance(timedelta(hours=8, seconds=1).total_seconds())
    assert browser.get("/api/dashboard").status_code == 401


def test_revoking_a_person_ends_their_sessions(app, alice, container) -> None:
    browser = sign_in(app, alice)
    container.manage_accounts().revoke(alice, TESTS)
    time.sleep(RECHECK_AFTER_S)  # what the process remembers of the session, it forgets
    assert browser.get("/api/dashboard").status_code == 401
    assert sign_in(app, alice).get("/api/dashboard").status_code == 401


def test_a_viewer_is_shown_a_page_that_says_it_may_not(app, container) -> None:
    container.manage_accounts().add("vic", Role.VIEWER, TESTS, PASSWORD)
    page = sign_in(app, "vic").get("/admin")
    assert page.status_code == 403
    assert "does not grant this page" in page.get_data(as_text=True)


# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/signin", "/docs", "/api/dashboard", "/health"])
def test_every_answer_carries_the_browser_safety_headers(viewer, path: str) -> None:
    headers = viewer.get(path).headers
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no inline script
    assert policy["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_no_page_holds_an_inline_script(viewer) -> None:
    for path in ("/", "/docs", "/signin", "/dashboard/transactions/none"):
        html = viewer.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), path


# --- the first run and the audit log ---------------------------------------------------


def test_the_first_run_makes_an_administrator_and_a_key_once(app, container) -> None:
    created = container.first_run()()
    assert created is not None
    assert container.first_run()() is None
    browser = sign_in(app, "admin", created.administrator.password)
    assert browser.get("/admin").status_code == 200
    submitter = calling_as(app, created.submitter.secret)
    assert submitter.post("/transaction", json=payload()).status_code == 202


def test_the_audit_log_records_keys_users_and_sign_ins(admin, app, container) -> None:
    admin.post("/api/keys", json={"name": "k1", "role": "viewer"})
    admin.delete("/api/keys/k1")
    added = admin.post("/api/users", json={"name": "bob", "role": "analyst"}).get_json()
    sign_in(app, "bob", added["password"])
    admin.delete("/api/users/bob")
    events = admin.get("/api/audit?limit=5").get_json()
    assert [(e["actor"], e["action"], e["target"], e["succeeded"]) for e in events] == [
        ("key:admin", "user.revoked", "bob", True),
        ("bob", "sign_in", "bob", True),
        ("key:admin", "user.created", "bob", True),
        ("key:admin", "key.revoked", "key:k1", True),
        ("key:admin", "key.created", "key:k1", True),
    ]
    older = admin.get(f"/api/audit?limit=5&before={events[-1]['id']}").get_json()
    assert all(e["id"] < events[-1]["id"] for e in older)
    page = admin.get("/admin").get_data(as_text=True)
    assert "user.revoked" in page and "k1" in page


def test_a_request_with_a_key_gets_no_cookie(viewer) -> None:
    for path in ("/", "/api/dashboard", "/signin"):
        response = viewer.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path


# --- no cache keeps a secret or the team's data -----------------------------------------


def no_store(response: Any) -> bool:
    return (
        response.headers.get("Cache-Control") == "no-store"
        and response.headers.get("Pragma") == "no-cache"
    )


def test_an_answer_that_carries_a_secret_may_not_be_cached(admin, app) -> None:
    """Issue 24, finding 11: the answers that carry a new key or password, and the one that
    opens a session, said nothing against being kept by a browser or a proxy."""
    key = admin.post("/api/keys", json={"name": "fresh", "role": "viewer"})
    assert key.status_code == 201 and no_store(key)
    user = admin.post("/api/users", json={"name": "newcomer", "role": "viewer"})
    assert user.get_json()["password"] and no_store(user)
    browser = app.test_client()
    form = browser.get("/signin")
    assert no_store(form)  # it carries the CSRF token
    password = user.get_json()["password"]
    opened = browser.post(
        "/signin", data={"name": "newcomer", "password": password, "csrf_token": csrf_of(form.text)}
    )
    assert "fraud_session=" in opened.headers["Set-Cookie"] and no_store(opened)


@pytest.mark.parametrize(
    "path", ["/", "/admin", "/api/dashboard", "/transaction/nope", "/openapi.json", "/no/such"]
)
def test_no_answer_is_kept_but_static_files(admin, path: str) -> None:
    assert no_store(admin.get(path)), path


def test_static_files_may_be_cached(anonymous) -> None:
    response = anonymous.get("/static/dashboard.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


# --- the README and the roles agree -------------------------------------------------------


def test_what_the_readme_says_any_identity_may_read_every_role_may(app, keys) -> None:
    """Issue 24, finding 11: the README said any identity may read /openapi.json; a metrics
    key got a 403."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    open_to_all = re.findall(r"^\| `GET (/[^`]*)` \|.*\| any identity[^|]*\|$", readme, re.M)
    assert set(open_to_all) == {"/openapi.json", "/docs"}
    for role in Role:
        caller = calling_as(app, keys[role])
        for path in open_to_all:
            assert caller.get(path).status_code == 200, (path, role)
