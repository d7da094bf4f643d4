"""A lean HTTP/1.1 client for the direct lane: keep-alive connections on asyncio, answers parsed by httptools.

aiohttp's ``ClientSession.request`` is a general client: cookies, redirects, proxies, tracing, bodies
of every kind, a timer per received chunk for its read timeout. The direct lane (``_direct.py``) needs a
narrow part of it, a request without a body and its answer read whole, and at fan-out rates aiohttp's
generality was the larger part of a typed call's CPU: on 2 cores against the emulator a GET and its
JSON cost ~160 µs of CPU through aiohttp and ~75 µs here (``docs/transport.md``). The framing of
answers (status line, headers, Content-Length, chunked) is httptools' (llhttp, the parser of Node.js
and uvicorn); this module keeps connections and deadlines:

- connections are kept alive per origin (scheme, host, port), the most recently used taken first, and
  closed once idle for ``keepalive_expiry``; at most ``max_connections`` are open, and a request waits
  up to httpx's pool timeout for one (an idle connection to another origin is closed to make room);
- httpx's connect timeout bounds making a connection (TCP and TLS); its read timeout fails an exchange
  when no byte arrived for that long, checked by one timer per exchange, not one per chunk;
- an answer is refused past ``limit`` bytes as they arrive (or at once when its Content-Length says so);
- an exchange that does not end normally (cancelled, failed, bytes out of step) closes its connection.

Errors are httpcore's, mapped to httpx's as the transport's are, and keep apart what the retry policy
must know: no connection made (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``: nothing was
sent) and a request that may have reached the server (``RemoteProtocolError``, ``ReadError``,
``ReadTimeout``). A connection that drops before answering is not resent here: the policy decides.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, Final, cast

import httpcore
import httptools

__all__ = [
    "DEFAULT_PORTS",
    "MAX_HEAD",
    "NOTED",
    "BodyTooLarge",
    "Heads",
    "Resolver",
    "WirePool",
    "WireResponse",
    "authority",
]

Origin = tuple[str, str, int]

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: Bytes a status line and headers may take (aiohttp's and h11's limits are of this order): a server
#: that sends headers without end must not fill the memory (the size cap counts bodies only).
MAX_HEAD: Final = 64 * 1024
_DISCONNECTED: Final = "Server disconnected without sending a complete response."


class BodyTooLarge(Exception):
    """An answer longer than the limit; ``status`` is its status code (the caller names the request)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


#: Headers whose first value the connection notes by lower-cased name as the head is read (``WireResponse.noted``):
#: framing, and what the direct lane and the rate governor look up on every answer. One pass over the
#: headers instead of one per reader.
NOTED: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"content-encoding", b"set-cookie", b"x-ratelimit-remaining"}
)


class WireResponse:
    """An answer read whole: status, reason phrase, HTTP version, raw headers (as sent), the headers of
    :data:`NOTED` present (lower-cased name: first value) and body."""

    __slots__ = ("body", "http_version", "noted", "raw_headers", "reason", "status")

    def __init__(
        self,
        status: int,
        reason: bytes,
        http_version: str,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        noted: dict[bytes, bytes] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.raw_headers = raw_headers
        self.body = body
        if noted is None:
            noted = {}
            for name, value in raw_headers:
                lowered = name.lower()
                if lowered in NOTED:
                    noted.setdefault(lowered, value)
        self.noted = noted


class _ResponseReader:
    """An answer fed to httptools as its bytes arrive (on asyncio or trio): framing, the noted headers, the
    size limit and the head's size, whatever the connection under it.

    Subclasses say whether an answer is awaited (:meth:`_awaited`), take it (:meth:`_deliver`) or an error
    (:meth:`_fail`), and :meth:`close` the connection.
    """

    closed: bool

    def __init__(self) -> None:
        self.keep_alive = False
        self._parser = httptools.HttpResponseParser(self)
        self._limit: int | None = None
        self._reset()

    def _reset(self) -> None:
        # The containers of an answer are made as it arrives: a connection waiting for one holds none (the
        # garbage collector walks every waiting request's objects).
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._noted: dict[bytes, bytes] | None = None
        self._body: list[bytes] | None = None
        self._size = 0
        self._received = False
        self._head_size = 0
        self._answered = False
        self._headers_done = False
        self._framed = True  # the answer says where it ends (else: where the connection closes)

    def _awaited(self) -> bool:
        raise NotImplementedError

    def _deliver(self, response: WireResponse) -> None:
        raise NotImplementedError

    def _fail(self, exc: BaseException) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _feed(self, data: bytes | bytearray) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpcore.RemoteProtocolError("the server switched protocols unasked"))
        except httptools.HttpParserError as exc:
            self._fail(httpcore.RemoteProtocolError(f"invalid response: {exc}"))
        if not self._headers_done and not self.closed:
            self._head_size += len(data)
            if self._head_size > MAX_HEAD:
                self._fail(httpcore.RemoteProtocolError(f"the response's headers take more than {MAX_HEAD} bytes"))

    def _ended(self, exc: BaseException | None) -> None:
        """The connection closed while an answer was awaited: the answer, if it ends there, else the error."""
        if self._headers_done and not self._framed:  # a body that ends where the connection does
            self._deliver(self._answer())
        elif isinstance(exc, OSError):
            self._fail(httpcore.ReadError(str(exc) or type(exc).__name__))
        elif self._received:
            self._fail(httpcore.RemoteProtocolError("Server disconnected before the response ended."))
        else:
            self._fail(httpcore.RemoteProtocolError(_DISCONNECTED))

    # -- httptools' callbacks (they never raise: an error fails the waiter) ----------------------------

    def on_message_begin(self) -> None:
        if self._answered:  # bytes past the answer, unasked: what follows is out of step
            self.keep_alive = False
            self.close()

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        if headers is None:
            self._headers = [(name, value)]
        else:
            headers.append((name, value))
        lowered = name.lower()
        if lowered in NOTED:
            noted = self._noted
            if noted is None:
                self._noted = {lowered: value}
            elif lowered not in noted:  # the first value counts
                noted[lowered] = value

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue and the like: the answer follows
            return
        self._headers_done = True
        noted = self._noted
        if noted is None:
            noted = self._noted = {}
        declared = noted.get(b"content-length")
        self._framed = declared is not None or b"transfer-encoding" in noted or status in (204, 304)
        limit = self._limit
        if limit is not None and declared is not None and declared.strip().isdigit() and int(declared) > limit:
            self._fail(BodyTooLarge(status))

    def on_body(self, body: bytes) -> None:
        if self.closed:
            return
        self._size += len(body)
        if self._limit is not None and self._size > self._limit:
            self._fail(BodyTooLarge(self._parser.get_status_code()))
            return
        parts = self._body
        if parts is None:
            self._body = [body]
        else:
            parts.append(body)

    def on_message_complete(self) -> None:
        if not self._headers_done:  # the end of a 1xx: reset for the answer proper
            self._reason = b""
            self._headers = None
            self._noted = None
            return
        if self.closed or not self._awaited():
            return
        self.keep_alive = self._parser.should_keep_alive()
        self._deliver(self._answer())

    def _answer(self) -> WireResponse:
        self._answered = True
        parts, self._body = self._body, None
        body = b"" if parts is None else parts[0] if len(parts) == 1 else b"".join(parts)
        return WireResponse(
            self._parser.get_status_code(),
            self._reason,
            self._parser.get_http_version(),
            self._headers or [],
            body,
            self._noted,
        )


class _Connection(_ResponseReader, asyncio.Protocol):
    """One connection on asyncio: at most one exchange at a time, its answer fed to httptools as bytes arrive."""

    def __init__(self, pool: WirePool, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = True  # one of the pool's open connections until forgotten
        self.idle_since = 0.0
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._last_read = 0.0
        super().__init__()

    # -- the exchange ------------------------------------------------------------------------------

    def send(self, head: bytes, read_timeout: float | None, limit: int | None) -> asyncio.Future[WireResponse]:
        """Send a request's ``head``; the future is its answer. Whoever awaits it calls :meth:`finish` after,
        and :meth:`close` if the wait fails (see :meth:`WirePool.request`, which awaits it itself: a
        coroutine of the connection's own would stay alive as long as every request waits)."""
        assert self.transport is not None
        assert self._waiter is None
        loop = self.loop
        self._reset()
        self._limit = limit
        self.keep_alive = False
        waiter: asyncio.Future[WireResponse] = loop.create_future()
        self._waiter = waiter
        self._read_timeout = read_timeout
        if read_timeout is not None:
            now = self._last_read = loop.time()
            # The timer outlives the exchange, for the connection's next ones: on a keep-alive connection
            # it is made once per quiet period, not once per request (a tenth of the wire's CPU).
            timer = self._timer
            if timer is None or timer.when() > now + read_timeout:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(now + read_timeout, self._check_read)
        self.transport.write(head)
        return waiter

    def finish(self) -> None:
        self._waiter = None

    def _check_read(self) -> None:
        self._timer = None
        waiter, read_timeout = self._waiter, self._read_timeout
        if waiter is None or waiter.done() or read_timeout is None:
            return  # idle, or an exchange without a read timeout: the next exchange starts a timer
        due = self._last_read + read_timeout
        if self.loop.time() < due:  # bytes came (or this exchange began) since: the rest of the period
            self._timer = self.loop.call_at(due, self._check_read)
            return
        waiter.set_exception(httpcore.ReadTimeout("timed out reading the response"))

    def _awaited(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _deliver(self, response: WireResponse) -> None:
        assert self._waiter is not None
        self._waiter.set_result(response)

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            # Not a graceful close: over TLS that waits up to 30 s for the peer's close_notify, holding the
            # socket; nothing is left to send on a connection given up (its answers carry their length).
            self.transport.abort()

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always asyncio's class: uvloop's (the loop of uvicorn, so of many
        # services that call us) derives from none of asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for (on an idle connection): the stream is out of step
            return
        self._last_read = self.loop.time()
        self._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:  # whatever was waited for ends here
            self._timer.cancel()
            self._timer = None
        if not self._awaited():
            self.pool._lost_idle(self)
            return
        self._ended(exc)


class WirePool:
    """Keep-alive connections to the origins of one event loop (see the module's docstring)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int | None, keepalive_expiry: float) -> None:
        self._ssl_context = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._resolver = Resolver()
        self._head = Heads()

    async def request(
        self,
        method: str,
        url: tuple[str, str, int | None, str],
        headers: dict[str, str],
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        pool_timeout: float | None,
        limit: int | None,
    ) -> WireResponse:
        """Send a bodiless ``method`` to ``url`` (scheme, host as sent, port or None, target) and read the answer.

        ``headers`` go as given, after a Host header (unless they have one).
        """
        if self._closed:
            raise httpcore.ConnectError("the connection pool is closed")
        scheme, host, port, target = url
        if scheme not in DEFAULT_PORTS:
            raise httpcore.UnsupportedProtocol(f"{scheme!r} is no scheme of HTTP")
        origin = (scheme, host, port or DEFAULT_PORTS[scheme])
        head = self._head(method, target, authority(host, port), headers)
        connection = self._idle_connection(origin) or await self._checkout(origin, connect_timeout, pool_timeout)
        try:
            waiter = connection.send(head, read_timeout, limit)
            try:
                response = await waiter
            except BaseException:
                connection.close()  # cancelled or failed half-way: what the server sends next is out of step
                raise
            finally:
                connection.finish()
        except BaseException:
            self._forget(connection)
            raise
        if connection.keep_alive and not connection.closed and not self._closed:
            connection.idle_since = connection.loop.time()
            self._idle.setdefault(origin, []).append(connection)
            self._wake()
        else:
            connection.close()
            self._forget(connection)
        return response

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
                self._forget(connection)
        if idle:
            await asyncio.sleep(0)  # the transports let go of their sockets on the loop's next pass

    # -- connections -----------------------------------------------------------------------------------

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            transport = connection.transport
            if connection.closed or transport is None or transport.is_closing():
                self._forget(connection)
                continue
            if connection.loop.time() - connection.idle_since > self._expiry:
                # The most recently used one expired: so did every one under it.
                for stale in (connection, *stack):
                    stale.close()
                    self._forget(stale)
                stack.clear()
                return None
            return connection
        return None

    async def _checkout(self, origin: Origin, connect_timeout: float | None, pool_timeout: float | None) -> _Connection:
        """A connection to ``origin``: an idle one, a new one, or (all in use) the next one given back."""
        loop = asyncio.get_running_loop()
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection
            if self._max is None or self._open < self._max or self._close_oldest_idle():
                return await self._connect(origin, connect_timeout)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but leaving (cancelled): the turn goes to the next waiter
                waiter.cancel()
                if isinstance(exc, TimeoutError):
                    raise httpcore.PoolTimeout("timed out waiting for a connection from the pool") from exc
                raise

    async def _connect(self, origin: Origin, connect_timeout: float | None) -> _Connection:
        self._open += 1
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = scheme == "https"
        try:
            async with asyncio.timeout(connect_timeout):
                sock = await self._resolver.connected_socket(loop, host, port)
                _, protocol = await loop.create_connection(
                    lambda: _Connection(self, origin, loop),
                    sock=sock,
                    ssl=self._ssl_context if tls else None,
                    server_hostname=host if tls else None,
                )
        except BaseException as exc:
            self._open -= 1
            self._wake()
            if isinstance(exc, TimeoutError):
                raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
            if isinstance(exc, OSError):  # refused, unreachable, DNS, TLS handshake: nothing was sent
                raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        return protocol

    def _close_oldest_idle(self) -> bool:
        oldest: _Connection | None = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        oldest.close()
        self._forget(oldest)
        return True

    def _forget(self, connection: _Connection) -> None:
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._wake()

    def _lost_idle(self, connection: _Connection) -> None:
        """An idle connection the server closed: it no longer counts."""
        stack = self._idle.get(connection.origin)
        if stack and connection in stack:
            stack.remove(connection)
            self._forget(connection)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


AddressInfo = tuple[int, int, int, str, tuple[Any, ...]]


class Resolver:
    """Where a host is, looked up once and kept ``ttl`` seconds, one lookup shared by the connections that
    need it meanwhile; then a connected socket, each address tried in turn.

    A fan-out opens its connections at once, and asyncio looks every one's host up anew in its thread
    pool (a few threads): 200 connections to one host were 200 lookups in line, ~35 waves of a DNS round
    trip before the last request could leave. aiohttp keeps lookups 10 s, as here; a host that no address
    of answers is looked up afresh on the next connection.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._known: dict[tuple[str, int], tuple[float, Sequence[AddressInfo]]] = {}
        self._pending: dict[tuple[str, int], asyncio.Task[Sequence[AddressInfo]]] = {}

    async def addresses(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> Sequence[AddressInfo]:
        key = (host, port)
        known = self._known.get(key)
        if known is not None and loop.time() < known[0]:
            return known[1]
        pending = self._pending.get(key)
        if pending is None:
            # A task of its own: the connection that asked first may be cancelled, the others still wait for it.
            pending = self._pending[key] = loop.create_task(self._look_up(loop, key))
            pending.add_done_callback(_retrieved)
        return await asyncio.shield(pending)

    async def _look_up(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int]) -> Sequence[AddressInfo]:
        try:
            infos: Sequence[AddressInfo] = await loop.getaddrinfo(*key, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError(f"no address found for {key[0]}")
            self._known[key] = (loop.time() + self.ttl, infos)
            return infos
        finally:
            del self._pending[key]

    async def connected_socket(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
        """A socket connected to ``host``: its addresses tried in turn (OSError: none took the connection)."""
        infos = await self.addresses(loop, host, port)
        errors: list[OSError] = []
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                errors.append(exc)
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        self._known.pop((host, port), None)  # no address of it answers: look it up again next time
        if len(errors) == 1:
            raise errors[0]
        raise OSError(f"could not connect to {host}:{port}: " + "; ".join(str(e) for e in errors))


def _retrieved(task: asyncio.Task[Sequence[AddressInfo]]) -> None:
    """A lookup whose every waiter was cancelled failed for no one: its error is not "never retrieved"."""
    if not task.cancelled():
        task.exception()


class Heads:
    """Request heads: the request line, then header lines checked and encoded once for recent header sets (a
    fan-out sends the same ones, the token's included, thousands of times; only the request line differs)."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}

    def __call__(self, method: str, target: str, authority: str, headers: dict[str, str]) -> bytes:
        key = (authority, tuple(headers.items()))
        block = self._blocks.get(key)
        if block is None:
            block = _header_block(authority, headers)
            if len(self._blocks) >= 32:
                self._blocks.clear()
            self._blocks[key] = block
        line = f"{method} {target} HTTP/1.1\r\n"
        if line.count("\n") != 1 or line.count("\r") != 1 or "\0" in line:
            raise httpcore.LocalProtocolError("the request line holds a line break or a NUL character")
        return line.encode("utf-8") + block


def authority(host: str, port: int | None) -> str:
    """The Host header's value for ``host`` (an IPv6 literal in brackets) and ``port`` (None: the scheme's)."""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def _header_block(authority: str, headers: dict[str, str]) -> bytes:
    """The header lines and the blank line after them, refused if a value would break a line (header injection)."""
    lines = [] if "host" in headers else [f"host: {authority}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    lines.append("\r\n")
    block = "".join(lines)
    if block.count("\n") != len(lines) or block.count("\r") != len(lines) or "\0" in block:
        raise httpcore.LocalProtocolError("a header name or value holds a line break or a NUL character")
    return block.encode("utf-8")
