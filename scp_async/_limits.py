"""Reading response bodies under a size cap.

A body is read from a streamed response, counted after decompression, and abandoned (connection
closed) as soon as it passes the cap, so neither a huge body nor a compression bomb (a few hundred
KB of gzip that inflate to gigabytes) can take the client's memory.

Content encodings are decoded here rather than by httpx, one layer after the other: stacked
encodings (``Content-Encoding: gzip, gzip``) are legal HTTP, and httpx's decoder inflates each inner
layer whole, so a few hundred bytes whose outer layer holds a bomb reach hundreds of MB before any
cap is checked. Here every gzip or deflate layer yields at most ``_STEP`` bytes per call, whatever
the layers around it, and each piece passes through the next layer before more is inflated.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncGenerator, Iterable, Iterator
from typing import Final, Protocol

import httpx
from httpx._decoders import SUPPORTED_DECODERS

from ._errors import ApiConnectionError, ResponseTooLargeError

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "read_response"]

#: 64 MiB decoded: far above any management API page, far below what hurts a process.
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024

# Decoded bytes per step of one gzip/deflate layer: what a layer holds at once beyond zlib's window.
_STEP = 64 * 1024
# Encoded bytes per step of a codec without an output bound (brotli, zstd when httpx has them): one step
# yields at most this times the codec's ratio.
_CODEC_SLICE = 1024
_GZIP_MAGIC = b"\x1f\x8b"
# More layers than any server sends; each one costs a decoder's state (zlib allocates ~40 KB outside Python).
_MAX_LAYERS = 4


class _Undecodable(Exception):
    """A layer's bytes are not what its encoding says."""


class _Layer(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class _Inflate:
    """One gzip or deflate layer, decoded in steps of at most ``_STEP`` bytes.

    A gzip body may hold several members, one after the other (RFC 1952). Bytes after the end of the
    data (padding, junk) are dropped up to ``_STEP`` of them and refused beyond: zlib would keep them
    all in ``unused_data``, where no cap on decoded bytes sees them grow.
    """

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding == "gzip"
        self._decompressor: zlib._Decompress | None = None
        self._head = b""  # the first bytes of a stream, until there are enough to know what follows
        self._streams = 0  # streams (gzip members) decoded to their end
        self._past_end = False
        self._dropped = 0

    def _start(self, head: bytes) -> zlib._Decompress | None:
        """A decompressor for the stream ``head`` begins, or ``None`` when it is no stream (junk after the end)."""
        if self._gzip:
            if self._streams and not head.startswith(_GZIP_MAGIC):
                return None
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if self._streams:
            return None
        # `deflate` means zlib-wrapped, but some servers send it raw: the first two bytes tell which.
        first, second = head[0], head[1] if len(head) > 1 else 0
        wrapped = len(head) > 1 and first & 0x0F == zlib.DEFLATED and (first << 8 | second) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._feed(data, final=False)

    def _feed(self, data: bytes, *, final: bool) -> Iterator[bytes]:
        while True:
            if self._past_end:
                self._dropped += len(data)
                if self._dropped > _STEP:
                    raise _Undecodable(f"more than {_STEP} bytes after the end of the compressed data")
                return
            decompressor = self._decompressor
            if decompressor is None:
                data, self._head = self._head + data, b""
                if not data or (len(data) < 2 and not final):
                    self._head = data
                    return
                decompressor = self._decompressor = self._start(data)
                if decompressor is None:
                    self._past_end = True
                    continue
            try:
                out = decompressor.decompress(data, _STEP)
            except zlib.error as exc:
                raise _Undecodable(str(exc)) from None
            if out:
                yield out
            if decompressor.eof:
                self._streams += 1
                self._decompressor = None
                data = decompressor.unused_data
                continue
            data = decompressor.unconsumed_tail
            if not data and len(out) < _STEP:  # a full step may leave output inside zlib: ask again
                return

    def finish(self) -> Iterator[bytes]:
        yield from self._feed(b"", final=True)
        if self._decompressor is not None:
            try:
                rest = self._decompressor.flush()  # everything was drained above: at most a few bytes
            except zlib.error as exc:
                raise _Undecodable(str(exc)) from None
            if rest:
                yield rest


class _Codec:
    """A layer httpx decodes (brotli, zstd when installed), fed small slices of its input."""

    def __init__(self, encoding: str) -> None:
        self._decoder = SUPPORTED_DECODERS[encoding]()

    def feed(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), _CODEC_SLICE):
            try:
                out = self._decoder.decode(data[start : start + _CODEC_SLICE])
            except httpx.DecodingError as exc:
                raise _Undecodable(str(exc)) from None
            if out:
                yield out

    def finish(self) -> Iterator[bytes]:
        try:
            out = self._decoder.flush()
        except httpx.DecodingError as exc:
            raise _Undecodable(str(exc)) from None
        if out:
            yield out


def _layers(encodings: list[str]) -> list[_Layer]:
    """Decoders in the order they apply: the last encoding listed was applied last, so it comes off first.

    ``identity`` is no layer, and an encoding httpx does not know is passed over, as httpx does.
    """
    layers: list[_Layer] = []
    for encoding in reversed(encodings):
        if encoding in ("gzip", "deflate"):
            layers.append(_Inflate(encoding))
        elif encoding != "identity" and encoding in SUPPORTED_DECODERS:
            layers.append(_Codec(encoding))
    return layers


def _through(layers: list[_Layer], pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces`` decoded by ``layers``, each piece through all of them before the next is made."""
    if not layers:
        yield from pieces
        return
    first, rest = layers[0], layers[1:]
    for piece in pieces:
        yield from _through(rest, first.feed(piece))


def _finish(layers: list[_Layer]) -> Iterator[bytes]:
    """What the layers still hold at the end of the body, outermost first."""
    for index, layer in enumerate(layers):
        yield from _through(layers[index + 1 :], layer.finish())


async def _decoded(response: httpx.Response, layers: list[_Layer]) -> AsyncGenerator[bytes, None]:
    async for chunk in response.aiter_raw():
        for piece in _through(layers, (chunk,)):
            yield piece
    for piece in _finish(layers):
        yield piece


async def _raw(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    async for chunk in response.aiter_raw():
        yield chunk


async def read_response(response: httpx.Response, limit: int | None) -> None:
    """Read a streamed ``response`` (as :meth:`httpx.Response.aread` does) but stop past ``limit`` decoded bytes.

    Raises :class:`~scp_async.ResponseTooLargeError` over the cap and
    :class:`~scp_async.ApiConnectionError` for a body that cannot be decompressed (or stacks more
    content encodings than any server uses); the response is closed either way. ``None`` means no
    cap. Transport errors while reading propagate as httpx's.
    """
    request = response.request
    method = request.method
    if hasattr(response, "_content"):  # already read (a response built from bytes, a mock transport)
        if limit is not None and len(response.content) > limit:
            raise ResponseTooLargeError(limit, status_code=response.status_code, method=method, url=str(request.url))
        return
    headers = response.headers
    encoding = headers.get("content-encoding", "")
    encodings = [part.strip().lower() for part in encoding.split(",") if part.strip()]
    layers = _layers(encodings)
    try:
        if len(layers) > _MAX_LAYERS:
            raise ApiConnectionError(
                f"the {response.status_code} response stacks {len(layers)} content encodings"
                f" (at most {_MAX_LAYERS} are decoded)",
                method=method,
                url=str(request.url),
            )
        if not layers:
            declared = headers.get("content-length", "")
            # Refuse before reading a byte when the server says how much is coming.
            if limit is not None and declared.isdigit() and int(declared) > limit:
                raise ResponseTooLargeError(
                    limit, status_code=response.status_code, method=method, url=str(request.url)
                )
            # A transport that can hand over a body of declared length in one read (the aiohttp pool's; it
            # stops at that length) saves the chunk loop of httpx's stream API.
            read_declared = getattr(response.stream, "read_declared", None)
            if read_declared is not None and declared.isdigit():
                response._content = await read_declared()
                return
        parts: list[bytes] = []
        total = 0
        undecodable: str | None = None
        try:
            async with contextlib.aclosing(_decoded(response, layers) if layers else _raw(response)) as pieces:
                async for piece in pieces:
                    total += len(piece)
                    if limit is not None and total > limit:
                        raise ResponseTooLargeError(
                            limit, status_code=response.status_code, method=method, url=str(request.url)
                        )
                    parts.append(piece)
        except _Undecodable as exc:
            undecodable = str(exc)
        # Raised outside the handler, so no decoder's exception hangs on as its __context__.
        if undecodable is not None:
            raise ApiConnectionError(
                f"the {response.status_code} response body is not valid {', '.join(encodings)} data ({undecodable})",
                method=method,
                url=str(request.url),
            )
    finally:
        await response.aclose()
    # The attribute `aread` itself fills: later `.content`, `.text` and `.json()` read from it.
    response._content = b"".join(parts)
