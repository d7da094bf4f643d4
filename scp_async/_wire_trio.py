"""The direct lane's HTTP/1.1 client under trio: the wire of ``_wire.py`` on trio's streams.

Under trio httpx's transport uses httpcore's pool, which closes a connection given back while more than
``max_keepalive_connections`` (20) are open, and checks every connection for every waiting request: a
fan-out of 50 calls opened a new connection, over TLS a new handshake, for nearly every call (999
connections for 1,000 calls, 5 ms of CPU each), and allowing more kept-alive connections made each
call's scan cost more still (10-14 ms). This pool keeps them as the asyncio one does: per origin, the
most recently used first, at most ``max_connections`` open, idle ones closed after ``keepalive_expiry``.

The answer is read by the same httptools reader (``_wire._ResponseReader``); httpx's read timeout bounds
each wait for bytes, its connect timeout making the connection (TCP and TLS), its pool timeout the wait
for a free one. Errors are httpcore's, as on asyncio: ``ConnectError``/``ConnectTimeout``/``PoolTimeout``
when nothing was sent, ``RemoteProtocolError``/``ReadError``/``ReadTimeout`` when the request may have
reached the server. An exchange that does not end normally (cancelled, failed) closes its connection.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections import deque
from typing import Final

import httpcore
import trio

from ._wire import DEFAULT_PORTS, Heads, WireResponse, _ResponseReader, authority

__all__ = ["TrioWirePool"]

Origin = tuple[str, str, int]

_CHUNK: Final = 64 * 1024


class _TrioConnection(_ResponseReader):
    """One connection: at most one exchange at a time, its bytes read by the task that awaits the answer."""

    def __init__(self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        self.closed = False
        self.counted = True  # one of the pool's open connections until forgotten
        self.idle_since = 0.0
        self._waiting = False
        self._response: WireResponse | None = None
        self._error: BaseException | None = None
        super().__init__()

    def _socket(self) -> trio.socket.SocketType:
        stream = self.stream
        return stream.transport_stream.socket if isinstance(stream, trio.SSLStream) else stream.socket

    def usable(self) -> bool:
        """Whether an idle connection may carry a request: not closed, and nothing to read (the server's close)."""
        if self.closed:
            return False
        try:
            return not self._socket().is_readable()
        except OSError:
            return False

    async def exchange(self, head: bytes, read_timeout: float | None, limit: int | None) -> WireResponse:
        self._reset()
        self._limit = limit
        self.keep_alive = False
        self._response = self._error = None
        self._waiting = True
        quiet = math.inf if read_timeout is None else read_timeout
        try:
            try:
                await self.stream.send_all(head)
                while self._response is None and self._error is None:
                    with trio.move_on_after(quiet) as scope:
                        data = await self.stream.receive_some(_CHUNK)
                    if scope.cancelled_caught:
                        raise httpcore.ReadTimeout("timed out reading the response")
                    if not data:
                        self.closed = True
                        self._ended(None)
                        break
                    self._feed(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self.closed = True
                cause = exc.__cause__
                self._ended(cause if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError) else None)
            except OSError as exc:
                self.closed = True
                self._ended(exc)
        finally:
            self._waiting = False
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response

    def _awaited(self) -> bool:
        return self._waiting and self._response is None and self._error is None

    def _deliver(self, response: WireResponse) -> None:
        self._response = response

    def _fail(self, exc: BaseException) -> None:
        if self._awaited():
            self._error = exc
        self.close()

    def close(self) -> None:
        """Close at once, without TLS's goodbye (as the asyncio wire aborts its transport); a task reading it wakes."""
        self.closed = True
        with contextlib.suppress(OSError):
            self._socket().close()


class TrioWirePool:
    """Keep-alive connections to the origins of one trio run (see the module's docstring)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int | None, keepalive_expiry: float) -> None:
        self._ssl_context = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, list[_TrioConnection]] = {}
        self._open = 0
        self._waiters: deque[trio.Event] = deque()
        self._closed = False
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
        """Send a bodiless ``method`` to ``url`` (scheme, host as sent, port or None, target) and read the answer."""
        if self._closed:
            raise httpcore.ConnectError("the connection pool is closed")
        scheme, host, port, target = url
        if scheme not in DEFAULT_PORTS:
            raise httpcore.UnsupportedProtocol(f"{scheme!r} is no scheme of HTTP")
        origin = (scheme, host, port or DEFAULT_PORTS[scheme])
        head = self._head(method, target, authority(host, port), headers)
        connection = self._idle_connection(origin) or await self._checkout(origin, connect_timeout, pool_timeout)
        try:
            response = await connection.exchange(head, read_timeout, limit)
        except BaseException:
            connection.close()  # cancelled or failed half-way: what the server sends next is out of step
            self._forget(connection)
            raise
        if connection.keep_alive and not connection.closed and not self._closed:
            connection.idle_since = trio.current_time()
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

    def _idle_connection(self, origin: Origin) -> _TrioConnection | None:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            if not connection.usable():
                connection.close()
                self._forget(connection)
                continue
            if trio.current_time() - connection.idle_since > self._expiry:
                # The most recently used one expired: so did every one under it.
                for stale in (connection, *stack):
                    stale.close()
                    self._forget(stale)
                stack.clear()
                return None
            return connection
        return None

    async def _checkout(
        self, origin: Origin, connect_timeout: float | None, pool_timeout: float | None
    ) -> _TrioConnection:
        """A connection to ``origin``: an idle one, a new one, or (all in use) the next one given back."""
        deadline = math.inf if pool_timeout is None else trio.current_time() + pool_timeout
        while True:
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection
            if self._max is None or self._open < self._max or self._close_oldest_idle():
                return await self._connect(origin, connect_timeout)
            waiter = trio.Event()
            self._waiters.append(waiter)
            try:
                with trio.move_on_at(deadline) as scope:
                    await waiter.wait()
            except BaseException:
                if waiter.is_set():
                    self._wake()  # woken, but leaving (cancelled): the turn goes to the next waiter
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if scope.cancelled_caught:
                raise httpcore.PoolTimeout("timed out waiting for a connection from the pool")

    async def _connect(self, origin: Origin, connect_timeout: float | None) -> _TrioConnection:
        self._open += 1
        scheme, host, port = origin
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | None = None
        try:
            with trio.fail_after(math.inf if connect_timeout is None else connect_timeout):
                stream = await trio.open_tcp_stream(host, port)
                if scheme == "https":
                    stream = trio.SSLStream(stream, self._ssl_context, server_hostname=host, https_compatible=True)
                    await stream.do_handshake()
        except BaseException as exc:
            self._open -= 1
            self._wake()
            if stream is not None:
                await trio.aclose_forcefully(stream)
            if isinstance(exc, trio.TooSlowError):
                raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
            if isinstance(exc, OSError | trio.BrokenResourceError):  # refused, unreachable, DNS, TLS: nothing was sent
                raise httpcore.ConnectError(str(exc.__cause__ or exc) or type(exc).__name__) from exc
            raise
        return _TrioConnection(stream, origin)

    def _close_oldest_idle(self) -> bool:
        oldest: _TrioConnection | None = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        oldest.close()
        self._forget(oldest)
        return True

    def _forget(self, connection: _TrioConnection) -> None:
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.is_set():
                waiter.set()
                return
