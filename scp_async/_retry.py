"""When to retry a request, and how long to wait first.

The policy is plain data plus two injectable functions (``sleep``, ``random``) so that tests
can run every retry path without waiting.
"""

from __future__ import annotations

import datetime
import email.utils
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import anyio
import httpx

__all__ = ["ALREADY_DELETED", "RetryPolicy", "deleted_before", "may_have_applied", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})

# Raised before a single byte of the request left this process, so even POST is safe to resend.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSPORT_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# The server, or a gateway in front of it, gave up waiting: the request may have been carried out.
_MAYBE_APPLIED_STATUSES = frozenset({408, 500, 502, 504})

#: Key in ``response.extensions`` of the 404/410 that a retried DELETE got once an earlier attempt may
#: already have deleted the resource; such a response is returned as success, not raised as NotFound.
ALREADY_DELETED = "scp_async.already_deleted"


def may_have_applied(outcome: Exception | int) -> bool:
    """Whether a failed attempt (a transport error or an error status) may have taken effect anyway."""
    if isinstance(outcome, int):
        return outcome in _MAYBE_APPLIED_STATUSES
    return not isinstance(outcome, _NEVER_SENT)


def deleted_before(method: str, status_code: int, maybe_applied: bool) -> bool:
    """Whether a 404/410 only says that an earlier attempt of the same DELETE already succeeded."""
    return maybe_applied and method.upper() == "DELETE" and status_code in (404, 410)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings of a session or of a single call.

    Idempotent methods are retried on :attr:`retry_statuses` and on transport errors; other
    methods (POST, PATCH) only when the connection was never established. Waits use
    exponential backoff with full jitter, unless the server says how long to wait
    (``Retry-After``, ``X-RateLimit-Reset``); a server wait longer than
    :attr:`max_retry_after` is not honoured and the error is raised instead.
    """

    #: Five: with one attempt in ten failing for a while (a gateway shedding load), three retries lose
    #: about one call in 10,000, so a fan-out over 2,000 subaccounts fails one of them every fifth run;
    #: five lose one in a million. The deadline still bounds the whole call, waits included.
    max_retries: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def with_max_retries(self, max_retries: int) -> RetryPolicy:
        """A copy with another retry budget."""
        return replace(self, max_retries=max_retries)

    def retries_exception(self, method: str, exc: Exception) -> bool:
        """Whether a transport error for ``method`` may be retried."""
        if isinstance(exc, _NEVER_SENT):
            return True
        return method.upper() in IDEMPOTENT_METHODS and isinstance(exc, _TRANSPORT_RETRYABLE)

    def retries_status(self, method: str, status_code: int) -> bool:
        """Whether a response status for ``method`` may be retried."""
        return method.upper() in IDEMPOTENT_METHODS and status_code in self.retry_statuses

    def backoff(self, retry_number: int) -> float:
        """Full-jitter wait before retry number ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** (retry_number - 1))
        return self.random() * ceiling

    def server_delay(self, response: httpx.Response) -> float | None:
        """The wait the server asked for, in seconds, if it said."""
        return parse_retry_after(response.headers, now=self.clock())


def http_date(value: str) -> float | None:
    """An HTTP date (``Retry-After``, ``Date``) in epoch seconds; ``None`` if it is none.

    Read as UTC when it names no zone: ``email.utils`` leaves ``-0000``, an unknown zone or none naive, and a
    naive datetime's ``timestamp()`` is the machine's local time (a server's "now" read an hour off in
    Berlin paused a lane for a minute).
    """
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year past the platform's
        return None


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Read ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset`` as seconds to wait.

    ``X-RateLimit-Reset`` is epoch milliseconds on BTP; epoch seconds and small relative
    values (seconds from now) are accepted too.
    """
    current = time.time() if now is None else now
    value = headers.get("retry-after")
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        when = http_date(value)
        if when is not None:
            return max(0.0, when - current)
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            number = float(reset.strip())
        except ValueError:
            return None
        if number >= 1e11:  # epoch milliseconds (1e11 ms is 1973)
            return max(0.0, number / 1000 - current)
        if number >= 1e9:  # epoch seconds (2001 onwards)
            return max(0.0, number - current)
        return max(0.0, number)
    return None
