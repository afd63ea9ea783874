"""The submit path's availability, as Prometheus reads it: every answer to a submission
counted per route and status class, whatever produced it (a view, an error handler, the
rate limiter). ops/prometheus's SLO rules divide the 5xx by the whole."""

from __future__ import annotations

from typing import Protocol

from flask import Flask, Response, request

SUBMIT_ROUTES = frozenset({"/transaction", "/transactions"})


class SubmitAnswers(Protocol):
    def submit_answered(self, route: str, status: int) -> None:
        """Count one answer to a submission."""


def count_submit_answers(app: Flask, answers: SubmitAnswers) -> None:
    @app.after_request
    def count(response: Response) -> Response:
        rule = request.url_rule
        if request.method == "POST" and rule is not None and rule.rule in SUBMIT_ROUTES:
            answers.submit_answered(rule.rule, response.status_code)
        return response
