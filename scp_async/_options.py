"""Per-session and per-call request options.

Options are immutable; :meth:`RequestOptions.merge` returns a copy, which is what makes
``session.with_options(...)`` cheap.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Final, Literal, TypeAlias

import anyio
import httpx

from ._retry import RetryPolicy

__all__ = [
    "CALL_DEADLINE",
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "NotGiven",
    "RequestOptions",
    "TimeoutTypes",
    "time_left",
]


class NotGiven(enum.Enum):
    """Marks an argument that was not passed, since ``None`` means "no timeout"."""

    NOT_GIVEN = enum.auto()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN

TimeoutTypes: TypeAlias = float | httpx.Timeout | None

#: Management APIs answer quickly once connected, but some list calls are slow.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)

#: httpx's timeouts bound each read, so a server that trickles bytes could hold a call forever; the
#: deadline bounds the whole call (connect, reads, retries, waits between them, the token request).
DEFAULT_DEADLINE: Final = 300.0

#: When the calls running in this context must end, on the event loop's clock, where asyncio's own
#: timeout bounds them (``Session._send``): anyio's effective deadline does not see that one.
CALL_DEADLINE: ContextVar[float | None] = ContextVar("scp_async_call_deadline", default=None)


def time_left() -> float:
    """Seconds until the innermost deadline, the call's or an enclosing cancel scope's (``inf`` for none)."""
    now = anyio.current_time()
    left = anyio.current_effective_deadline() - now
    own = CALL_DEADLINE.get()
    return left if own is None else min(left, own - now)


@dataclass(frozen=True)
class RequestOptions:
    """Timeout, total deadline (seconds, ``None`` for none), retry policy and extra headers of requests."""

    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    deadline: float | None = DEFAULT_DEADLINE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)

    def merge(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> RequestOptions:
        """A copy with the given values replaced; headers are added to the existing ones."""
        result = self
        if not isinstance(retry, NotGiven):
            result = replace(result, retry=retry)
        if not isinstance(max_retries, NotGiven):
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0")
            result = replace(result, retry=result.retry.with_max_retries(max_retries))
        if not isinstance(timeout, NotGiven):
            result = replace(result, timeout=httpx.Timeout(timeout))
        if not isinstance(headers, NotGiven):
            result = replace(result, headers={**result.headers, **headers})
        if not isinstance(deadline, NotGiven):
            if deadline is not None and not deadline > 0:
                raise ValueError(f"deadline must be a positive number of seconds or None, not {deadline!r}")
            result = replace(result, deadline=None if deadline is None else float(deadline))
        return result
