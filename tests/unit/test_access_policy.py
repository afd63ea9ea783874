"""The access policy on its own, without an app: from what a route needs, the credential
sent, the session and the method, whether the request proceeds (as whom, after a CSRF
check or not), is challenged, sent to sign in or refused. test_access.py holds the same
rules through the whole app."""

from __future__ import annotations

import pytest

from fraud.domain.identity import Kind, Permission, Principal, Role
from fraud.entrypoints.http.access_policy import (
    PUBLIC,
    REALM,
    SIGNED_IN,
    AccessPolicy,
    AccessRequest,
    Challenge,
    Need,
    Proceed,
    Refuse,
    Route,
    SignInFirst,
    Undeclared,
    Via,
)

ROBOT = Principal("robot", Role.SUBMITTER, Kind.KEY)
ALICE = Principal("alice", Role.ANALYST, Kind.USER)
KEYS = {"good-key": ROBOT}


class Asked:
    """The policy's sources of identity, counting what it asks them."""

    def __init__(self, session: Principal | None = None) -> None:
        self.session = session
        self.keys: list[str] = []
        self.sessions = 0

    def key(self, key: str) -> Principal | None:
        self.keys.append(key)
        return KEYS.get(key)

    def signed_in(self) -> Principal | None:
        self.sessions += 1
        return self.session


def decide(
    need: Need | None,
    *,
    authorization: str | None = None,
    session: Principal | None = None,
    method: str = "GET",
    page: bool = False,
) -> tuple[object, Asked]:
    asked = Asked(session)
    request = AccessRequest(Route(need, page), method, authorization, asked.signed_in)
    return AccessPolicy(asked.key).decide(request), asked


def test_a_route_that_declares_nothing_is_refused_to_everybody() -> None:
    decision, asked = decide(None, authorization="Bearer good-key", session=ALICE)
    assert decision == Undeclared()
    assert asked.keys == [] and asked.sessions == 0


def test_a_public_route_proceeds_without_asking_who_is_there() -> None:
    decision, asked = decide(PUBLIC, authorization="Bearer made-up", method="POST")
    assert decision == Proceed()
    assert asked.keys == [] and asked.sessions == 0


def test_a_key_is_its_principal_and_the_session_is_not_asked() -> None:
    decision, asked = decide(Permission.SUBMIT, authorization="Bearer  good-key ", method="POST")
    assert decision == Proceed(ROBOT, Via.KEY, check_csrf=False)  # a key is no browser's
    assert asked.keys == ["good-key"] and asked.sessions == 0


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "good-key"])
def test_a_malformed_authorization_header_is_challenged_even_with_a_session(header) -> None:
    decision, asked = decide(Permission.READ, authorization=header, session=ALICE)
    expected = f'{REALM}, error="invalid_request"'
    assert decision == Challenge("the Authorization header must be: Bearer KEY", expected)
    assert asked.keys == [] and asked.sessions == 0


def test_an_unknown_key_is_challenged_even_with_a_session() -> None:
    decision, asked = decide(Permission.READ, authorization="bearer made-up", session=ALICE)
    assert decision == Challenge("unknown or revoked key", f'{REALM}, error="invalid_token"')
    assert asked.sessions == 0


def test_nobody_is_challenged_and_a_page_sends_them_to_sign_in() -> None:
    decision, _ = decide(Permission.READ)
    assert isinstance(decision, Challenge) and decision.challenge == REALM
    assert "Bearer KEY, or sign in" in decision.message
    page, _ = decide(Permission.READ, page=True)
    assert page == SignInFirst(decision.message)


def test_an_identity_without_the_permission_is_refused_saying_what_it_needs() -> None:
    decision, _ = decide(Permission.ADMINISTER, session=ALICE, page=True)
    assert decision == Refuse(
        ALICE, "the analyst role may not do this (needs administer)", page=True
    )
    decision, _ = decide(Permission.LABEL, authorization="Bearer good-key")
    assert isinstance(decision, Refuse) and decision.principal == ROBOT and not decision.page


def test_signed_in_routes_take_any_identity_and_nobody_else() -> None:
    decision, _ = decide(SIGNED_IN, authorization="Bearer good-key", method="POST")
    assert decision == Proceed(ROBOT, Via.KEY)
    decision, _ = decide(SIGNED_IN)
    assert isinstance(decision, Challenge)


@pytest.mark.parametrize(
    ("method", "check_csrf"),
    [("GET", False), ("HEAD", False), ("OPTIONS", False), ("POST", True), ("PATCH", True)],
)
def test_a_session_changing_state_must_show_the_csrf_token(method, check_csrf) -> None:
    decision, asked = decide(Permission.LABEL, session=ALICE, method=method)
    assert decision == Proceed(ALICE, Via.SESSION, check_csrf=check_csrf)
    assert asked.sessions == 1
