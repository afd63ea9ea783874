"""A body over the limit is a 413, whether it says its length or comes in chunks: through
Flask's test client and through the server `fraud run` uses (Werkzeug's), over a socket."""

from __future__ import annotations

import http.client
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from fraud.domain.identity import Role
from fraud.entrypoints.http.openapi import MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES
from tests.factories import payload


def chunked(client: FlaskClient, path: str, body: bytes) -> Any:
    """``body`` sent without a Content-Length, as a server hands a chunked one over."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def padded(document: Any, size: int) -> bytes:
    """``document`` as JSON, with trailing whitespace (still JSON) up to ``size`` bytes."""
    text = json.dumps(document).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def test_a_chunked_batch_over_1_mib_is_a_413_not_malformed_json(client) -> None:
    """Issue 24, finding 11: a chunked body over 1 MiB was cut there and answered 400
    "malformed JSON"."""
    body = json.dumps({"transactions": [payload(merchant="x" * 2000)] * 600}).encode()
    assert len(body) > MAX_BATCH_BODY_BYTES
    response = chunked(client, "/transactions", body)
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "request body is larger than 1024 KiB",
        "status": 413,
    }


def test_a_chunked_transaction_over_64_kib_is_a_413(client) -> None:
    response = chunked(client, "/transaction", padded(payload(), MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request body is larger than 64 KiB"


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(client) -> None:
    response = chunked(client, "/transaction", padded(payload(transaction_id="edge"), 65536))
    assert response.status_code == 202
    assert response.get_json()["transaction_id"] == "edge"
    assert chunked(client, "/transaction", padded(payload(), 65536)[:-40]).status_code == 202


# --- through a real server ----------------------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app behind Werkzeug's threaded server on a free port, as `fraud run` serves it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


def post_chunked(where: str, path: str, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(where, timeout=10)
    try:
        pieces = (body[at : at + 16384] for at in range(0, len(body), 16384))
        connection.request(
            "POST",
            path,
            body=pieces,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_over_a_socket_a_chunked_body_is_read_whole_or_refused_whole(served, keys) -> None:
    key = keys[Role.SUBMITTER]
    fits = padded({"transactions": [payload(transaction_id="sock-1")]}, 200_000)
    assert post_chunked(served, "/transactions", key, fits)[1]["accepted"] == 1
    too_big = padded({"transactions": [payload()]}, MAX_BATCH_BODY_BYTES + 1)
    status, body = post_chunked(served, "/transactions", key, too_big)
    assert (status, body["error"]) == (413, "request body is larger than 1024 KiB")
