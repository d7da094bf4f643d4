"""Bounded fan-out: run one coroutine per item (hundreds of subaccounts, say) with a concurrency limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, TypeVar, overload

import anyio

__all__ = ["fan_out"]

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
    limiter = anyio.CapacityLimiter(limit)

    async def run(index: int, item: T) -> None:
        async with limiter:
            try:
                results[index] = await func(item)
            except Exception as exc:
                if not return_exceptions:
                    raise
                results[index] = exc

    try:
        async with anyio.create_task_group() as group:
            for index, item in enumerate(work):
                group.start_soon(run, index, item)
    except BaseExceptionGroup as group_error:
        # One failure cancels the others; raise it as itself, not wrapped in a group.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return results  # type: ignore[return-value]
