"""Fixtures for the facade's unit tests: a session that never really sleeps, and a runner
that executes a coroutine under both asyncio and trio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from scp_async import RetryPolicy, Session
from scp_async._governor import RateGovernor

from .helpers import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry_policy(sleeps: Sleeps) -> RetryPolicy:
    # random() == 1.0 makes full jitter deterministic: the wait is the backoff ceiling.
    return RetryPolicy(sleep=sleeps, random=lambda: 1.0, clock=lambda: 1_700_000_000.0)


@pytest.fixture
def make_session(retry_policy: RetryPolicy, sleeps: Sleeps) -> Callable[..., Session]:
    def factory(**kwargs: Any) -> Session:
        kwargs.setdefault("retry", retry_policy)
        kwargs.setdefault(
            "governor", RateGovernor(clock=lambda: sleeps.now, wall_clock=lambda: 1_700_000_000.0, sleep=sleeps)
        )
        return Session(**kwargs)

    return factory


@pytest.fixture(params=["asyncio", "trio"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Run a coroutine function under the parametrized anyio backend (asyncio and trio)."""
    backend = request.param

    def runner(fn: Callable[[], Awaitable[Any]]) -> Any:
        return anyio.run(fn, backend=backend)

    return runner
