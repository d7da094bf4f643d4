"""The direct lane's HTTP/1.1 client (scp_async/_wire.py) against a raw TCP server on 127.0.0.1 whose every
byte a test scripts: framing, keep-alive, the pool's limits, timeouts, drops, and cancellation."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpcore
import pytest

from scp_async._wire import MAX_HEAD, BodyTooLarge, Resolver, WirePool, WireResponse

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class RawServer:
    """Counts connections and the request heads it read; ``handle`` answers each connection."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.connections = 0
        self.heads: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handle(self, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    async def head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    def url(self, target: str = "/x") -> tuple[str, str, int | None, str]:
        return ("http", "127.0.0.1", self.port, target)


_POOLS: list[WirePool] = []


def _pool(**kwargs: Any) -> WirePool:
    """A pool closed when the test's loop ends (its idle connections with it)."""
    import ssl

    settings: dict[str, Any] = {"ssl_context": ssl.create_default_context(), "max_connections": 10}
    settings["keepalive_expiry"] = 30.0
    pool = WirePool(**{**settings, **kwargs})
    _POOLS.append(pool)
    return pool


async def _get(pool: WirePool, server: RawServer, **kwargs: Any) -> WireResponse:
    options: dict[str, Any] = {"connect_timeout": 5.0, "read_timeout": 5.0, "pool_timeout": 5.0, "limit": None}
    return await pool.request("GET", server.url(), {"accept": "application/json"}, **{**options, **kwargs})


_QUICK: dict[str, Any] = {"connect_timeout": 1, "read_timeout": 1, "pool_timeout": 1, "limit": None}


def _run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def closing() -> Any:
        try:
            return await asyncio.wait_for(main(), 20)
        finally:
            while _POOLS:
                await _POOLS.pop().aclose()

    return asyncio.run(closing())


def _serve_each(*answers: bytes, then_close: bool = False) -> Handler:
    """Answer the requests of a connection with ``answers`` in turn (repeating the last)."""

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        while True:
            await server.head(reader)
            writer.write(answers[min(index, len(answers) - 1)])
            await writer.drain()
            index += 1
            if then_close:
                return

    return handle


def test_connections_are_kept_alive_and_reused() -> None:
    async def main() -> None:
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool()
            for _ in range(3):
                response = await _get(pool, server)
                assert (response.status, response.body) == (200, b'{"ok":true}')
            assert server.connections == 1
            assert server.heads[0].startswith(b"GET /x HTTP/1.1\r\nhost: 127.0.0.1:")
            assert b"\r\naccept: application/json\r\n" in server.heads[0]
            await pool.aclose()

    _run(main)


def test_an_answer_that_closes_its_connection_is_not_reused() -> None:
    closing = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    async def main() -> None:
        async with RawServer(_serve_each(closing, then_close=True)) as server:
            pool = _pool()
            for _ in range(2):
                assert (await _get(pool, server)).status == 200
            assert server.connections == 2

    _run(main)


def test_chunked_and_close_delimited_bodies_and_an_interim_answer_are_read_whole() -> None:
    async def chunked(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async def until_close(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"it")

    async def main() -> None:
        async with RawServer(chunked) as server:
            response = await _get(_pool(), server)
            assert (response.status, response.reason, response.body) == (200, b"OK", b"hello world")
        async with RawServer(until_close) as server:
            response = await _get(_pool(), server)
            assert (response.status, response.body) == (200, b"all of it")
            assert dict(response.raw_headers) == {b"Content-Type": b"text/plain"}

    _run(main)


def test_the_headers_readers_look_up_are_noted_once_by_lower_cased_name_first_value_first() -> None:
    head = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nSet-Cookie: early=1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-RateLimit-Remaining: 7\r\n"
        b"SET-COOKIE: a=1\r\nset-cookie: b=2\r\nContent-Length: 11\r\n\r\n"
    )

    async def answer(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(head + b'{"ok":true}')
        await writer.drain()
        await asyncio.sleep(1)

    async def main() -> WireResponse:
        async with RawServer(answer) as server:
            return await _get(_pool(), server)

    response = _run(main)
    expected = {b"x-ratelimit-remaining": b"7", b"set-cookie": b"a=1", b"content-length": b"11"}
    assert response.noted == expected  # the interim answer's headers are not the answer's
    # A response made from its parts notes the same.
    remade = WireResponse(200, b"OK", "1.1", response.raw_headers, response.body)
    assert remade.noted == expected


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    async def main() -> None:
        async with RawServer(_serve_each(OK, then_close=True)) as server:  # closes after answering, unannounced
            pool = _pool()
            assert (await _get(pool, server)).status == 200
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
            assert (await _get(pool, server)).status == 200
            assert server.connections == 2
            assert pool._open == 0 or pool._open == 1

    _run(main)


def test_idle_connections_expire() -> None:
    async def main() -> None:
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool(keepalive_expiry=0.05)
            await _get(pool, server)
            await asyncio.sleep(0.1)
            await _get(pool, server)
            assert server.connections == 2
            assert pool._open == 1

    _run(main)


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"", "Server disconnected without sending a complete response."),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial', "Server disconnected before the response ended."),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "Server disconnected before the response ended."),
        (b"SMTP ready\r\n\r\n", "invalid response"),
    ],
)
def test_a_broken_answer_fails_as_a_request_that_may_have_reached_the_server(sent: bytes, message: str) -> None:
    async def broken(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(sent)
        await writer.drain()

    async def main() -> None:
        async with RawServer(broken) as server:
            pool = _pool()
            with pytest.raises(httpcore.RemoteProtocolError, match=message):
                await _get(pool, server)
            assert pool._open == 0

    _run(main)


def test_the_read_timeout_is_a_quiet_period_not_a_total() -> None:
    async def trickle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":  # 0.6 s in all, never quiet for 0.25 s
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))
            await writer.drain()

    async def stall(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(5)

    async def main() -> None:
        async with RawServer(trickle) as server:
            assert (await _get(_pool(), server, read_timeout=0.25)).body == b"abcdef"
        async with RawServer(stall) as server:
            pool = _pool()
            started = time.monotonic()
            with pytest.raises(httpcore.ReadTimeout):
                await _get(pool, server, read_timeout=0.2)
            assert time.monotonic() - started < 2
            assert pool._open == 0

    _run(main)


def test_the_read_timeout_of_each_exchange_holds_on_a_kept_alive_connection() -> None:
    """The quiet-period timer outlives an exchange (made once per period, not per request): a later
    exchange with a shorter read timeout, or one after the timer found the connection idle, still times
    out on time, and an exchange answered in time is not failed by a timer left from the one before."""

    async def answer_then_stall(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):  # three answers in time, then silence
            await server.head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        await server.head(reader)
        await asyncio.sleep(5)

    async def main() -> None:
        async with RawServer(answer_then_stall) as server:
            pool = _pool()
            assert (await _get(pool, server, read_timeout=30.0)).body == b"ok"  # a timer due in 30 s
            await asyncio.sleep(0.3)
            assert (await _get(pool, server, read_timeout=0.2)).body == b"ok"  # due sooner: a new timer
            await asyncio.sleep(0.4)  # the timer finds the connection idle and stops
            assert (await _get(pool, server, read_timeout=0.2)).body == b"ok"
            started = time.monotonic()
            with pytest.raises(httpcore.ReadTimeout):
                await _get(pool, server, read_timeout=0.2)
            assert 0.15 < time.monotonic() - started < 2
            assert server.connections == 1

    _run(main)


def test_an_answer_past_the_limit_is_refused_as_it_arrives() -> None:
    async def declared(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async def endless(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(1000):
            writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await writer.drain()

    async def main() -> None:
        for handler in (declared, endless):
            async with RawServer(handler) as server:
                pool = _pool()
                with pytest.raises(BodyTooLarge) as caught:
                    await _get(pool, server, limit=64 * 1024)
                assert caught.value.status == (200 if handler is declared else 503)
                assert pool._open == 0

    _run(main)


def test_the_pool_waits_for_a_free_connection_and_times_out() -> None:
    async def slow(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.head(reader)
            await asyncio.sleep(0.2)
            writer.write(OK)
            await writer.drain()

    async def main() -> None:
        async with RawServer(slow) as server:
            pool = _pool(max_connections=1)
            answers = await asyncio.gather(*(_get(pool, server) for _ in range(3)))
            assert [a.status for a in answers] == [200, 200, 200]
            assert server.connections == 1
            first = asyncio.create_task(_get(pool, server))
            await asyncio.sleep(0.05)
            with pytest.raises(httpcore.PoolTimeout):
                await _get(pool, server, pool_timeout=0.05)
            assert (await first).status == 200

    _run(main)


def test_a_cancelled_exchange_closes_its_connection() -> None:
    async def never(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.head(reader)

    async def main() -> None:
        async with RawServer(never) as server:
            pool = _pool()
            task = asyncio.create_task(_get(pool, server))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert pool._open == 0
            assert not pool._idle.get(("http", "127.0.0.1", server.port))

    _run(main)


def test_unasked_bytes_on_an_idle_connection_retire_it() -> None:
    async def chatty(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(OK + b"HTTP/1.1 200 OK\r\n")  # more than was asked for
        await writer.drain()
        await asyncio.sleep(1)

    async def main() -> None:
        async with RawServer(chatty) as server:
            pool = _pool()
            assert (await _get(pool, server)).status == 200
            await asyncio.sleep(0.05)
            assert (await _get(pool, server)).status == 200
            assert server.connections == 2

    _run(main)


@pytest.mark.parametrize("header", [{"x-a": "1\r\nx-injected: 1"}, {"x-a\r\nx-b": "1"}, {"x-a": "1\n"}, {"x": "\0"}])
def test_a_header_that_would_break_a_line_is_refused_before_connecting(header: dict[str, str]) -> None:
    async def main() -> None:
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool()
            for _ in range(2):  # refused again: a refused header block is not remembered as checked
                with pytest.raises(httpcore.LocalProtocolError):
                    await pool.request(
                        "GET", server.url(), header, connect_timeout=1, read_timeout=1, pool_timeout=1, limit=None
                    )
            assert server.connections == 0

    _run(main)


@pytest.mark.parametrize("target", ["/a\r\nx-injected: 1", "/a\n", "/a\0"])
def test_a_target_that_would_break_the_request_line_is_refused(target: str) -> None:
    async def main() -> None:
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool()
            assert (await _get(pool, server)).status == 200  # the same headers, remembered as checked
            with pytest.raises(httpcore.LocalProtocolError):
                await pool.request("GET", server.url(target), {"accept": "application/json"}, **_QUICK)
            assert server.connections == 1

    _run(main)


def test_connections_that_cannot_be_made_were_never_sent() -> None:
    async def silent(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # accepts TCP, never answers the TLS handshake

    async def main() -> None:
        pool = _pool()
        async with RawServer(silent) as server:
            port = server.port
            with pytest.raises(httpcore.ConnectTimeout):
                await pool.request(
                    "GET", ("https", "127.0.0.1", port, "/"), {}, connect_timeout=0.2, read_timeout=1,
                    pool_timeout=1, limit=None,
                )  # fmt: skip
        with pytest.raises(httpcore.ConnectError):  # the server is gone: refused
            await pool.request(
                "GET", ("http", "127.0.0.1", port, "/"), {}, connect_timeout=1, read_timeout=1, pool_timeout=1,
                limit=None,
            )  # fmt: skip
        assert pool._open == 0

    _run(main)


def test_typed_calls_take_the_wire_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session's typed GETs go over TLS on the wire (the emulator's certificate, trusted by SSL_CERT_FILE)."""
    from scp_async import ApiConnectionError, Session
    from scp_async.emulator import Emulator

    schemes: list[str] = []
    request = WirePool.request

    async def counting(self: WirePool, method: str, url: tuple[str, str, int | None, str], *a: Any, **k: Any) -> Any:
        schemes.append(url[0])
        return await request(self, method, url, *a, **k)

    monkeypatch.setattr(WirePool, "request", counting)
    with Emulator.serve(subaccounts=3, tls=True) as emu:
        key = emu.service_keys()["cis"]

        async def subaccounts() -> int:
            async with Session() as session:
                page = await session.cloud_management(key).accounts.get_subaccounts()
                return len(page.value or [])

        with pytest.raises(ApiConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(subaccounts())  # not trusted yet: the token request fails (nothing went on the wire)
        assert schemes == []
        assert emu.tls_ca_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.tls_ca_file))
        assert asyncio.run(subaccounts()) == 3
        assert schemes == ["https"]


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def slow(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.head(reader)
            await asyncio.sleep(0.1)
            writer.write(OK)
            await writer.drain()

    async def main() -> None:
        async with RawServer(slow) as server:
            pool = _pool(max_connections=1)
            first = asyncio.create_task(_get(pool, server))
            await asyncio.sleep(0.02)
            waiting = [asyncio.create_task(_get(pool, server)) for _ in range(2)]
            await asyncio.sleep(0.02)
            waiting[0].cancel()
            assert (await first).status == 200
            assert (await waiting[1]).status == 200
            assert server.connections == 1

    _run(main)


def test_a_scheme_other_than_http_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(httpcore.UnsupportedProtocol, match="'ftp'"):
            await _pool().request(
                "GET", ("ftp", "127.0.0.1", None, "/"), {}, connect_timeout=1, read_timeout=1, pool_timeout=1,
                limit=None,
            )  # fmt: skip

    _run(main)


def test_headers_without_end_are_refused() -> None:
    async def endless(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Long: ")
        for _ in range(4 * MAX_HEAD // 1024):
            writer.write(b"a" * 1024)
            await writer.drain()
            await asyncio.sleep(0)

    async def main() -> None:
        async with RawServer(endless) as server:
            pool = _pool()
            with pytest.raises(httpcore.RemoteProtocolError, match="headers take more than"):
                await _get(pool, server)
            assert pool._open == 0

    _run(main)


# -- where hosts are ---------------------------------------------------------------------------------------


def _counting_lookups(loop: asyncio.AbstractEventLoop, calls: list[str], *, delay: float = 0.02) -> None:
    """Count the loop's lookups (each taking ``delay``, as a DNS round trip would)."""
    original = loop.getaddrinfo

    async def lookup(host: Any, port: Any, **kwargs: Any) -> Any:
        calls.append(host)
        await asyncio.sleep(delay)
        return await original(host, port, **kwargs)

    loop.getaddrinfo = lookup  # type: ignore[method-assign]


def test_a_host_is_looked_up_once_for_the_connections_a_fan_out_opens_at_once() -> None:
    async def main() -> None:
        calls: list[str] = []
        _counting_lookups(asyncio.get_running_loop(), calls)
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool(max_connections=50)
            url = ("http", "localhost", server.port, "/x")
            responses = await asyncio.gather(
                *(pool.request("GET", url, {}, **{**_QUICK, "connect_timeout": 5}) for _ in range(40))
            )
            assert [r.status for r in responses] == [200] * 40
            assert server.connections > 1  # many connections, made at once...
            assert calls == ["localhost"]  # ...on one lookup
        calls.clear()
        closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
        async with RawServer(_serve_each(closing, then_close=True)) as server:
            pool = _pool()
            pool._resolver = Resolver(ttl=0.0)  # a lookup older than its time to live is made anew
            url = ("http", "localhost", server.port, "/x")
            for _ in range(2):
                assert (await pool.request("GET", url, {}, **_QUICK)).status == 200
            assert calls == ["localhost", "localhost"]

    _run(main)


def test_a_failed_lookup_fails_every_waiting_connection_and_is_not_kept() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        calls: list[str] = []

        async def failing(host: Any, port: Any, **kwargs: Any) -> Any:
            calls.append(host)
            await asyncio.sleep(0.02)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        loop.getaddrinfo = failing  # type: ignore[method-assign]
        pool = _pool()
        url = ("https", "nowhere.invalid", None, "/x")
        results = await asyncio.gather(
            *(pool.request("GET", url, {}, **_QUICK) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, httpcore.ConnectError) for r in results), results
        assert calls == ["nowhere.invalid"]
        with pytest.raises(httpcore.ConnectError, match="not known"):
            await pool.request("GET", url, {}, **_QUICK)
        assert calls == ["nowhere.invalid"] * 2

    _run(main)


def test_a_cancelled_connection_does_not_cancel_the_lookup_others_wait_for() -> None:
    async def main() -> None:
        calls: list[str] = []
        _counting_lookups(asyncio.get_running_loop(), calls, delay=0.1)
        async with RawServer(_serve_each(OK)) as server:
            pool = _pool()
            url = ("http", "localhost", server.port, "/x")
            first = asyncio.ensure_future(pool.request("GET", url, {}, **_QUICK))
            second = asyncio.ensure_future(pool.request("GET", url, {}, **_QUICK))
            await asyncio.sleep(0.03)
            first.cancel()
            assert (await second).status == 200
            with pytest.raises(asyncio.CancelledError):
                await first
            assert calls == ["localhost"]

    _run(main)


def test_each_address_of_a_host_is_tried_in_turn() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        refusing = socket.socket()
        refusing.bind(("127.0.0.1", 0))  # bound, never listening: connecting to it is refused
        dead_port = refusing.getsockname()[1]
        async with RawServer(_serve_each(OK)) as server:

            async def two_addresses(host: Any, port: Any, **kwargs: Any) -> Any:
                stream = socket.SOCK_STREAM
                return [
                    (socket.AF_INET, stream, 6, "", ("127.0.0.1", dead_port)),
                    (socket.AF_INET, stream, 6, "", ("127.0.0.1", server.port)),
                ]

            loop.getaddrinfo = two_addresses  # type: ignore[method-assign]
            pool = _pool()
            response = await pool.request("GET", ("http", "api.example", server.port, "/x"), {}, **_QUICK)
            assert response.status == 200
            assert server.heads[-1].startswith(b"GET /x HTTP/1.1\r\nhost: api.example:")
        refusing.close()

    _run(main)
