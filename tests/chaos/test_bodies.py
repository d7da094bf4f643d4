"""Unbounded bodies against a real loopback server: bombs and floods stop at the size cap."""

from __future__ import annotations

import gc
import gzip
import string
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import anyio
import pytest

from scp_async import (
    ApiConnectionError,
    ApiTimeoutError,
    OAuth2Auth,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    Session,
)

from .conftest import Loopback, gzip_bomb

MIB = 1 << 20
GA = "/accounts/v1/globalAccount"


def _session(**kwargs: object) -> Session:
    return Session(retry=RetryPolicy(max_retries=0), **kwargs)  # type: ignore[arg-type]


def _peak_while(fn: object) -> tuple[BaseException | None, int]:
    """Run ``fn`` and return what it raised and the peak of Python allocations meanwhile."""
    # The transport imports aiohttp on first use: its modules are a one-time cost, not the body's.
    import aiohttp  # noqa: F401

    gc.collect()
    tracemalloc.start()
    try:
        try:
            anyio.run(fn)  # type: ignore[arg-type]
        except Exception as exc:
            return exc, tracemalloc.get_traced_memory()[1]
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(256)


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(loopback: Loopback, bomb: bytes) -> None:
    assert len(bomb) < 300_000  # 256 MiB once inflated
    loopback.routes[("GET", "/bomb")] = lambda ex: ex.reply(200, bomb, {"Content-Encoding": "gzip"})

    async def main() -> None:
        async with _session(max_response_size=MIB) as session:
            await session.request("GET", f"{loopback.url}/bomb")

    error, peak = _peak_while(main)
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert error.limit == MIB
    assert error.status_code == 200
    assert "max_response_size" in str(error)
    # The cap plus one decoder step (4 KB of input inflates to at most ~4 MiB), never the 256 MiB.
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_gzip_bomb_in_a_typed_call_and_in_an_error_body(loopback: Loopback, bomb: bytes) -> None:
    loopback.routes[("GET", GA)] = lambda ex: ex.reply(200, bomb, {"Content-Encoding": "gzip"})
    loopback.routes[("GET", "/v1/fail")] = lambda ex: ex.reply(500, bomb, {"Content-Encoding": "gzip"})

    async def main() -> None:
        async with _session(max_response_size=2 * MIB) as session:
            with pytest.raises(ResponseTooLargeError) as caught:
                await session.cloud_management(loopback.cis_key()).accounts.get_global_account()
            assert caught.value.method == "GET"
            assert caught.value.url is not None
            assert caught.value.url.endswith(GA)
            with pytest.raises(ResponseTooLargeError) as caught:
                await session.request("GET", f"{loopback.url}/v1/fail")
            assert caught.value.status_code == 500

    anyio.run(main)


def test_default_cap_is_64_mib(loopback: Loopback, bomb: bytes) -> None:
    loopback.routes[("GET", "/bomb")] = lambda ex: ex.reply(200, bomb, {"Content-Encoding": "gzip"})

    async def main() -> None:
        async with _session() as session:
            await session.request("GET", f"{loopback.url}/bomb")

    error, peak = _peak_while(main)
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert error.limit == 64 * MIB
    assert peak < 80 * MIB, f"peak {peak / MIB:.1f} MiB"


def _flood(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    chunk = b"x" * piece
    for _ in range(total // piece):
        yield chunk


def test_a_flood_without_length_stops_at_the_cap(loopback: Loopback) -> None:
    sent: list[int] = []
    loopback.routes[("GET", "/flood")] = lambda ex: sent.append(ex.stream(200, _flood(64 * MIB)))

    async def main() -> None:
        async with _session(max_response_size=MIB) as session:
            with pytest.raises(ResponseTooLargeError):
                await session.request("GET", f"{loopback.url}/flood")

    anyio.run(main)
    # The client hung up: the server could not push the 64 MiB (socket buffers hold a few MB at most).
    # Its thread notices the hang-up a moment later.
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent
    assert sent[0] < 32 * MIB


def test_a_declared_length_over_the_cap_is_refused_before_reading(loopback: Loopback) -> None:
    big = b"[" + b"0," * (MIB // 2) + b"0]"
    loopback.routes[("GET", "/big")] = lambda ex: ex.reply(200, big)

    async def main() -> None:
        async with _session(max_response_size=len(big) - 1) as session:
            with pytest.raises(ResponseTooLargeError):
                await session.request("GET", f"{loopback.url}/big")
        async with _session(max_response_size=len(big)) as session:  # exactly the cap is fine
            response = await session.request("GET", f"{loopback.url}/big")
            assert len(response.json()) == MIB // 2 + 1
        async with _session(max_response_size=None) as session:
            assert (await session.request("GET", f"{loopback.url}/big")).content == big

    anyio.run(main)


def test_a_body_that_is_not_gzip_is_a_connection_error(loopback: Loopback) -> None:
    corrupt = zlib.compress(b'{"a": 1}')[:-3] + b"garbage"
    loopback.routes[("GET", "/corrupt")] = lambda ex: ex.reply(200, b"\x1f\x8b" + corrupt, {"Content-Encoding": "gzip"})
    loopback.routes[("GET", "/corrupt500")] = lambda ex: ex.reply(500, corrupt, {"Content-Encoding": "deflate"})

    async def main() -> None:
        async with _session() as session:
            with pytest.raises(ApiConnectionError, match="not valid gzip"):
                await session.request("GET", f"{loopback.url}/corrupt")
            with pytest.raises((ApiConnectionError, ServerError)):
                await session.request("GET", f"{loopback.url}/corrupt500")

    anyio.run(main)


def test_ordinary_gzip_bodies_still_decode(loopback: Loopback) -> None:
    payload = b'{"value": "' + b"abc" * 100_000 + b'"}'
    loopback.routes[("GET", "/ok")] = lambda ex: ex.reply(200, zlib.compress(payload), {"Content-Encoding": "deflate"})

    async def main() -> None:
        async with _session(max_response_size=len(payload)) as session:
            response = await session.request("GET", f"{loopback.url}/ok")
            assert response.content == payload
            assert response.json()["value"].startswith("abcabc")

    anyio.run(main)


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_response_size"):
        Session(max_response_size=0)


def _trickle(total: int, pause: float) -> Iterator[bytes]:
    for _ in range(total):
        time.sleep(pause)
        yield b" "


def test_a_trickling_body_ends_at_the_deadline(loopback: Loopback) -> None:
    # Each byte comes well within the read timeout, so only the call's deadline can end this.
    loopback.routes[("GET", "/trickle")] = lambda ex: ex.stream(200, _trickle(10_000, 0.01))

    async def main() -> None:
        async with _session(deadline=0.5) as session:
            started = time.perf_counter()
            with pytest.raises(ApiTimeoutError, match="deadline"):
                await session.request("GET", f"{loopback.url}/trickle")
            assert time.perf_counter() - started < 3.0

    anyio.run(main)


def test_a_401_bomb_before_the_token_renewal_is_capped(
    loopback: Loopback, bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx reads a 401 whole before the auth flow re-sends the request; the flow reads it first, capped.
    monkeypatch.setattr(OAuth2Auth, "max_response_size", MIB)
    loopback.routes[("GET", GA)] = lambda ex: ex.reply(401, bomb, {"Content-Encoding": "gzip"})

    async def main() -> None:
        async with _session() as session:
            await session.cloud_management(loopback.cis_key()).accounts.get_global_account()

    error, peak = _peak_while(main)
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert error.status_code == 401
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"


# -- stacked content encodings (`Content-Encoding: gzip, gzip`): every layer is bounded, not just the outer one


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def test_a_stacked_gzip_bomb_stops_at_the_cap_with_bounded_memory(loopback: Loopback, bomb: bytes) -> None:
    # The outer layer is tiny (the bomb repeats one block) and inflates to the whole inner bomb at once.
    double = _gzip(bomb)
    assert len(double) < 4_000
    for route, encodings in (("/double", "gzip, gzip"), ("/triple", "gzip, identity, gzip, gzip")):
        body = _gzip(double) if encodings.count("gzip") == 3 else double
        loopback.routes[("GET", route)] = lambda ex, b=body, e=encodings: ex.reply(200, b, {"Content-Encoding": e})

        async def main(route: str = route) -> None:
            async with _session(max_response_size=MIB) as session:
                await session.request("GET", f"{loopback.url}{route}")

        error, peak = _peak_while(main)
        assert isinstance(error, ResponseTooLargeError), repr(error)
        assert error.limit == MIB
        assert peak < 12 * MIB, f"{encodings}: peak {peak / MIB:.1f} MiB"


def test_stacked_encodings_decode_in_order(loopback: Loopback) -> None:
    payload = b'{"value": "' + (string.ascii_letters + string.digits).encode() * 30_000 + b'"}'
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    bodies = {
        "gzip, gzip": _gzip(_gzip(payload)),
        "deflate, gzip": _gzip(zlib.compress(payload)),
        "gzip,deflate": zlib.compress(_gzip(payload)),
        "identity, gzip, identity": _gzip(payload),
        "deflate": raw_deflate.compress(payload) + raw_deflate.flush(),  # deflate without its zlib wrapper
        "GZIP ,  Deflate": zlib.compress(_gzip(payload)),
    }
    for index, (encodings, body) in enumerate(bodies.items()):
        loopback.routes[("GET", f"/enc{index}")] = lambda ex, b=body, e=encodings: ex.reply(
            200, b, {"Content-Encoding": e}
        )

    async def main() -> None:
        async with _session(max_response_size=len(payload)) as session:
            for index, encodings in enumerate(bodies):
                response = await session.request("GET", f"{loopback.url}/enc{index}")
                assert response.content == payload, encodings
                assert response.json()["value"].startswith("abc")
            # Exactly the cap is fine; a byte less is too large, whichever layer produces it.
        async with _session(max_response_size=len(payload) - 1) as session:
            with pytest.raises(ResponseTooLargeError):
                await session.request("GET", f"{loopback.url}/enc0")

    anyio.run(main)


def test_a_bad_inner_layer_or_too_many_layers_is_a_connection_error(loopback: Loopback) -> None:
    loopback.routes[("GET", "/bad-inner")] = lambda ex: ex.reply(
        200, _gzip(b"not gzip at all"), {"Content-Encoding": "gzip, gzip"}
    )
    many = b'{"a": 1}'
    for _ in range(20):
        many = _gzip(many)
    loopback.routes[("GET", "/many")] = lambda ex: ex.reply(200, many, {"Content-Encoding": ", ".join(["gzip"] * 20)})

    async def main() -> None:
        async with _session() as session:
            with pytest.raises(ApiConnectionError, match="not valid gzip, gzip data"):
                await session.request("GET", f"{loopback.url}/bad-inner")
            with pytest.raises(ApiConnectionError, match="20 content encodings"):
                await session.request("GET", f"{loopback.url}/many")

    anyio.run(main)


def _gzip_then_zeros(prefix: bytes, mebibytes: int) -> bytes:
    """gzip of ``prefix`` followed by ``mebibytes`` MiB of zeros, built as gzip_bomb builds its blocks."""
    block = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    one = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    size = (len(prefix) + mebibytes * MIB) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + start + one * mebibytes + compressor.flush() + struct.pack("<II", crc, size)


def test_a_bomb_of_bytes_after_an_inner_stream_is_refused_with_bounded_memory(loopback: Loopback) -> None:
    # The inner layer ends after 8 bytes; zlib would keep the 256 MiB behind it, uncounted by the cap.
    body = _gzip_then_zeros(_gzip(b'{"a": 1}'), 256)
    assert len(body) < 300_000
    loopback.routes[("GET", "/trailing")] = lambda ex: ex.reply(200, body, {"Content-Encoding": "gzip, gzip"})

    async def main() -> None:
        async with _session(max_response_size=MIB) as session:
            await session.request("GET", f"{loopback.url}/trailing")

    error, peak = _peak_while(main)
    assert isinstance(error, ApiConnectionError), repr(error)
    assert "after the end of the compressed data" in str(error)
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"
