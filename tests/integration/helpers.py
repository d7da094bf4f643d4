"""Shared constants, a fake sleep and scenarios reused by several integration test modules."""

from __future__ import annotations

from typing import Any

import anyio

from scp_async import Session
from scp_async.emulator import Emulator, ManualClock

#: Subaccounts seeded into every module's emulator.
SEED_SUBACCOUNTS = 9
#: Seconds a created/deleted resource stays in its transitional state.
TRANSITION_DELAY = 5.0
START = 1_800_000_000.0
GA_ROUTE = "accounts GET /accounts/v1/globalAccount"
CONCURRENT = 50


class FakeSleep:
    """A ``RetryPolicy.sleep`` that records the waits, advances the emulator's clock instead of sleeping,
    and runs an optional hook (e.g. to switch a fault off after some retries)."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.hook: Any = None

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.clock is not None:
            self.clock.advance(delay)
        if self.hook is not None:
            self.hook(len(self.delays))
        await anyio.lowlevel.checkpoint()


async def concurrent_first_calls(emu: Emulator, keys: dict[str, Any], n: int = CONCURRENT) -> tuple[int, int]:
    """``n`` concurrent first calls of a fresh session; returns (tokens issued, requests served) meanwhile."""
    tokens_before = emu.counters.tokens_issued
    requests_before = emu.counters.requests[GA_ROUTE]
    guids: list[str] = []
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts

        async def one() -> None:
            guids.append((await accounts.get_global_account()).guid)

        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(one)
    assert guids == [emu.state.global_account["guid"]] * n
    return emu.counters.tokens_issued - tokens_before, emu.counters.requests[GA_ROUTE] - requests_before
