"""Review queues and cases: the API to work them and their pages.

Reading queues and cases needs ``read``; claiming, noting and disposing of cases needs
``cases`` (analysts and admins), listing a case's card ``lists``; adding and changing queues
needs ``administer``. What the use cases refuse is answered by the error handlers: 422 (the
field and its rule, an expression's position), 404, 409 (a case another analyst holds)."""

from __future__ import annotations

from typing import Any

import flask
from dependency_injector.wiring import Provide, inject
from flask import render_template
from flask_smorest import Blueprint

from fraud.application.cases import QueueView, WorkCases
from fraud.application.queues import ManageQueues
from fraud.containers import Container
from fraud.domain.cases import (
    MAX_QUEUE_NAME_LENGTH,
    Case,
    CaseNote,
    CaseStatus,
    QueueState,
    Resolution,
    UnknownCase,
    UnknownQueue,
    new_queue,
    parse_note,
)
from fraud.domain.identity import Permission
from fraud.domain.lists import ListEntry, Listing
from fraud.domain.ports import Clock
from fraud.domain.ports.cases import CaseFilter
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.cases_schemas import (
    CaseDetailSchema,
    CaseNoteSchema,
    CaseQuerySchema,
    CaseSchema,
    ListValueRequestSchema,
    NoteRequestSchema,
    QueueRequestSchema,
    QueueSchema,
    QueueStateSchema,
    QueueUpdateSchema,
    QueueViewSchema,
    ResolutionRequestSchema,
)
from fraud.entrypoints.http.contracts import bound_row_ids, row_id_parameter
from fraud.entrypoints.http.lists_schemas import ListEntrySchema
from fraud.entrypoints.http.openapi import NOT_JSON, TOO_LARGE, answers_also, request_body
from fraud.entrypoints.http.schemas import ErrorSchema

cases = Blueprint("cases", __name__, description="Review queues and cases")
case_pages = flask.Blueprint("case_pages", __name__)
bound_row_ids(cases, "case_id")
bound_row_ids(case_pages, "case_id")

QUEUE = {
    "in": "path",
    "name": "name",
    "description": "the queue's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUEUE_NAME_LENGTH},
}
CASE = row_id_parameter("case_id", "the case's id")
REFUSED = {
    "status_code": 422,
    "schema": ErrorSchema,
    "description": "A field breaks its rule (the field and the rule are in the answer)",
}
NO_QUEUE = {"status_code": 404, "schema": ErrorSchema, "description": "No queue of that name"}
NO_CASE = {"status_code": 404, "schema": ErrorSchema, "description": "No case of that id"}
HELD = {
    "status_code": 409,
    "schema": ErrorSchema,
    "description": "Another analyst holds the case, or it is resolved: nothing was changed",
}
body_refusals = answers_also(cases, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)


def queue_states(states: list[QueueState], clock: Clock) -> list[dict[str, Any]]:
    now = clock.now()
    return [{**_fields(state), "warning": state.warning(now)} for state in states]


def _fields(state: QueueState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in QueueState.__slots__}


def queue_view(view: QueueView, clock: Clock) -> dict[str, Any]:
    (state,) = queue_states([view.state], clock)
    return {"state": state, "ranked": view.ranked, "held": view.held}


# --- queues -------------------------------------------------------------------------------------


@cases.get("/api/queues", tags=["cases"])
@cases.response(200, QueueStateSchema(many=True), description="Every queue, in routing order")
@requires(Permission.READ)
@inject
def list_queues(
    work: WorkCases = Provide[Container.work_cases], clock: Clock = Provide[Container.clock]
) -> list[dict[str, Any]]:
    """The queues, each with its cases counted by status and those past its SLA."""
    return queue_states(work.queue_states(), clock)


@cases.post("/api/queues", tags=["cases"])
@cases.doc(**request_body(QueueRequestSchema, "the new queue"))
@cases.response(201, QueueSchema, description="Added: cases are routed to it within seconds")
@body_refusals
@cases.alt_response(409, schema=ErrorSchema, description="The name is taken")
@requires(Permission.ADMINISTER)
@inject
def add_queue(queues: ManageQueues = Provide[Container.manage_queues]) -> tuple[Any, int]:
    """Add a queue; its condition is checked like a rule's, and refused with its position."""
    return queues.add(new_queue(json_body()), current_actor()), 201


@cases.get("/api/queues/<name>", tags=["cases"], parameters=[QUEUE])
@cases.response(200, QueueViewSchema, description="The queue and its cases by priority")
@cases.alt_response(**NO_QUEUE)
@requires(Permission.READ)
@inject
def get_queue(
    name: str,
    work: WorkCases = Provide[Container.work_cases],
    clock: Clock = Provide[Container.clock],
) -> dict[str, Any]:
    """A queue's open cases, highest priority first, each with when its SLA runs out; and
    those held or waiting on information."""
    return queue_view(work.queue(name), clock)


@cases.patch("/api/queues/<name>", tags=["cases"], parameters=[QUEUE])
@cases.doc(**request_body(QueueUpdateSchema, "the fields to change"))
@cases.response(200, QueueSchema, description="The queue's new version")
@body_refusals
@cases.alt_response(**NO_QUEUE)
@requires(Permission.ADMINISTER)
@inject
def change_queue(name: str, queues: ManageQueues = Provide[Container.manage_queues]) -> Any:
    """Change a queue's condition, SLA, declines, priority exponents, position or description."""
    return queues.change(name, json_body(), current_actor())


@cases.post("/api/queues/<name>/next", tags=["cases"], parameters=[QUEUE])
@cases.response(200, CaseSchema, description="The case now held, highest priority first")
@cases.alt_response(404, schema=ErrorSchema, description="No queue of that name, or no open case")
@requires(Permission.CASES)
@inject
def next_case(name: str, work: WorkCases = Provide[Container.work_cases]) -> Case:
    """Claim the queue's next case: the one you hold there, else the open one of highest
    priority (the next below it when another analyst takes it first)."""
    return work.claim_next(name, current_actor())


# --- cases --------------------------------------------------------------------------------------


@cases.get("/api/cases", tags=["cases"])
@cases.arguments(CaseQuerySchema, location="query", as_kwargs=True)
@cases.response(200, CaseSchema(many=True), description="Cases, newest first")
@cases.alt_response(422, schema=ErrorSchema, description="A filter is out of range")
@requires(Permission.READ)
@inject
def list_cases(work: WorkCases = Provide[Container.work_cases], **which: Any) -> list[Case]:
    """Cases by queue, status, assignee or card."""
    status = which.pop("status", None)
    statuses = () if status is None else (CaseStatus(status),)
    return work.cases(CaseFilter(statuses=statuses, **which))


@cases.get("/api/cases/<int:case_id>", tags=["cases"], parameters=[CASE])
@cases.response(200, CaseDetailSchema, description="The case and what its page shows")
@cases.alt_response(**NO_CASE)
@requires(Permission.READ)
@inject
def get_case(case_id: int, work: WorkCases = Provide[Container.work_cases]) -> Any:
    """A case, its transaction with the reasons and their shares, its notes and history, the
    card's other recent transactions and open cases, and the merchant's confirmed frauds."""
    return work.detail(case_id)


@cases.post("/api/cases/<int:case_id>/claim", tags=["cases"], parameters=[CASE])
@cases.response(200, CaseSchema, description="Held by you")
@cases.alt_response(**NO_CASE)
@cases.alt_response(**HELD)
@requires(Permission.CASES)
@inject
def claim_case(case_id: int, work: WorkCases = Provide[Container.work_cases]) -> Case:
    """Claim a case: of two analysts claiming it at once, one gets it, the other a 409."""
    return work.claim(case_id, current_actor())


@cases.post("/api/cases/<int:case_id>/release", tags=["cases"], parameters=[CASE])
@cases.response(200, CaseSchema, description="Back in its queue")
@cases.alt_response(**NO_CASE)
@cases.alt_response(**HELD)
@requires(Permission.CASES)
@inject
def release_case(case_id: int, work: WorkCases = Provide[Container.work_cases]) -> Case:
    """Put a case you hold back in its queue."""
    return work.release(case_id, current_actor())


@cases.post("/api/cases/<int:case_id>/note", tags=["cases"], parameters=[CASE])
@cases.doc(**request_body(NoteRequestSchema, "the note"))
@cases.response(201, CaseNoteSchema, description="Noted")
@body_refusals
@cases.alt_response(**NO_CASE)
@requires(Permission.CASES)
@inject
def note_case(
    case_id: int, work: WorkCases = Provide[Container.work_cases]
) -> tuple[CaseNote, int]:
    """Add a note to a case."""
    return work.note(case_id, parse_note(json_body()), current_actor()), 201


@cases.post("/api/cases/<int:case_id>/resolve", tags=["cases"], parameters=[CASE])
@cases.doc(**request_body(ResolutionRequestSchema, "the disposition"))
@cases.response(200, CaseSchema(many=True), description="The cases changed, this one first")
@body_refusals
@cases.alt_response(**NO_CASE)
@cases.alt_response(**HELD)
@requires(Permission.CASES)
@inject
def resolve_case(case_id: int, work: WorkCases = Provide[Container.work_cases]) -> list[Case]:
    """Dispose of a case: fraud or not fraud resolves it with that label on its transaction
    (fraud-labels, the label history, the audit log, label.created); needs_info sets it
    waiting. With whole_card, the card's other cases nobody else holds go the same way."""
    return work.resolve(case_id, Resolution.parse(json_body()), current_actor())


@cases.post("/api/cases/<int:case_id>/list", tags=["cases"], parameters=[CASE])
@cases.doc(**request_body(ListValueRequestSchema, "the list, for how long, and why"))
@cases.response(201, ListEntrySchema, description="Listed")
@body_refusals
@cases.alt_response(404, schema=ErrorSchema, description="No case of that id, or no such list")
@cases.alt_response(409, schema=ErrorSchema, description="The list is full")
@requires(Permission.LISTS)
@inject
def list_case_value(
    case_id: int, work: WorkCases = Provide[Container.work_cases]
) -> tuple[ListEntry, int]:
    """Add the case's value of the list's field (its card for a list of user_ids, its
    merchant for a list of merchants) to a list: "block this card for 30 days"."""
    return work.list_value(case_id, Listing.parse(json_body()), current_actor()), 201


# --- pages --------------------------------------------------------------------------------------


@case_pages.get("/dashboard/queues")
@requires(Permission.READ, page=True)
@inject
def queues_page(
    work: WorkCases = Provide[Container.work_cases], clock: Clock = Provide[Container.clock]
) -> str:
    states = QueueStateSchema(many=True).dump(queue_states(work.queue_states(), clock))
    return render_template("queues.html", states=states)


@case_pages.get("/dashboard/queues/<name>")
@requires(Permission.READ, page=True)
@inject
def queue_page(
    name: str,
    work: WorkCases = Provide[Container.work_cases],
    clock: Clock = Provide[Container.clock],
) -> tuple[str, int]:
    try:
        view = QueueViewSchema().dump(queue_view(work.queue(name), clock))
    except UnknownQueue:
        return render_template("missing.html", queue=name), 404
    return render_template("queue.html", view=view), 200


@case_pages.get("/dashboard/cases/<int:case_id>")
@requires(Permission.READ, page=True)
@inject
def case_page(case_id: int, work: WorkCases = Provide[Container.work_cases]) -> tuple[str, int]:
    try:
        detail = CaseDetailSchema().dump(work.detail(case_id))
    except UnknownCase:
        return render_template("missing.html", case_id=case_id), 404
    return render_template("case.html", detail=detail), 200
