"""A webhook receiver for the tests: a real HTTP server on a free local port, in a thread of
the test, that keeps every request it gets and answers 500 to the first few."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    event_id: str
    event_type: str
    signature: str
    body: bytes
    status: int  # what it was answered

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = 500 if self.failures > 0 else 200
            self.failures -= status == 500
            self.received.append(
                Received(
                    headers.get("Fraud-Event-Id", ""),
                    headers.get("Fraud-Event-Type", ""),
                    headers.get("Fraud-Signature", ""),
                    body,
                    status,
                )
            )
            return status

    def delivered(self) -> dict[str, Received]:
        """What was answered 200, by event id (the receiver's deduplication)."""
        with self.lock:
            return {r.event_id: r for r in self.received if r.status == 200}


@contextmanager
def receiving(failures: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(failures)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender went away mid-request (a test kills it so)
                self.close_connection = True
                return  # as any server would: nothing received, nothing answered
            status = receiver.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/fraud-events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
