"""Reading response bodies under a size cap.

A body is read from a streamed response, counted after decompression, and abandoned (connection
closed) as soon as it passes the cap, so neither a huge body nor a compression bomb (a few hundred
KB of gzip that inflate to gigabytes) can take the client's memory. Compressed bodies are fed to
the decoder in small slices: one step inflates at most about a thousand times its input (deflate's
ceiling), which bounds what a single step can allocate whatever the cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import httpx

from ._errors import ApiConnectionError, ResponseTooLargeError

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "read_response"]

#: 64 MiB decoded: far above any management API page, far below what hurts a process.
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024

# Compressed bytes per decoder step: deflate inflates at most ~1032x, so one step yields <= ~4 MiB.
_COMPRESSED_SLICE = 4096


class _Sliced(httpx.AsyncByteStream):
    """The raw (still compressed) stream, re-cut into slices of at most ``size`` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, size: int) -> None:
        self._inner = inner
        self._size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            for start in range(0, len(chunk), self._size):
                yield chunk[start : start + self._size]

    async def aclose(self) -> None:
        await self._inner.aclose()


def _is_encoded(encodings: str) -> bool:
    return any(part.strip().lower() not in ("", "identity") for part in encodings.split(","))


async def read_response(response: httpx.Response, limit: int | None) -> None:
    """Read a streamed ``response`` (as :meth:`httpx.Response.aread` does) but stop past ``limit`` decoded bytes.

    Raises :class:`~scp_async.ResponseTooLargeError` over the cap and
    :class:`~scp_async.ApiConnectionError` for a body that cannot be decompressed; the response is
    closed either way. ``None`` means no cap. Transport errors while reading propagate as httpx's.
    """
    request = response.request
    method, url = request.method, str(request.url)
    if hasattr(response, "_content"):  # already read (a response built from bytes, a mock transport)
        if limit is not None and len(response.content) > limit:
            raise ResponseTooLargeError(limit, status_code=response.status_code, method=method, url=url)
        return
    encoding = response.headers.get("content-encoding", "")
    encoded = _is_encoded(encoding)
    try:
        if limit is not None and not encoded:
            declared = response.headers.get("content-length", "")
            # Refuse before reading a byte when the server says how much is coming.
            if declared.isdigit() and int(declared) > limit:
                raise ResponseTooLargeError(limit, status_code=response.status_code, method=method, url=url)
        if encoded and isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _Sliced(response.stream, _COMPRESSED_SLICE)
        parts: list[bytes] = []
        total = 0
        undecodable: str | None = None
        try:
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if limit is not None and total > limit:
                    raise ResponseTooLargeError(limit, status_code=response.status_code, method=method, url=url)
                parts.append(chunk)
        except httpx.DecodingError as exc:
            undecodable = str(exc)
        # Raised outside the handler: httpx's error (its __context__) holds the request and its token.
        if undecodable is not None:
            raise ApiConnectionError(
                f"the {response.status_code} response body is not valid {encoding or 'encoded'} data ({undecodable})",
                method=method,
                url=url,
            )
    finally:
        await response.aclose()
    # The attribute `aread` itself fills: later `.content`, `.text` and `.json()` read from it.
    response._content = b"".join(parts)
