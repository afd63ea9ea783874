"""The one cache behind the models, the rules and the queues a worker holds: it looks at the
version at most once per refresh, loads again only when it changed, and has one rule for
every failure: nothing in hand, the batch waits (TransientFailure); something in hand, it
stays."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from fraud.application.live import Versioned, Wording
from fraud.domain.errors import TransientFailure


class Source:
    """A version and the value loaded for it, each able to fail on demand."""

    def __init__(self) -> None:
        self.version = 1
        self.loads: list[int] = []
        self.reads = 0
        self.version_fails: Exception | None = None
        self.load_fails: Exception | None = None
        self.now = 0.0

    def read_version(self) -> int:
        self.reads += 1
        if self.version_fails:
            raise self.version_fails
        return self.version

    def load(self) -> str:
        if self.load_fails:
            raise self.load_fails
        self.loads.append(self.version)
        return f"value {self.version}"

    def cache(self) -> Versioned[str]:
        return Versioned(
            self.read_version,
            self.load,
            refresh_s=1.0,
            monotonic=lambda: self.now,
            wording=Wording("the thing", kept="the one in hand stays"),
        )


def test_the_version_is_read_once_a_refresh_and_the_value_loaded_only_when_it_changed() -> None:
    source = Source()
    cache = source.cache()
    assert cache.in_hand() is None
    assert cache.current() == "value 1"

    source.version = 2
    source.now = 0.5
    assert cache.current() == "value 1" and source.reads == 1  # not looked at yet
    source.now = 1.5
    assert cache.current() == "value 2"
    source.now = 3.0
    assert cache.current() == "value 2"
    assert source.loads == [1, 2] and source.reads == 3
    assert cache.in_hand() == "value 2"


def test_with_nothing_in_hand_any_failure_holds_the_batch_back() -> None:
    source = Source()
    cache = source.cache()
    source.version_fails = TransientFailure("database is locked")
    with pytest.raises(TransientFailure, match="database is locked"):
        cache.current()

    source.version_fails = None
    source.load_fails = ValueError("archive refused")
    with pytest.raises(TransientFailure, match="the thing cannot be loaded: archive refused"):
        cache.current()

    source.load_fails = None
    assert cache.current() == "value 1"  # tried again at once: nothing was in hand


@pytest.mark.parametrize(
    ("failure", "level", "event"),
    [
        (TransientFailure("database is locked"), "warning", "the thing could not be read"),
        (ValueError("archive refused"), "error", "the thing could not be loaded"),
    ],
)
def test_with_something_in_hand_a_failure_keeps_it_until_a_later_look_loads(
    failure: Exception, level: str, event: str
) -> None:
    source = Source()
    cache = source.cache()
    assert cache.current() == "value 1"

    source.version = 2
    source.load_fails = failure
    source.now = 1.5
    with capture_logs() as logs:
        assert cache.current() == "value 1"
    assert [(entry["log_level"], entry["event"]) for entry in logs] == [
        (level, f"{event}; the one in hand stays")
    ]
    source.now = 2.0
    source.load_fails = None
    assert cache.current() == "value 1"  # not looked at again before the refresh
    source.now = 2.6
    assert cache.current() == "value 2"
