"""Bodiless requests straight onto aiohttp's pool, without httpx's request and response objects.

Building an ``httpx.Request``, wrapping aiohttp's answer in an ``httpx.Response`` and reading it
through httpx's stream API cost about a third of a typed call's CPU at fan-out rates: more than
aiohttp itself spends on the exchange. A session whose wire is the :class:`DefaultTransport` it made
itself sends its GETs (and other requests without a body) here instead:

- the headers are httpx's (the client's defaults, the session's, the call's, the bearer token), sent
  as one dict; the URL is the ``httpx.URL`` the session already has;
- a 2xx answer without a content encoding or a cookie is read whole (under ``max_response_size``)
  into an :class:`Answer`, all a typed call needs to parse it;
- any other answer (an error status, a 401 renewing the token, gzip, a cookie to keep) becomes the
  ``httpx.Response`` httpx's own send would have made, read by the same code, so retries, errors,
  redaction and decompression limits see exactly what they always saw.

``Session.request`` hands out an ``httpx.Response`` either way (:meth:`Answer.to_httpx`).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

import httpx
import orjson
from httpx._transports.default import map_httpcore_exceptions

from ._errors import ResponseTooLargeError
from ._limits import read_response
from ._logging import logger, redact_url
from ._oauth import OAuth2Auth
from ._transport import (
    DefaultTransport,
    _AsyncioPool,
    _extensions,
    _HttpxResponseStream,
    _mapped_errors,
    _running_asyncio_loop,
    _target,
)

if TYPE_CHECKING:
    import aiohttp
    from multidict import CIMultiDictProxy

__all__ = ["Answer", "DirectLane", "DirectRequest", "target_of"]

#: Methods that never carry a body here (the lane takes no request body at all).
_BODILESS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})

_CHUNK_SIZE: Final = 64 * 1024


class DirectRequest:
    """What the governor, the logs and errors need of a request that has no ``httpx.Request``."""

    __slots__ = ("headers", "method", "target", "url")

    def __init__(self, method: str, url: httpx.URL, target: str, headers: dict[str, str]) -> None:
        self.method = method
        self.url = url
        self.target = target  # the URL as sent: `url` in its encoded form
        self.headers = headers

    def to_httpx(self) -> httpx.Request:
        """The ``httpx.Request`` httpx would have sent (the token included: errors scrub its echoes)."""
        return httpx.Request(self.method, self.url, headers=self.headers)


class Answer:
    """A response read whole: status, headers (case-insensitive) and body, as the typed parsers use them.

    The lane hands out only 2xx answers this way; others leave it as ``httpx.Response`` (:meth:`to_httpx`).
    """

    __slots__ = ("_raw", "content", "elapsed", "extensions", "headers", "request", "status_code")

    def __init__(
        self,
        request: DirectRequest,
        response: aiohttp.ClientResponse,
        content: bytes,
    ) -> None:
        self.request = request
        self.status_code: int = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self._raw = response
        self.content = content
        self.extensions: dict[str, Any] = {}
        self.elapsed = datetime.timedelta(0)

    def __repr__(self) -> str:
        return f"<Answer [{self.status_code}]>"

    def json(self) -> Any:
        """The body parsed by orjson: 2.5x faster than the standard library on a page of 50 CF apps.

        What orjson refuses and the standard library reads (a byte order mark, UTF-16, ``NaN``, a lone
        surrogate) is read by the standard library, so a body parses here whenever ``httpx.Response.json``
        would parse it. One difference is kept: an integer beyond 64 bits reads as a float, as it does in
        the services' own JavaScript and Java clients (RFC 8259 counts it as not interoperable).
        """
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            return json.loads(self.content)

    async def aclose(self) -> None:
        """Nothing to close: the body was read and the connection given back."""

    def to_httpx(self) -> httpx.Response:
        """This answer as the read ``httpx.Response`` (with its request) httpx's own send would return."""
        raw = self._raw
        response = httpx.Response(
            self.status_code,
            headers=list(raw.raw_headers),
            stream=httpx.ByteStream(self.content),
            request=self.request.to_httpx(),
            extensions={**_extensions(raw), **self.extensions},
        )
        response._content = self.content
        response.elapsed = self.elapsed
        return response


class DirectLane:
    """Whether a request may take the direct lane, and the exchange itself (one per session)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._client_headers: list[Any] | None = None
        self._defaults: dict[str, str] = {}
        # The aiohttp timeouts of the httpx ones last used (a session's calls mostly share theirs).
        self._timeouts: tuple[httpx.Timeout, aiohttp.ClientTimeout] | None = None

    def pool(self, method: str, url: httpx.URL | str, auth: httpx.Auth | None) -> _AsyncioPool | None:
        """The aiohttp pool to send on, or ``None`` when this request must go through httpx.

        Everything a client may be told after the session made it is looked at on each call: event
        hooks, redirects, cookies kept from an earlier answer, proxies or transports mounted on it.
        """
        client = self._client
        if method not in _BODILESS or not isinstance(url, httpx.URL):
            return None
        if not (auth is None or type(auth) is OAuth2Auth):
            return None
        hooks = client.event_hooks
        if hooks["request"] or hooks["response"] or client.follow_redirects or client.cookies.jar:
            return None
        if client.auth is not None or client.params:
            return None
        transport = getattr(client, "_transport", None)
        if type(transport) is not DefaultTransport or not transport.uses_aiohttp:
            return None
        if getattr(client, "_mounts", True) and client._transport_for_url(url) is not transport:
            return None  # a proxy (from the environment, say) or a transport mounted for this URL
        if httpx.AsyncHTTPTransport.handle_async_request is not _HTTPX_HANDLE:
            return None  # pytest-httpx (or another patch) answers in-process
        if _running_asyncio_loop() is None:
            return None  # trio: httpcore's pool
        pool = transport._pool
        assert isinstance(pool, _AsyncioPool)
        return pool

    def headers(self, call_headers: Mapping[str, str]) -> dict[str, str] | None:
        """The client's default headers with the call's over them (names lower-cased, as httpx merges them)."""
        current = getattr(self._client.headers, "_list", None)
        if current is None:
            return None
        if current != self._client_headers:
            # The client's headers changed (or this is the first call): take them again.
            self._client_headers = list(current)
            self._defaults = {key.lower(): value for key, value in self._client.headers.items()}
        merged = dict(self._defaults)
        for name, value in call_headers.items():
            merged[name.lower()] = value
        return merged

    async def exchange(
        self,
        pool: _AsyncioPool,
        request: DirectRequest,
        auth: OAuth2Auth | None,
        io_limits: httpx.Timeout,
        max_response_size: int | None,
    ) -> Answer | httpx.Response:
        """Send ``request`` with ``auth``'s token; an :class:`Answer` for a plain 2xx, else a read ``httpx.Response``.

        ``io_limits`` are the call's httpx timeouts (pool, connect, read), as aiohttp takes them.
        """
        loop = asyncio.get_running_loop()
        url = request.url
        cached = self._timeouts
        if cached is None or cached[0] is not io_limits:
            timeouts = pool._timeout({"pool": io_limits.pool, "connect": io_limits.connect, "read": io_limits.read})
            cached = self._timeouts = (io_limits, timeouts)
        timeouts = cached[1]
        token = None
        if auth is not None:
            token = await auth.cache.token(auth.grant)
            request.headers["authorization"] = f"Bearer {token.access_token}"
        response = await _send(pool, loop, request, timeouts)
        if response.status == 401 and auth is not None and token is not None:
            # As OAuth2Auth's flow does: the token may have been revoked early; renew it and send once more.
            await read_response(_as_httpx(request, response), auth.max_response_size)
            logger.debug("401 for %s %s; renewing the token once", request.method, redact_url(url))
            token = await auth.cache.token(auth.grant, reject=token)
            request.headers["authorization"] = f"Bearer {token.access_token}"
            response = await _send(pool, loop, request, timeouts)
        headers = response.headers
        if "content-encoding" in headers:  # decoded (under the cap) by the reader httpx's path uses
            converted = _as_httpx(request, response)
            await read_response(converted, max_response_size)
        else:
            body = await _read(request, response, max_response_size)
            if 200 <= response.status < 300 and "set-cookie" not in headers:
                return Answer(request, response, body)
            # An error, a 429 above all, read as quickly as a success: in a fan-out the governor must hear
            # of it before the tasks whose 200s arrived with it send again.
            converted = Answer(request, response, body).to_httpx()
        if "set-cookie" in headers:
            self._client.cookies.extract_cookies(converted)
        return converted


_HTTPX_HANDLE: Final = httpx.AsyncHTTPTransport.handle_async_request


def target_of(url: httpx.URL) -> str:
    """``url`` as sent on the wire (what httpx's transport would send for it)."""
    return _target(url.raw_scheme, url.raw_host, url.port, url.raw_path)


async def _send(
    pool: _AsyncioPool,
    loop: asyncio.AbstractEventLoop,
    request: DirectRequest,
    timeouts: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    from yarl import URL  # aiohttp's; imported with the first call, not with scp_async

    try:
        return await pool._client(loop).request(
            request.method,
            URL(request.target, encoded=True),
            headers=request.headers,
            allow_redirects=False,
            timeout=timeouts,
            proxy=None,
        )
    except Exception as exc:
        _raise_mapped(exc)


def _raise_mapped(exc: Exception) -> NoReturn:
    """Raise ``exc`` as the transport maps aiohttp's errors (httpx's, via httpcore's); others as they are.

    The mapping's context managers are entered only here, on the way out: on every call they cost more
    than the rest of the lane's own work.
    """
    with map_httpcore_exceptions(), _mapped_errors():
        raise exc


def _as_httpx(request: DirectRequest, response: aiohttp.ClientResponse) -> httpx.Response:
    return httpx.Response(
        status_code=response.status,
        headers=list(response.raw_headers),
        stream=_HttpxResponseStream(response),
        extensions=_extensions(response),
        request=request.to_httpx(),
    )


async def _read(request: DirectRequest, response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole (identity-encoded) body, refused past ``limit`` bytes; the connection goes back to the pool."""
    try:
        declared = response.content_length
        if limit is not None and declared is not None and declared > limit:
            raise ResponseTooLargeError(limit, status_code=response.status, method=request.method, url=str(request.url))
        if declared is not None:  # aiohttp stops at the declared length: one read
            body = await response.content.read()
        else:
            parts: list[bytes] = []
            total = 0
            async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
                total += len(chunk)
                if limit is not None and total > limit:
                    raise ResponseTooLargeError(
                        limit, status_code=response.status, method=request.method, url=str(request.url)
                    )
                parts.append(chunk)
            body = b"".join(parts)
    except BaseException as exc:
        response.close()  # half-read: the connection cannot be reused
        if isinstance(exc, Exception):
            _raise_mapped(exc)
        raise
    response.release()
    return body
