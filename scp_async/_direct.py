"""Bodiless requests straight onto the wire, without httpx's request and response objects.

Building an ``httpx.Request``, wrapping the answer in an ``httpx.Response`` and reading it through
httpx's stream API cost about a third of a typed call's CPU at fan-out rates, and aiohttp's general
client most of the rest. A session whose wire is the :class:`DefaultTransport` it made itself sends its
GETs (and DELETEs and OPTIONS, the requests without a body) here instead, on the lean HTTP/1.1 client
of :mod:`._wire` under asyncio and :mod:`._wire_trio` under trio (its connections beside the transport's
pools, with the same SSL context and limits):

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

import datetime
import json
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, NoReturn
from urllib.parse import urlencode

import httpx
import orjson
from httpx._transports.default import map_httpcore_exceptions
from multidict import CIMultiDict

from ._errors import ResponseTooLargeError
from ._limits import read_response
from ._logging import logger, redact_url
from ._oauth import OAuth2Auth
from ._transport import DefaultTransport, _AsyncioPool, _running_asyncio_loop
from ._wire import NOTED, BodyTooLarge, WireResponse

__all__ = ["Answer", "DirectLane", "DirectRequest", "wire_address", "with_params"]

#: Methods that carry no body here (the lane takes no request body at all). Not HEAD: its answer
#: declares a length it does not send, which the wire would wait for.
_BODILESS: Final = frozenset({"GET", "DELETE", "OPTIONS"})


class DirectRequest:
    """What the wire, the governor, the logs and errors need of a request that has no ``httpx.Request``."""

    __slots__ = ("address", "headers", "method", "url")

    def __init__(self, method: str, url: httpx.URL, headers: dict[str, str]) -> None:
        self.method = method
        self.url = url
        self.address = wire_address(url)
        self.headers = headers

    def to_httpx(self) -> httpx.Request:
        """The ``httpx.Request`` httpx would have sent (the token included: errors scrub its echoes)."""
        return httpx.Request(self.method, self.url, headers=self.headers)


_NO_EXTENSIONS: Final[Mapping[str, Any]] = MappingProxyType({})


class Answer:
    """A response read whole: status, headers (case-insensitive) and body, as the typed parsers use them.

    The lane hands out only 2xx answers this way; others leave it as ``httpx.Response`` (:meth:`to_httpx`).
    """

    __slots__ = ("_headers", "_raw", "content", "extensions", "request", "seconds", "status_code")

    def __init__(self, request: DirectRequest, response: WireResponse) -> None:
        self.request = request
        self.status_code: int = response.status
        self._headers: CIMultiDict[str] | None = None
        self._raw = response
        self.content = response.body
        self.extensions: Mapping[str, Any] = _NO_EXTENSIONS  # none on the lane: a shared empty one
        self.seconds = 0.0  # from sending the request to its answer read whole (``elapsed``)

    @property
    def elapsed(self) -> datetime.timedelta:
        """The time from sending the request to reading its answer whole, as ``httpx.Response.elapsed``."""
        return datetime.timedelta(seconds=self.seconds)

    @elapsed.setter
    def elapsed(self, value: datetime.timedelta) -> None:
        self.seconds = value.total_seconds()

    @property
    def headers(self) -> CIMultiDict[str]:
        """The headers, made on first use: a typed call reads its body, and its headers only if it asks."""
        headers = self._headers
        if headers is None:
            headers = self._headers = CIMultiDict(
                [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw.raw_headers]
            )
        return headers

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower case), found without making :attr:`headers`."""
        if self._headers is not None:
            return self._headers.get(name)
        wanted = name.encode("latin-1")
        if wanted in NOTED:  # looked up as the head was read
            noted = self._raw.noted.get(wanted)
            return None if noted is None else noted.decode("latin-1")
        for raw_name, value in self._raw.raw_headers:
            if raw_name.lower() == wanted:
                return value.decode("latin-1")
        return None

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
        response = _as_httpx(self.request, self._raw)
        response.extensions.update(self.extensions)
        response._content = self.content
        response.elapsed = self.elapsed
        return response


class DirectLane:
    """Whether a request may take the direct lane, and the exchange itself (one per session)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._client_headers: list[Any] | None = None
        self._defaults: dict[str, str] = {}

    def pool(self, method: str, url: httpx.URL | str, auth: httpx.Auth | None) -> _AsyncioPool | None:
        """The transport's pool (whose wire this lane sends on), or ``None`` when this request must go through httpx.

        Everything a client may be told after the session made it is looked at on each call: event
        hooks, redirects, cookies kept from an earlier answer, proxies or transports mounted on it.
        """
        client = self._client
        if method not in _BODILESS or not isinstance(url, httpx.URL):
            return None
        if not (auth is None or type(auth) is OAuth2Auth):
            return None
        hooks = client.event_hooks
        if hooks["request"] or hooks["response"] or client.follow_redirects:
            return None
        jar = client.cookies.jar
        # The standard library's jar counts its cookies one by one; its dict of them tells "none" at once.
        if getattr(jar, "_cookies", jar) and len(jar):
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
        if _running_asyncio_loop() is None and not _under_trio():
            return None  # no loop this lane knows: httpx's own way
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
        wire = pool.lane_wire()
        url = request.url
        token = None
        if auth is not None:
            # A fresh token is taken without a coroutine; only a renewal waits.
            token = auth.cache.fresh(auth.grant) or await auth.cache.token(auth.grant)
            request.headers["authorization"] = token.authorization
        # The wire's own errors are mapped here, around its calls, rather than in a coroutine of its own:
        # one frame less for as long as the call waits.
        address = request.address
        try:
            response = await wire.request(
                request.method,
                address,
                request.headers,
                connect_timeout=io_limits.connect,
                read_timeout=io_limits.read,
                pool_timeout=io_limits.pool,
                limit=max_response_size,
            )
        except Exception as exc:
            _raise_mapped(exc, request, max_response_size)
        if response.status == 401 and auth is not None and token is not None:
            # As OAuth2Auth's flow does: the token may have been revoked early; renew it and send once more.
            # Its body is read (decoded, under the flow's own cap) as the flow reads it.
            await read_response(_as_httpx(request, response), auth.max_response_size)
            logger.debug("401 for %s %s; renewing the token once", request.method, redact_url(url))
            token = await auth.cache.token(auth.grant, reject=token)
            request.headers["authorization"] = token.authorization
            try:
                response = await wire.request(
                    request.method,
                    address,
                    request.headers,
                    connect_timeout=io_limits.connect,
                    read_timeout=io_limits.read,
                    pool_timeout=io_limits.pool,
                    limit=max_response_size,
                )
            except Exception as exc:
                _raise_mapped(exc, request, max_response_size)
        noted = response.noted
        if b"content-encoding" in noted:  # decoded (under the cap) by the reader httpx's path uses
            converted = _as_httpx(request, response)
            await read_response(converted, max_response_size)
        else:
            answer = Answer(request, response)
            if 200 <= response.status < 300 and b"set-cookie" not in noted:
                return answer
            # An error, a 429 above all, read as quickly as a success: in a fan-out the governor must hear
            # of it before the tasks whose 200s arrived with it send again.
            converted = answer.to_httpx()
        if "set-cookie" in converted.headers:
            self._client.cookies.extract_cookies(converted)
        return converted


_HTTPX_HANDLE: Final = httpx.AsyncHTTPTransport.handle_async_request


def _under_trio() -> bool:
    trio = sys.modules.get("trio")  # not imported: not running either
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def wire_address(url: httpx.URL) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and target of ``url`` as the wire sends them (httpx's ``raw_*`` forms, decoded)."""
    try:
        # httpx keeps them so already; its raw_* properties encode each on every use (and the wire decodes).
        parts = url._uri_reference
        scheme, host, port, path, query = parts.scheme, parts.host, parts.port, parts.path, parts.query
    except AttributeError:  # an httpx whose URL has other insides
        return (url.raw_scheme.decode("ascii"), url.raw_host.decode("ascii"), url.port, url.raw_path.decode("ascii"))
    target = path or "/"
    if query is not None:
        target += "?" + query
    return (scheme, host, port, target)


def _query_value(value: object) -> str:
    """A query value as httpx writes it (JSON's true and false, nothing for None)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def with_params(url: httpx.URL, params: Any) -> httpx.URL:
    """``url.copy_merge_params(params)``, the same URL, made without parsing it again for the usual case.

    httpx rebuilds and re-validates the whole URL to add a query (~90 µs, most of a list call's own work
    besides its body); a URL without a query or fragment, given a dict of plain values and lists of them
    (what the generated calls pass), takes httpx's query text (``urlencode`` of the values as httpx writes
    them) and keeps every other part as parsed. Anything else goes the long way.
    """
    if not isinstance(params, dict) or url.query or url.fragment:
        return url.copy_merge_params(params)
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if not isinstance(key, str):
            return url.copy_merge_params(params)
        if isinstance(value, list | tuple):
            items.extend((key, _query_value(item)) for item in value)
        else:
            items.append((key, _query_value(value)))
    if not params:
        return url
    try:  # every list empty: an empty query ("?"), as httpx writes it
        parts = url._uri_reference._replace(query=urlencode(items))
        merged = httpx.URL.__new__(httpx.URL)
        merged._uri_reference = parts
    except (AttributeError, TypeError):  # an httpx whose URL has other insides
        return url.copy_merge_params(params)
    return merged


def _raise_mapped(exc: Exception, request: DirectRequest, limit: int | None) -> NoReturn:
    """Raise the wire's errors as httpx's transport would (httpcore's mapped to httpx's), others as they are.

    The mapping's context manager is entered only here, on the way out: on every call it would cost more
    than the rest of the lane's own work.
    """
    if isinstance(exc, BodyTooLarge):
        assert limit is not None
        url = str(request.url)
        raise ResponseTooLargeError(limit, status_code=exc.status, method=request.method, url=url) from None
    with map_httpcore_exceptions():
        raise exc


def _as_httpx(request: DirectRequest, response: WireResponse) -> httpx.Response:
    """The answer as the (not yet read) ``httpx.Response`` httpx's transport would have handed out."""
    return httpx.Response(
        status_code=response.status,
        headers=response.raw_headers,
        stream=httpx.ByteStream(response.body),
        extensions={"http_version": f"HTTP/{response.http_version}".encode(), "reason_phrase": response.reason},
        request=request.to_httpx(),
    )
