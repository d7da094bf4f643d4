"""Fixtures for the emulator tests: an in-process emulator on a manual clock, tokens and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from scp_async.emulator import Emulator, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def emu(clock: ManualClock) -> Emulator:
    return Emulator(subaccounts=12, clock=clock, transition_delay=5.0)


@pytest.fixture
def token(emu: Emulator) -> str:
    return emu.issue_token("cis")


@pytest.fixture
async def client(emu: Emulator, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the whole emulator (paths start with the API prefix), authenticated."""
    async with emu.client(token=token) as c:
        yield c


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    """A real loopback HTTP server shared by a module's tests (read-only use)."""
    with Emulator.serve(subaccounts=12) as emu:
        yield emu
