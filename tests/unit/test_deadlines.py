"""A total deadline per call (token request, retries and the waits between them included), and cancellation
that lands even when the transport never blocks (an in-process app)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import ApiTimeoutError, RetryPolicy, ServerError, Session, paginate

from .helpers import ACCOUNTS_URL, TOKEN_URL, Sleeps, cis_key_dict, token_json

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
URL = "https://api.example/v1/things"
CF_API = "https://api.cf.example.com"
CF_UAA = "https://uaa.cf.example.com"


def test_deadlines_are_validated_and_carried_by_views() -> None:
    with pytest.raises(ValueError, match="deadline must be a positive number"):
        Session(deadline=0)
    session = Session(deadline=30)
    assert session.options.deadline == 30
    assert session.with_options(deadline=None).options.deadline is None
    assert session.with_options(timeout=5).options.deadline == 30
    with pytest.raises(ValueError, match="deadline"):
        session.with_options(deadline=-1)
    assert "deadline=30.0" in repr(session)
    assert Session().options.deadline == 300.0


def _slow(seconds: float) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def respond(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(seconds)
        return httpx.Response(200, json={})

    return respond


def test_a_call_ends_at_its_deadline(run: Runner, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_callback(_slow(10), url=URL, is_reusable=True)

    async def main() -> None:
        async with Session(deadline=60) as session:
            started = time.monotonic()
            with pytest.raises(ApiTimeoutError, match=r"deadline of 0\.2 s .*\(GET https://api.example/v1/things\)"):
                await session.request("GET", URL, deadline=0.2)
            with pytest.raises(ApiTimeoutError, match=r"deadline of 0\.2 s"):
                await session.with_options(deadline=0.2).request("GET", URL)
            assert time.monotonic() - started < 2

    run(main)


def test_the_deadline_covers_the_token_request(run: Runner, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_callback(_slow(10), url=TOKEN_URL, is_reusable=True)

    async def main() -> None:
        async with Session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts.with_options(deadline=0.2)
            started = time.monotonic()
            with pytest.raises(ApiTimeoutError, match="token request included"):
                await accounts.get_global_account()
            assert time.monotonic() - started < 2

    run(main)
    assert not httpx_mock.get_requests(url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount")


def test_a_wait_longer_than_the_time_left_raises_the_real_error_at_once(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(url=URL, status_code=503, headers={"Retry-After": "30"})

    async def main() -> None:
        async with Session(retry=RetryPolicy(sleep=sleeps), deadline=10) as session:
            with pytest.raises(ServerError):
                await session.request("GET", URL)

    anyio.run(main)
    assert sleeps.delays == []


def test_backoff_sleeps_count_against_the_deadline(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=503, is_reusable=True)
    # Real sleeps of 0.1, 0.2, 0.4, 0.8 s...: the deadline leaves room for the first two only.
    policy = RetryPolicy(max_retries=10, initial_backoff=0.1, max_backoff=10, random=lambda: 1.0)

    async def main() -> float:
        async with Session(retry=policy, deadline=0.5) as session:
            started = time.monotonic()
            with pytest.raises(ServerError):
                await session.request("GET", URL)
            return time.monotonic() - started

    assert anyio.run(main) < 0.5
    assert len(httpx_mock.get_requests(url=URL)) == 3


def test_move_on_after_interrupts_paging_over_an_in_process_transport(run: Runner) -> None:
    """A transport that answers without ever blocking (like the emulator's ASGI app) and a server that
    always announces one more page: only the session's checkpoint per request lets the cancel land."""
    served = 0

    async def app(request: httpx.Request) -> httpx.Response:
        nonlocal served
        if request.url.path == "/":
            return httpx.Response(200, json={"links": {"uaa": {"href": CF_UAA}}})
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=token_json())
        served += 1
        page = int(request.url.params.get("page", "1"))
        return httpx.Response(
            200,
            json={
                "pagination": {"next": {"href": f"{CF_API}/v3/apps?page={page + 1}"}},
                "resources": [{"guid": str(uuid.UUID(int=page)), "name": f"app-{page}"}],
            },
        )

    async def main() -> None:
        async with Session(transport=httpx.MockTransport(app)) as session:
            cf = await session.cloud_foundry(CF_API, username="u", password="p")
            seen = 0
            started = time.monotonic()
            with anyio.move_on_after(0.3) as scope:
                async for _app in paginate(cf.list_apps):
                    seen += 1
            assert scope.cancelled_caught
            assert time.monotonic() - started < 1.5
            assert seen > 0

    run(main)
    # Without the checkpoint the loop runs on to the page ceiling (10,000 pages) and raises there.
    assert 0 < served < 10_000
