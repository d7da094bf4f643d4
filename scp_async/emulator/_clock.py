"""Time sources for the emulator: the wall clock, or a manual clock that tests advance by hand."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning seconds since the epoch as a float."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock (``time.time``)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: state transitions and token expiry without sleeping.

    >>> clock = ManualClock(1_700_000_000.0)
    >>> clock.advance(30)
    >>> clock.now()
    1700000030.0
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += float(seconds)

    def set(self, now: float) -> None:
        with self._lock:
            self._now = float(now)
