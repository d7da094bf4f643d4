"""Fixtures for the integration tests: a real emulator on loopback, driven through the public facade.

Each test module gets its own emulator (module scope) on a :class:`ManualClock`, so state transitions and
token expiry are driven by the tests, never by waiting. Sessions are made per test (each test has its own
event loop); with the ``retry`` fixture their retries wait on the emulator clock, never for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_async import RetryPolicy
from scp_async.emulator import Emulator, ManualClock

from .helpers import SEED_SUBACCOUNTS, START, TRANSITION_DELAY, FakeSleep


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator.serve(subaccounts=SEED_SUBACCOUNTS, clock=clock, transition_delay=TRANSITION_DELAY) as running:
        yield running


@pytest.fixture
def keys(emu: Emulator) -> dict[str, dict[str, Any]]:
    return emu.service_keys()


@pytest.fixture
def fake_sleep(clock: ManualClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def retry(fake_sleep: FakeSleep) -> RetryPolicy:
    """Retries that wait on the emulator's clock, not the wall clock (so ``X-RateLimit-Reset`` lines up)."""
    assert fake_sleep.clock is not None
    return RetryPolicy(sleep=fake_sleep, random=lambda: 1.0, clock=fake_sleep.clock.now)


@pytest.fixture
def faulty(emu: Emulator) -> Iterator[Emulator]:
    """The module's emulator for a test that injects faults; they are switched off again afterwards."""
    yield emu
    emu.set_faults(None)


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the typing checks of user code: the first analyses the facade and the clients."""
    return tmp_path_factory.mktemp("mypy") / ".mypy_cache"
