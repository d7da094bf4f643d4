"""Waiting for asynchronous jobs: poll until a resource is ready, failed, or time is up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._errors import ScpAsyncError

__all__ = ["WaitFailedError", "WaitTimeoutError", "wait_until"]

T = TypeVar("T")


class WaitTimeoutError(ScpAsyncError):
    """The awaited condition did not hold in time; ``last`` is the last value seen."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


class WaitFailedError(ScpAsyncError):
    """The polled resource reached a failed state; ``last`` is that value."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


async def wait_until(
    poll: Callable[[], Awaitable[T]],
    ready: Callable[[T], bool],
    *,
    failed: Callable[[T], bool] | None = None,
    timeout: float = 600.0,  # noqa: ASYNC109 - a deadline for the whole wait, like anyio.fail_after's
    interval: float = 5.0,
    max_interval: float = 30.0,
    description: str = "condition",
) -> T:
    """Call ``poll`` until ``ready(value)``; returns that value.

    The interval grows by half each round up to ``max_interval`` (jobs that take minutes need not be
    asked every few seconds). Raises :class:`WaitFailedError` as soon as ``failed(value)`` and
    :class:`WaitTimeoutError` after ``timeout`` seconds.
    """
    last: T | None = None
    delay = interval
    with anyio.move_on_after(timeout) as scope:
        while True:
            last = await poll()
            if ready(last):
                return last
            if failed is not None and failed(last):
                raise WaitFailedError(f"{description}: failed ({_short(last)})", last)
            await anyio.sleep(delay)
            delay = min(delay * 1.5, max_interval)
    assert scope.cancelled_caught
    raise WaitTimeoutError(f"{description}: not reached within {timeout:g} s (last: {_short(last)})", last)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."
