"""Bounded fan-out: run one coroutine per item (hundreds of subaccounts, say) with a concurrency limit.

:func:`fan_out` returns every result at the end, in input order; :func:`fan_out_stream` hands each
:class:`Outcome` over as soon as it is there. One :class:`~scp_async.Session` serves any number of
credentials (a cis key per subaccount or region): call ``session.cloud_management(key)`` for each
on the same session, and they share its connection pool, its token cache (one token per
credential) and its rate governor (one lane per API host and credential).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Literal, Self, TypeVar, overload

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._governor import ATTEMPTS

__all__ = ["FanOut", "Outcome", "fan_out", "fan_out_stream"]

T = TypeVar("T")
R = TypeVar("R")


@overload
async def fan_out(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int = ..., return_exceptions: Literal[False] = ...
) -> list[R]: ...


@overload
async def fan_out(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int = ..., return_exceptions: Literal[True]
) -> list[R | Exception]: ...


async def fan_out(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int = 16, return_exceptions: bool = False
) -> list[R] | list[R | Exception]:
    """``[await func(item) for item in items]``, at most ``limit`` at a time, results in input order.

    With ``return_exceptions=True`` a failing item leaves its exception in its place and the others go
    on (what one wants across hundreds of subaccounts); otherwise the first failure cancels the rest and
    is raised.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    work = list(items)
    results: list[R | Exception | None] = [None] * len(work)
    # `limit` workers share one iterator over the items: a task per item (thousands, each waiting for
    # a slot) would cost the scheduler more than a call's own work.
    pending = iter(enumerate(work))

    async def worker() -> None:
        for index, item in pending:
            try:
                results[index] = await func(item)
            except Exception as exc:
                if not return_exceptions:
                    raise
                results[index] = exc

    try:
        async with anyio.create_task_group() as group:
            for _ in range(min(limit, len(work))):
                group.start_soon(worker)
    except BaseExceptionGroup as group_error:
        # One failure cancels the others; raise it as itself, not wrapped in a group.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return results  # type: ignore[return-value]


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """How one item went: its ``value`` or its ``error``, the HTTP ``attempts`` it took (retries and
    429s included; 0 when ``func`` sent nothing through a session) and its ``duration`` in seconds."""

    index: int
    item: T
    value: R | None
    error: Exception | None
    attempts: int
    duration: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> R:
        """The value, or the error raised."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


Progress = Callable[[int, int, "Outcome[T, R]"], object]


class FanOut(Generic[T, R]):
    """The running fan-out of :func:`fan_out_stream`: ``async with`` it, then ``async for`` its outcomes.

    Leaving the block early cancels the items still running.
    """

    def __init__(
        self,
        func: Callable[[T], Awaitable[R]],
        items: Iterable[T],
        *,
        limit: int,
        progress: Progress[T, R] | None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._func = func
        self._items = list(items)
        self._limit = limit
        self._progress = progress
        self.total = len(self._items)
        self.done = 0
        self.failed = 0
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[Outcome[T, R]] | None = None

    async def __aenter__(self) -> Self:
        send, receive = anyio.create_memory_object_stream[Outcome[T, R]](math.inf)
        self._receive = receive
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        group.start_soon(self._run_all, send)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._group is not None
        assert self._receive is not None
        if exc_type is not None or self.done < self.total:
            self._group.cancel_scope.cancel()
        self._receive.close()
        return await self._group.__aexit__(exc_type, exc, tb)

    async def _run_all(self, send: MemoryObjectSendStream[Outcome[T, R]]) -> None:
        pending = iter(enumerate(self._items))  # shared by the workers (see fan_out)
        async with send, anyio.create_task_group() as group:
            for _ in range(min(self._limit, self.total)):
                group.start_soon(self._work, pending, send)

    async def _work(self, pending: Iterator[tuple[int, T]], send: MemoryObjectSendStream[Outcome[T, R]]) -> None:
        for index, item in pending:
            await self._run_one(send, index, item)

    async def _run_one(self, send: MemoryObjectSendStream[Outcome[T, R]], index: int, item: T) -> None:
        counter = [0]
        token = ATTEMPTS.set(counter)
        started = time.perf_counter()
        value: R | None = None
        error: Exception | None = None
        try:
            value = await self._func(item)
        except Exception as exc:
            error = exc
        finally:
            ATTEMPTS.reset(token)
        outcome = Outcome(index, item, value, error, counter[0], time.perf_counter() - started)
        self.done += 1
        self.failed += error is not None
        if self._progress is not None:
            self._progress(self.done, self.total, outcome)
        send.send_nowait(outcome)

    def __aiter__(self) -> AsyncIterator[Outcome[T, R]]:
        if self._receive is None:
            raise RuntimeError("use `async with fan_out_stream(...) as outcomes:` first")
        return self._receive.__aiter__()


def fan_out_stream(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int = 16,
    progress: Progress[T, R] | None = None,
) -> FanOut[T, R]:
    """Run ``func`` on every item, at most ``limit`` at a time, and hand each :class:`Outcome` over as it
    completes (completion order; ``outcome.index`` is the input position)::

        async with fan_out_stream(get_usage, subaccounts, limit=200) as outcomes:
            async for outcome in outcomes:
                ...

    A failing item is an outcome with its ``error``; the others go on. ``progress(done, total, outcome)``
    is called after each item, before its outcome is handed over.
    """
    return FanOut(func, items, limit=limit, progress=progress)
