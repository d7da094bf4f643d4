"""A server on 127.0.0.1 that trickles its answer, one byte every 0.5 s: each read is quick, so httpx's
per-read timeout never fires, yet the call (and the token request it waits for) ends at its deadline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
import pytest
from anyio.abc import SocketStream, TaskGroup

from scp_async import ApiTimeoutError, ClientCredentialsGrant, Session
from scp_async.emulator import Emulator

BACKENDS = ["asyncio", "trio"]

TRICKLE_INTERVAL = 0.5
DEADLINE = 2.0


async def _trickle(stream: SocketStream) -> None:
    body = b'{"access_token": "t", "expires_in": 3600, "padding": "' + b"x" * 1000 + b'"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    # The client hanging up (at its deadline) is the expected end.
    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            for byte in head + body:
                await stream.send(bytes([byte]))
                await anyio.sleep(TRICKLE_INTERVAL)


@asynccontextmanager
async def trickling_server() -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    tg: TaskGroup
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, _trickle)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trickling_api_cannot_hold_a_call_past_its_deadline(backend: str) -> None:
    async def scenario() -> float:
        async with trickling_server() as url, Session(deadline=DEADLINE, timeout=30) as session:
            started = time.monotonic()
            with pytest.raises(ApiTimeoutError, match=r"deadline of 2 s"):
                await session.request("GET", f"{url}/v1/things")
            return time.monotonic() - started

    assert DEADLINE - 0.1 < anyio.run(scenario, backend=backend) < DEADLINE + 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trickling_token_endpoint_cannot_hold_a_call_past_its_deadline(backend: str) -> None:
    async def scenario() -> float:
        async with trickling_server() as url, Session(timeout=30) as session:
            auth = session.auth(ClientCredentialsGrant(f"{url}/oauth/token", "client", client_secret="secret"))
            started = time.monotonic()
            # The session's own deadline (300 s) would bound the token request; the call's is shorter.
            with pytest.raises(ApiTimeoutError, match=r"deadline of 2 s"):
                await session.with_options(deadline=DEADLINE).request("GET", f"{url}/v1/things", auth=auth)
            return time.monotonic() - started

    assert DEADLINE - 0.1 < anyio.run(scenario, backend=backend) < DEADLINE + 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_move_on_after_interrupts_calls_to_the_in_process_emulator(backend: str) -> None:
    emu = Emulator(subaccounts=1)
    key = emu.service_keys()["cis"]

    async def scenario() -> tuple[bool, float, int]:
        calls = 0
        async with Session(transport=emu.transport()) as session:
            accounts = session.cloud_management(key).accounts
            started = time.monotonic()
            with anyio.move_on_after(0.3) as scope:
                while True:
                    await accounts.get_global_account()
                    calls += 1
            return scope.cancelled_caught, time.monotonic() - started, calls

    cancelled, elapsed, calls = anyio.run(scenario, backend=backend)
    assert cancelled
    assert elapsed < 1.5
    assert calls > 0
