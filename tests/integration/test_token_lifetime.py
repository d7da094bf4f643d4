"""Token lifetime from the token itself: 1 s tokens against the emulator, with the token response arriving
0.15 s after it was issued (as over a real network), never let a 401 reach the server, let alone the caller,
and cost one token per second."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from scp_async import Session
from scp_async.emulator import Emulator


class _LateTokens(httpx.AsyncBaseTransport):
    """The emulator in-process, with token responses delivered ``delay`` seconds after they were issued."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/oauth/token"):
            await anyio.sleep(self.delay)
        return response


CALLING = 2.5


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_one_second_tokens_one_per_second_and_never_refused(backend: str) -> None:
    emu = Emulator(token_ttl=1.0)
    key = emu.service_keys()["cis"]
    calls = 0

    async def scenario() -> None:
        nonlocal calls
        async with Session(transport=_LateTokens(emu.transport(), 0.15)) as session:
            accounts = session.cloud_management(key).accounts

            async def worker() -> None:
                nonlocal calls
                end = time.monotonic() + CALLING
                while time.monotonic() < end:
                    await accounts.get_global_account()
                    calls += 1
                    await anyio.sleep(0.005)

            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(worker)

    anyio.run(scenario, backend=backend)
    assert calls > 100
    assert emu.counters.unauthorized == 0
    # One token per second of calls, and one for the second the first was issued in.
    assert emu.counters.tokens_issued <= CALLING + 2
