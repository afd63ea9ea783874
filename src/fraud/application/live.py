"""A value a worker holds and loads again when its version changes: how the stages follow
what people change while they run (the models in force, the rules, the queues) without a
query per batch or a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from fraud.domain.errors import TransientFailure

log = structlog.get_logger(__name__)

Held = TypeVar("Held")


@dataclass(frozen=True, slots=True)
class Wording:
    """How the logs name what is held: "``what`` could not be loaded; ``kept``"."""

    what: str = "the value in force"
    kept: str = "what is in hand stays"


class Versioned(Generic[Held]):
    """``load()`` again whenever ``version()`` changes, looking at the version at most every
    ``refresh_s`` seconds (one small query), so a change reaches every worker within about
    that long of being committed.

    One rule for every failure, to read the version or to load (storage away, an archive
    refused, a model that cannot be unpacked, a bug): until something has been loaded, it is
    a ``TransientFailure``, so the batch waits and is retried and nothing is decided without
    what is in force (nor dead-lettered for it); after that, what is in hand stays and is
    used until a later look loads another."""

    def __init__(
        self,
        version: Callable[[], int],
        load: Callable[[], Held],
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wording: Wording = Wording(),
    ) -> None:
        self._version = version
        self._load = load
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self.wording = wording
        self._held: tuple[int, Held] | None = None
        self._checked = float("-inf")

    def current(self) -> Held:
        """What is in force now, looked at again if ``refresh_s`` has passed."""
        now = self.monotonic()
        held, wording = self._held, self.wording
        if held is not None and now - self._checked < self.refresh_s:
            return held[1]
        try:
            version = self._version()
            if held is None or version != held[0]:
                held = self._held = (version, self._load())
        except TransientFailure as failure:  # storage away for a while: said, not shouted
            if held is None:
                raise
            log.warning(f"{wording.what} could not be read; {wording.kept}", error=str(failure))
        except Exception as failure:
            if held is None:
                raise TransientFailure(f"{wording.what} cannot be loaded: {failure}") from failure
            log.error(
                f"{wording.what} could not be loaded; {wording.kept}",
                error=str(failure),
                kept_version=held[0],
            )
        self._checked = now
        return held[1]

    def in_hand(self) -> Held | None:
        """What was loaded last, without looking at its version (None: nothing yet)."""
        return None if self._held is None else self._held[1]
