"""The wire under a session: httpx's transport, with aiohttp's connection pool where asyncio runs.

httpcore's pool (httpx's own) scans every connection for every queued request and probes each idle
socket while doing so: at 50-200 concurrent calls that costs more than the calls themselves, and the
more connections it keeps alive, the slower it gets (docs/transport.md has the measurements).
aiohttp's pool does not have that cost. :class:`DefaultTransport` is an ``httpx.AsyncHTTPTransport``
whose pool is aiohttp's while an asyncio loop runs, and httpcore's under trio. Being httpx's own
transport class, everything that works on it keeps working: ``pytest-httpx`` (which patches it),
proxies from the environment (mounted beside it by the session, see :meth:`DefaultTransport.proxy_mounts`),
httpx's error classes.

Errors are mapped to httpcore's (and so to httpx's) with care for what the retry policy needs to
know: a connection that was never made (``ConnectError``/``ConnectTimeout``/``PoolTimeout``, safe to
retry for any method) is told apart from a request that may have reached the server (a dropped
connection is ``RemoteProtocolError``, a broken body ``ReadError``, a slow answer ``ReadTimeout``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions

from ._wire import WirePool

if TYPE_CHECKING:
    import aiohttp

    from ._wire_trio import TrioWirePool

__all__ = ["DEFAULT_LIMITS", "DefaultTransport"]

#: Connections per session: enough for a fan-out of 200 calls at a time, each on its own connection.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=256, max_keepalive_connections=20, keepalive_expiry=30.0)

_CHUNK_SIZE: Final = 64 * 1024


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # trio, or no loop at all
        return None


class DefaultTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on aiohttp's connection pool under asyncio, on httpcore's under trio.

    ``verify``, ``cert`` and ``trust_env`` are httpx's; ``limits.max_connections`` bounds both pools
    (httpcore also keeps ``max_keepalive_connections`` idle: more makes its pool slower, not faster).
    ``aiohttp=False`` (or aiohttp not installed) uses httpcore's pool everywhere.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: httpx._types.CertTypes | None = None,
        trust_env: bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        aiohttp: bool = True,
    ) -> None:
        # One TLS context (loading the CA bundle is the costly part of a transport) for both pools, and the
        # system's one shared by every transport that verifies against it: a script that opens a session per
        # task would load the bundle (~20 ms) each time.
        if verify is True and cert is None:
            ssl_context = _verifying_context(
                trust_env, *((os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else ())
            )
        else:
            ssl_context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        super().__init__(verify=ssl_context, trust_env=trust_env, limits=limits)
        self._ssl_context, self._limits, self._trust_env = ssl_context, limits, trust_env
        if aiohttp and _aiohttp_available():
            self._pool = _AsyncioPool(self._pool, ssl_context=ssl_context, limits=limits)  # type: ignore[assignment]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pool
        # Straight from httpx's request to aiohttp's and back (httpcore's request and response objects in
        # between cost a fifth of a call), unless httpx's transport class was patched: pytest-httpx
        # mocks responses that way, and a patched class must keep answering for its subclasses.
        if (
            isinstance(pool, _AsyncioPool)
            and httpx.AsyncHTTPTransport.handle_async_request is _HTTPX_HANDLE
            and (loop := _running_asyncio_loop()) is not None
        ):
            with map_httpcore_exceptions():
                return await pool.send(request, loop)
        return await super().handle_async_request(request)

    def proxy_mounts(self) -> dict[str, httpx.AsyncBaseTransport | None]:
        """The proxies of the environment (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) as httpx reads them,
        as ``mounts=`` for a client on this transport: httpx skips them for a client given a transport.

        A proxied URL goes through httpx's own transport with this one's TLS settings and limits; a
        ``NO_PROXY`` pattern maps to ``None``, which is this transport.
        """
        if not self._trust_env:
            return {}
        from httpx._utils import get_environment_proxies

        return {
            pattern: None
            if url is None
            else httpx.AsyncHTTPTransport(verify=self._ssl_context, limits=self._limits, proxy=httpx.Proxy(url))
            for pattern, url in get_environment_proxies().items()
        }

    @property
    def uses_aiohttp(self) -> bool:
        """Whether requests made under asyncio go through aiohttp's pool."""
        return isinstance(self._pool, _AsyncioPool)


_HTTPX_HANDLE: Final = httpx.AsyncHTTPTransport.handle_async_request


def answers_from_network() -> bool:
    """Whether httpx's transport class is its own (not patched to answer in-process, as pytest-httpx does)."""
    return httpx.AsyncHTTPTransport.handle_async_request is _HTTPX_HANDLE


@functools.lru_cache(maxsize=8)
def _verifying_context(trust_env: bool, *environment: str | None) -> ssl.SSLContext:
    # Keyed by the variables httpx reads, so a changed SSL_CERT_FILE gets a context of its own. Nothing
    # here changes a context after it was made, so sharing one is safe (SSLContext is thread-safe).
    return httpx.create_ssl_context(verify=True, trust_env=trust_env)


def _aiohttp_available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


class _AsyncioPool:
    """The part of httpcore's pool interface httpx uses, served by an ``aiohttp.ClientSession`` while asyncio runs."""

    def __init__(
        self, fallback: httpcore.AsyncConnectionPool, *, ssl_context: ssl.SSLContext, limits: httpx.Limits
    ) -> None:
        self._fallback = fallback
        self._ssl_context = ssl_context
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._wire: WirePool | None = None
        self._wire_loop: asyncio.AbstractEventLoop | None = None
        self._trio_wire: TrioWirePool | None = None
        self._trio_run: object = None  # the trio run its connections belong to (its token)

    def wire(self, loop: asyncio.AbstractEventLoop) -> WirePool:
        """The direct lane's connections (``_wire.py``) on ``loop``: beside aiohttp's, with the same TLS settings."""
        if self._wire is None or self._wire_loop is not loop:
            # Connections belong to their loop; a new loop (another asyncio.run) gets a pool of its own.
            self._wire = WirePool(
                ssl_context=self._ssl_context,
                max_connections=self._limits.max_connections,
                keepalive_expiry=self._limits.keepalive_expiry or 15.0,
            )
            self._wire_loop = loop
        return self._wire

    def lane_wire(self) -> WirePool | TrioWirePool:
        """The direct lane's connections for the running event loop: asyncio's (``_wire.py``) or trio's
        (``_wire_trio.py``), with the same TLS settings and limits."""
        loop = _running_asyncio_loop()
        if loop is not None:
            return self.wire(loop)
        import trio

        run = trio.lowlevel.current_trio_token()
        if self._trio_wire is None or self._trio_run is not run:
            from ._wire_trio import TrioWirePool

            # Connections belong to their run; another trio.run gets a pool of its own.
            self._trio_wire = TrioWirePool(
                ssl_context=self._ssl_context,
                max_connections=self._limits.max_connections,
                keepalive_expiry=self._limits.keepalive_expiry or 15.0,
            )
            self._trio_run = run
        return self._trio_wire

    def _client(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        if self._session is None or self._loop is not loop:
            import aiohttp

            # A session belongs to its loop; a new loop (another asyncio.run) gets a session of its own.
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self._limits.keepalive_expiry or 15.0,
                ssl=self._ssl_context,
            )
            # No cookie jar, no default headers, no decompression: httpx does all of that above us.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
            # aiohttp silently resends an idempotent request once when a reused connection drops: the
            # retry policy must see that drop, or a DELETE carried out before its answer was lost ends
            # as NotFound (the policy's own retries count it as done).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._loop = loop
        return self._session

    def _timeout(self, timeouts: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            if len(self._timeouts) > 64:  # callers that vary their timeouts call after call
                self._timeouts.clear()
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[1], sock_read=key[2]
            )
        return timeout

    async def _request(
        self,
        loop: asyncio.AbstractEventLoop,
        method: bytes,
        target: str,
        raw_headers: list[tuple[bytes, bytes]],
        stream: Any,
        extensions: Mapping[str, Any],
    ) -> aiohttp.ClientResponse:
        from yarl import URL

        # A body of unknown length: aiohttp sets chunked framing itself and refuses a header that says so.
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in raw_headers
            if name.lower() != b"transfer-encoding"
        ]
        data = None if _has_no_body(raw_headers) else _body(stream)
        with _mapped_errors():
            return await self._client(loop).request(
                method.decode("ascii"),
                URL(target, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout(extensions.get("timeout", {})),
                server_hostname=extensions.get("sni_hostname"),
                proxy=None,
            )

    async def send(self, request: httpx.Request, loop: asyncio.AbstractEventLoop) -> httpx.Response:
        """``request`` over aiohttp, answered as httpx's transport would (errors as httpcore's)."""
        url = request.url
        target = _target(url.raw_scheme, url.raw_host, url.port, url.raw_path)
        raw = request.headers.raw
        response = await self._request(
            loop, request.method.encode("ascii"), target, raw, request.stream, request.extensions
        )
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_HttpxResponseStream(response),
            extensions=_extensions(response),
        )

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        loop = _running_asyncio_loop()
        if loop is None:
            return await self._fallback.handle_async_request(request)
        url = request.url
        target = _target(url.scheme, url.host, url.port, url.target)
        response = await self._request(
            loop, request.method, target, request.headers, request.stream, request.extensions
        )
        return httpcore.Response(
            status=response.status,
            headers=list(response.raw_headers),
            content=_ResponseStream(response),
            extensions=_extensions(response),
        )

    async def aclose(self) -> None:
        session, loop = self._session, self._loop
        self._session = self._loop = None
        if session is not None and loop is _running_asyncio_loop():
            await session.close()
        wire, wire_loop = self._wire, self._wire_loop
        self._wire = self._wire_loop = None
        if wire is not None and wire_loop is _running_asyncio_loop():
            await wire.aclose()
        trio_wire = self._trio_wire
        self._trio_wire = self._trio_run = None
        if trio_wire is not None:
            await trio_wire.aclose()  # closes sockets only: safe from any loop
        await self._fallback.aclose()

    async def __aenter__(self) -> _AsyncioPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _target(scheme: bytes, host: bytes, port: int | None, target: bytes) -> str:
    authority = host.decode("ascii")
    if ":" in authority:  # an IPv6 literal
        authority = f"[{authority}]"
    if port is not None:
        authority += f":{port}"
    return f"{scheme.decode('ascii')}://{authority}{target.decode('ascii')}"


def _extensions(response: aiohttp.ClientResponse) -> dict[str, Any]:
    version = response.version
    return {
        "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version is not None else b"HTTP/1.1",
        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
    }


def _has_no_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            return value.strip() == b"0"
        if lowered == b"transfer-encoding":
            return False
    return True


async def _body(stream: Any) -> AsyncIterator[bytes]:
    # httpx has framed the body (Content-Length or chunked) in the headers; aiohttp writes what we give it.
    async for chunk in stream:
        yield chunk


class _ResponseStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        response = self.response
        with _mapped_errors():
            length = response.content_length
            if length is not None and length <= _CHUNK_SIZE:  # most answers: one read, not a loop
                body = await response.content.read()
                if body:
                    yield body
                return
            async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
                yield chunk

    async def aclose(self) -> None:
        # A body read to its end gives the connection back; one left half-read closes it.
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()


class _HttpxResponseStream(httpx.AsyncByteStream):
    """An aiohttp body as httpx's response stream (errors as httpx's, like httpx's own transport)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._inner = _ResponseStream(response)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_httpcore_exceptions():
            async for chunk in self._inner:
                yield chunk

    async def read_declared(self) -> bytes:
        """The whole body in one read, for a response that declares its length (aiohttp stops there)."""
        with map_httpcore_exceptions(), _mapped_errors():
            return await self._inner.response.content.read()

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """aiohttp's errors as httpcore's, keeping 'never sent' apart from 'may have been carried out'."""
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc) or "timed out connecting") from exc
    except aiohttp.SocketTimeoutError as exc:
        raise httpcore.ReadTimeout(str(exc) or "timed out reading the response") from exc
    except aiohttp.ClientConnectorError as exc:  # DNS, refused, TLS handshake: nothing was sent
        raise httpcore.ConnectError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpcore.RemoteProtocolError("Server disconnected without sending a complete response.") from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpcore.RemoteProtocolError(f"broken response body: {exc}") from exc
    except aiohttp.ClientResponseError as exc:  # a status line or header aiohttp could not parse
        raise httpcore.RemoteProtocolError(f"invalid response: {exc.message}") from exc
    except aiohttp.InvalidURL as exc:
        raise httpcore.UnsupportedProtocol(str(exc)) from exc
    except (aiohttp.ClientOSError, aiohttp.ClientConnectionError) as exc:
        raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientError as exc:
        raise httpcore.NetworkError(str(exc) or type(exc).__name__) from exc
    except TimeoutError as exc:  # older aiohttp raises the bare asyncio error for sock_read
        raise httpcore.ReadTimeout("timed out reading the response") from exc
