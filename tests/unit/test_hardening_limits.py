"""Content encodings decoded layer by layer under the size cap: any stack of them, cut anywhere, gives the body."""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from httpx._decoders import SUPPORTED_DECODERS, GZipDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_async import ApiConnectionError, ResponseTooLargeError
from scp_async._limits import read_response


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


def _read(body: bytes, encodings: str, *, cuts: list[int] | None = None, limit: int | None = None) -> bytes:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts or [])})
    stream = _Chunks([body[a:b] for a, b in itertools.pairwise(points)])
    request = httpx.Request("GET", "https://api.example/v1/things")
    response = httpx.Response(200, headers={"Content-Encoding": encodings}, stream=stream, request=request)
    anyio.run(read_response, response, limit)
    assert stream.closed
    return response.content


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "deflate": zlib.compress,
    "raw-deflate": _raw_deflate,  # sent as `deflate`: servers that leave out the zlib wrapper
    "identity": lambda data: data,
}


@settings(max_examples=150, deadline=None)
@given(
    payload=st.binary(max_size=3_000) | st.integers(0, 300_000).map(lambda n: b"z" * n),
    stack=st.lists(st.sampled_from(sorted(ENCODERS)), max_size=4),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_any_stack_of_encodings_cut_anywhere_decodes_to_the_payload(
    payload: bytes, stack: list[str], cuts: list[int]
) -> None:
    body = payload
    for name in stack:  # listed in the order applied, as Content-Encoding lists them
        body = ENCODERS[name](body)
    header = ", ".join("deflate" if name == "raw-deflate" else name for name in stack)
    assert _read(body, header, cuts=cuts) == payload
    assert _read(body, header, cuts=cuts, limit=len(payload)) == payload
    if payload:
        with pytest.raises(ResponseTooLargeError):
            _read(body, header, cuts=cuts, limit=len(payload) - 1)


def test_an_encoding_httpx_does_not_know_is_passed_over() -> None:
    assert _read(gzip.compress(b"abc"), "x-unknown, gzip") == b"abc"


def test_a_codec_without_an_output_bound_is_decoded_by_httpx_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for brotli and zstd, which httpx decodes only when their packages are installed.
    monkeypatch.setitem(SUPPORTED_DECODERS, "x-codec", GZipDecoder)
    payload = bytes(range(256)) * 2_000
    assert _read(gzip.compress(zlib.compress(payload)), "deflate, x-codec", cuts=[3, 5000]) == payload
    with pytest.raises(ApiConnectionError, match="not valid x-codec data"):
        _read(b"not gzip", "x-codec")


@pytest.mark.parametrize("body", [b"", b"x", zlib.compress(b"abc")[:-4]])
def test_a_deflate_body_cut_short_gives_what_arrived(body: bytes) -> None:
    # As httpx does: the transport reports a body cut short; the decoder hands over what it could decode.
    assert b"abc".startswith(_read(body, "deflate"))


def test_gzip_members_one_after_the_other_all_decode() -> None:
    body = gzip.compress(b"abc", mtime=0) + gzip.compress(b"def", mtime=0)
    assert _read(body, "gzip", cuts=[len(body) // 2 + 1]) == b"abcdef"  # a member boundary inside a chunk
    assert _read(gzip.compress(body, mtime=0), "gzip, gzip", cuts=[1, 2, 21]) == b"abcdef"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bytes_after_the_end_are_dropped_up_to_a_bound(encoding: str) -> None:
    stream = ENCODERS[encoding](b"abc")
    assert _read(stream + bytes(1000), encoding, cuts=[len(stream) + 1]) == b"abc"  # zero padding
    with pytest.raises(ApiConnectionError, match="after the end of the compressed data"):
        _read(stream + b"junk" * 20_000, encoding, cuts=[len(stream), len(stream) + 3])
