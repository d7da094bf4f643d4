"""Bounded fan-out: run one coroutine per item (hundreds of subaccounts, say) with a concurrency limit.

:func:`fan_out` returns every result at the end, in input order; :func:`fan_out_stream` hands each
:class:`Outcome` over as soon as it is there. One :class:`~scp_async.Session` serves any number of
credentials (a cis key per subaccount or region): call ``session.cloud_management(key)`` for each
on the same session, and they share its connection pool, its token cache (one token per
credential) and its rate governor (one lane per API host and credential).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._governor import ATTEMPTS

__all__ = ["FanOut", "Outcome", "fan_out", "fan_out_stream"]

T = TypeVar("T")
R = TypeVar("R")


# -- what both take: the function, the items, the limit ---------------------------------------------------


class _NotAwaitable(TypeError):
    """``func`` gave something that cannot be awaited: a mistake in the program, not one item's failure."""


def _checked(func: object, limit: object) -> int:
    if not callable(func):
        raise TypeError(f"func must be an async function of one item, not {type(func).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, not {type(limit).__name__}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return limit


def _source(items: Iterable[T] | AsyncIterable[T]) -> list[T] | AsyncIterator[T]:
    """The items as a list (read at once), or the async iterator to take them from one by one."""
    if isinstance(items, (str, bytes, bytearray)):
        # Iterable, but a fan-out over the characters of one GUID is never what was meant.
        raise TypeError(f"items must be a collection of items, not one {type(items).__name__} (pass [item] for one)")
    try:
        iterator = iter(items)  # type: ignore[arg-type]
    except TypeError:
        if isinstance(items, AsyncIterable):  # a paginator, an async generator: items as they come
            return aiter(items)
        raise TypeError(f"items must be an iterable or an async iterable, not {type(items).__name__}") from None
    return list(iterator)


def _called(func: Callable[[T], Awaitable[R]], item: T) -> Awaitable[R]:
    call = func(item)
    if not inspect.isawaitable(call):
        raise _NotAwaitable(
            f"func returned {type(call).__name__} for an item, not an awaitable: pass an async function"
        )
    return call


class _Taker(Generic[T]):
    """Hands the items of an async iterator to the workers one at a time (an async generator refuses a
    second ``anext`` while one is running), numbering them in the order they came."""

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self._iterator = iterator
        self._lock = anyio.Lock()
        self.taken = 0
        self.exhausted = False

    async def next(self) -> tuple[int, T] | None:
        async with self._lock:
            if self.exhausted:
                return None
            try:
                item = await self._iterator.__anext__()
            except StopAsyncIteration:
                self.exhausted = True
                return None
            except BaseException:
                self.exhausted = True  # an iterator that raised is done (and is not closed again)
                raise
            index = self.taken
            self.taken += 1
            return index, item

    async def aclose(self) -> None:
        """Close an iterator left before its end (an async generator's ``finally`` runs: a paginator stops)."""
        if self.exhausted:
            return
        self.exhausted = True
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to raise for a failed task group: the first that is no cancellation (they follow from it)."""
    cancelled = anyio.get_cancelled_exc_class()
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending[:0] = error.exceptions
        else:
            leaves.append(error)
    first = next((error for error in leaves if not isinstance(error, cancelled)), leaves[0])
    if isinstance(first, _NotAwaitable):  # raised as the TypeError it is, without this module's marker
        return TypeError(*first.args).with_traceback(first.__traceback__)
    return first


# -- fan_out: every result at the end ---------------------------------------------------------------------


@overload
async def fan_out(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int = ...,
    return_exceptions: Literal[False] = ...,
) -> list[R]: ...


@overload
async def fan_out(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int = ...,
    return_exceptions: Literal[True],
) -> list[R | Exception]: ...


async def fan_out(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int = 16,
    return_exceptions: bool = False,
) -> list[R] | list[R | Exception]:
    """``[await func(item) for item in items]``, at most ``limit`` at a time, results in input order.

    ``items`` may be an async iterable (``paginate(cis.accounts.get_subaccounts)``, say): items are taken
    from it as workers are free, so the first calls start with its first page. With
    ``return_exceptions=True`` a failing item leaves its exception in its place and the others go on (what
    one wants across hundreds of subaccounts); otherwise the first failure cancels the rest and is raised.
    An error of the async iterable itself is raised either way.
    """
    limit = _checked(func, limit)
    source = _source(items)
    results: list[Any] = []
    taker: _Taker[T] | None = None

    async def run(index: int, item: T) -> None:
        try:
            value: Any = await _called(func, item)
        except _NotAwaitable:
            raise
        except Exception as exc:
            if not return_exceptions:
                raise
            value = exc
        results[index] = value

    if isinstance(source, list):
        results = [None] * len(source)
        # `limit` workers share one iterator over the items: a task per item (thousands, each waiting
        # for a slot) would cost the scheduler more than a call's own work.
        pending = iter(enumerate(source))
        workers = min(limit, len(source))

        async def worker() -> None:
            for index, item in pending:
                await run(index, item)

    else:
        taker = taking = _Taker(source)
        workers = limit

        async def worker() -> None:
            while (taken := await taking.next()) is not None:
                index, item = taken
                results.extend([None] * (index + 1 - len(results)))  # a place for it (and any taken before)
                await run(index, item)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(workers):
                group.start_soon(worker)
    except BaseExceptionGroup as group_error:
        # One failure cancels the others; raise it as itself, not wrapped in a group.
        raise _first_error(group_error) from None
    finally:
        if taker is not None:
            await taker.aclose()
    return results


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
#: ``progress(done, total, outcome)`` of a fan-out over an async iterable: ``total`` is ``None`` until its end.
ProgressOfUnknownTotal = Callable[[int, "int | None", "Outcome[T, R]"], object]


class FanOut(Generic[T, R]):
    """The running fan-out of :func:`fan_out_stream`: ``async with`` it, then ``async for`` its outcomes.

    Leaving the block early cancels the items still running (and closes an async iterable of items); an
    error raised in the block comes out as itself. ``total`` is the number of items (``None`` while an
    async iterable of them is still being read), ``done`` and ``failed`` count the outcomes so far.
    """

    def __init__(
        self,
        func: Callable[[T], Awaitable[R]],
        items: Iterable[T] | AsyncIterable[T],
        *,
        limit: int,
        progress: Progress[T, R] | ProgressOfUnknownTotal[T, R] | None,
    ) -> None:
        self._limit = _checked(func, limit)
        self._func = func
        source = _source(items)
        self._items: list[T] = source if isinstance(source, list) else []
        self._taker = None if isinstance(source, list) else _Taker(source)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a function of (done, total, outcome), not {type(progress).__name__}")
        self._progress: Callable[..., object] | None = progress
        self.total: int | None = len(self._items) if self._taker is None else None
        self.done = 0
        self.failed = 0
        self._finished = False
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
        group, receive = self._group, self._receive
        assert group is not None
        assert receive is not None
        if exc is not None or not self._finished:
            group.cancel_scope.cancel()
        # The block's own error is raised as itself (not in a task group's ExceptionGroup); a cancellation
        # or an interrupt goes through the group, which knows what to do with them.
        own = exc if isinstance(exc, Exception) else None
        try:
            if own is not None:
                await group.__aexit__(None, None, None)
                return None
            return await group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as errors:
            if own is not None:
                return None
            raise _first_error(errors) from None
        finally:
            # Only now: a worker whose item ended as the block was left still hands its outcome over.
            receive.close()
            if self._taker is not None:
                await self._taker.aclose()

    async def _run_all(self, send: MemoryObjectSendStream[Outcome[T, R]]) -> None:
        async with send, anyio.create_task_group() as group:
            if self._taker is None:
                pending = iter(enumerate(self._items))  # shared by the workers (see fan_out)
                for _ in range(min(self._limit, len(self._items))):
                    group.start_soon(self._work, pending, send)
            else:
                for _ in range(self._limit):
                    group.start_soon(self._take, self._taker, send)
        self._finished = True

    async def _work(self, pending: Iterator[tuple[int, T]], send: MemoryObjectSendStream[Outcome[T, R]]) -> None:
        for index, item in pending:
            await self._run_one(send, index, item)

    async def _take(self, taker: _Taker[T], send: MemoryObjectSendStream[Outcome[T, R]]) -> None:
        while (taken := await taker.next()) is not None:
            await self._run_one(send, *taken)
        self.total = taker.taken

    async def _run_one(self, send: MemoryObjectSendStream[Outcome[T, R]], index: int, item: T) -> None:
        counter = [0]
        token = ATTEMPTS.set(counter)
        started = time.perf_counter()
        value: R | None = None
        error: Exception | None = None
        try:
            value = await _called(self._func, item)
        except _NotAwaitable:
            raise
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


@overload
def fan_out_stream(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int = ...,
    progress: Progress[T, R] | None = ...,
) -> FanOut[T, R]: ...


@overload
def fan_out_stream(
    func: Callable[[T], Awaitable[R]],
    items: AsyncIterable[T],
    *,
    limit: int = ...,
    progress: ProgressOfUnknownTotal[T, R] | None = ...,
) -> FanOut[T, R]: ...


def fan_out_stream(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int = 16,
    progress: Progress[T, R] | ProgressOfUnknownTotal[T, R] | None = None,
) -> FanOut[T, R]:
    """Run ``func`` on every item, at most ``limit`` at a time, and hand each :class:`Outcome` over as it
    completes (completion order; ``outcome.index`` is the input position)::

        async with fan_out_stream(get_usage, subaccounts, limit=200) as outcomes:
            async for outcome in outcomes:
                ...

    A failing item is an outcome with its ``error``; the others go on. ``progress(done, total, outcome)``
    is called after each item, before its outcome is handed over. ``items`` may be an async iterable
    (``paginate(cis.accounts.get_subaccounts)``): items are taken from it as workers are free, and
    ``total`` is ``None`` until its end. Leaving the block early cancels the rest; an error raised in the
    block (or by the async iterable) comes out as itself.
    """
    return FanOut(func, items, limit=limit, progress=progress)
