"""Request ids under a threaded server: every request gets one, and no two the same."""

from __future__ import annotations

import sys
import threading

from fraud.entrypoints.http.app import RequestIds


def test_threads_asking_at_once_each_get_an_id_of_their_own() -> None:
    """A generator handed ids out once: two of the server's threads entering it at once raised
    "generator already executing", a 500 for each (seen under the broker outage test's
    load); it raised here for 7 of 8 threads. The interpreter switches threads as often as
    it can meanwhile."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    ids, failures, each = RequestIds(), [], 5_000
    got: list[list[str]] = [[] for _ in range(8)]

    def ask(mine: list[str]) -> None:
        try:
            mine.extend(ids.next() for _ in range(each))
        except Exception as error:  # what a request would have answered 500 for
            failures.append(error)

    threads = [threading.Thread(target=ask, args=(mine,)) for mine in got]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert failures == []
    every = [request_id for mine in got for request_id in mine]
    assert len(every) == len(set(every)) == 8 * each
