"""What the access matrix needs to make a valid call to each operation on queues, cases,
lists and webhooks: the thing it names exists (a case held by the caller, a list with an
entry, a subscription), and its body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fraud.containers import Container
from fraud.domain.assessment import Decision
from fraud.domain.cases import NewCase
from fraud.domain.identity import Actor, Role
from fraud.domain.lists import NewEntry, NewList
from fraud.domain.ports.cases import CaseFilter
from fraud.domain.webhooks import NewSubscription
from tests.identities import TESTS

PREFIXES = ("/api/queues", "/api/cases", "/api/lists", "/api/webhooks")
PUBLIC_RECEIVER = {"url": "https://93.184.215.14/hook", "events": ["decision.decline"]}


def _case(container: Container, n: int, holder: Role | None) -> int:
    """A new open case in the default queue (held by ``holder``'s key when given)."""
    transaction_id = f"case-{n}"
    opened_at = datetime(2025, 1, 1, 11, tzinfo=UTC)
    new = NewCase(transaction_id, "u", "m", 10.0, "USD", 0.6, Decision.REVIEW, "default", opened_at)
    with container.unit_of_work()() as uow:
        uow.cases.open([new])
        uow.commit()
    work = container.work_cases()
    (case,) = [c for c in work.cases(CaseFilter(user_id="u")) if c.transaction_id == transaction_id]
    if holder is not None:
        work.claim(case.id, Actor(f"key:{holder.value}", "pytest"))
    return case.id


def _list(container: Container, n: int) -> str:
    name = f"list_{n}"
    manage = container.manage_lists()
    manage.create(NewList(name, "user_id", ""), TESTS)
    manage.add(name, NewEntry("v", "why"), TESTS)
    return name


def prepared(
    container: Container, method: str, path: str, n: int, role: Role | None
) -> tuple[str, Any]:
    """The path with what it names made, and the body of a valid call."""
    if "{case_id}" in path:
        holder = role if path.endswith("/release") else None
        path = path.replace("{case_id}", str(_case(container, n, holder)))
    if path.startswith("/api/queues/{name}"):
        path = path.replace("{name}", "default")
        if path.endswith("/next"):
            _case(container, n, None)
    if path.startswith("/api/lists/{name}"):
        path = path.replace("{name}", _list(container, n)).replace("{value}", "v")
    if "{subscription_id}" in path:
        made = container.manage_webhooks().add(NewSubscription.parse(PUBLIC_RECEIVER), TESTS)
        path = path.replace("{subscription_id}", str(made.subscription.id))
    if path.endswith("/list"):
        return path, {"list": _list(container, n), "reason": "x"}
    body = {
        ("post", "/api/queues"): {"name": f"q-{n}"},
        ("patch", "/api/queues/default"): {"description": f"changed {n}"},
        ("post", "/api/lists"): {"name": f"made_{n}"},
        ("post", "/api/webhooks"): PUBLIC_RECEIVER,
    }.get((method, path))
    if body is None and path.endswith("/note"):
        body = {"text": "noted"}
    elif body is None and path.endswith("/resolve"):
        body = {"disposition": "not_fraud"}
    elif body is None and path.endswith("/entries"):
        body = {"value": f"v{n}", "reason": "why"}
    elif body is None and path.endswith("/replay"):
        body = {}
    return path, body
