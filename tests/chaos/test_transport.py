"""The default transport on both event loops: aiohttp's pool under asyncio, httpcore's under trio, and
the same error classes from each, so the retry policy tells 'never sent' from 'may have been done'."""

from __future__ import annotations

import logging
import socket
import time

import anyio
import httpx
import pytest

from scp_async import ApiConnectionError, ApiTimeoutError, DefaultTransport, RetryPolicy, Session

from .conftest import Exchange, Loopback

BACKENDS = ["asyncio", "trio"]


def _policy(max_retries: int = 2) -> RetryPolicy:
    async def no_wait(delay: float) -> None:
        await anyio.lowlevel.checkpoint()

    return RetryPolicy(max_retries=max_retries, sleep=no_wait, random=lambda: 0.0)


def _refusing_url() -> str:
    with socket.socket() as sock:  # bound, never listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/x"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_pool_follows_the_event_loop(loopback: Loopback, backend: str) -> None:
    loopback.routes[("GET", "/ok")] = lambda ex: ex.reply(200, {"ok": True})
    transport = DefaultTransport()
    assert transport.uses_aiohttp

    async def main() -> tuple[int, bool]:
        async with Session(transport=transport) as session:
            response = await session.request("GET", f"{loopback.url}/ok")
            pool = transport._pool
            return response.status_code, getattr(pool, "_session", None) is not None

    status, aiohttp_opened = anyio.run(main, backend=backend)
    assert status == 200
    assert aiohttp_opened is (backend == "asyncio")


def test_a_session_without_transport_uses_the_default_one() -> None:
    session = Session()
    assert isinstance(session.http_client._transport, DefaultTransport)
    anyio.run(session.aclose)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_post_is_retried_because_nothing_was_sent(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    url = _refusing_url()
    caplog.set_level(logging.INFO, logger="scp_async")

    async def main() -> ApiConnectionError:
        async with Session(retry=_policy()) as session:
            with pytest.raises(ApiConnectionError) as caught:
                await session.request("POST", url, json={})
            return caught.value

    error = anyio.run(main, backend=backend)
    assert isinstance(error.__cause__, httpx.ConnectError)
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2, retries


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_post_dropped_after_sending_is_not_resent(loopback: Loopback, backend: str) -> None:
    loopback.routes[("POST", "/jobs")] = Exchange.drop

    async def main() -> BaseException | None:
        async with Session(retry=_policy()) as session:
            with pytest.raises(ApiConnectionError) as caught:
                await session.request("POST", f"{loopback.url}/jobs", json={"n": 1})
            return caught.value.__cause__

    cause = anyio.run(main, backend=backend)
    assert isinstance(cause, httpx.RemoteProtocolError | httpx.ReadError)
    assert loopback.hits[("POST", "/jobs")] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_get_dropped_after_sending_is_retried(loopback: Loopback, backend: str) -> None:
    answers = iter([Exchange.drop, lambda ex: ex.reply(200, {"ok": True})])
    loopback.routes[("GET", "/flaky")] = lambda ex: next(answers)(ex)

    async def main() -> int:
        async with Session(retry=_policy()) as session:
            return (await session.request("GET", f"{loopback.url}/flaky")).status_code

    assert anyio.run(main, backend=backend) == 200
    assert loopback.hits[("GET", "/flaky")] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_body_cut_short_is_a_connection_error(loopback: Loopback, backend: str) -> None:
    def short(ex: Exchange) -> None:
        handler = ex.handler
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"partial": ')
        handler.wfile.flush()
        ex.drop()

    loopback.routes[("POST", "/short")] = short

    async def main() -> None:
        async with Session(retry=_policy(0)) as session:
            await session.request("POST", f"{loopback.url}/short")

    with pytest.raises(ApiConnectionError):
        anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_silent_server_is_a_read_timeout(loopback: Loopback, backend: str) -> None:
    loopback.routes[("POST", "/slow")] = lambda ex: time.sleep(1.0)

    async def main() -> BaseException | None:
        async with Session(retry=_policy(0), timeout=httpx.Timeout(5.0, read=0.2)) as session:
            with pytest.raises(ApiTimeoutError) as caught:
                await session.request("POST", f"{loopback.url}/slow")
            return caught.value.__cause__

    assert isinstance(anyio.run(main, backend=backend), httpx.ReadTimeout)


@pytest.mark.parametrize("backend", BACKENDS)
def test_uploads_of_unknown_length_are_sent_chunked(loopback: Loopback, backend: str) -> None:
    def upload(ex: Exchange) -> None:
        body = b""
        while size := int(ex.handler.rfile.readline().strip(), 16):  # the test server reads chunks by hand
            body += ex.handler.rfile.read(size)
            ex.handler.rfile.readline()
        ex.handler.rfile.readline()
        ex.reply(200, {"framing": ex.headers.get("Transfer-Encoding"), "body": body.decode()})

    loopback.routes[("POST", "/upload")] = upload

    async def body() -> object:
        for part in (b"a" * 10, b"b" * 10):
            yield part

    async def main() -> httpx.Response:
        async with Session() as session:
            return await session.request("POST", f"{loopback.url}/upload", content=body())  # type: ignore[arg-type]

    response = anyio.run(main, backend=backend)
    assert response.json() == {"framing": "chunked", "body": "a" * 10 + "b" * 10}
