"""Audit log retrieval over loopback: the ``Paging: handle=`` chain, filters, and the rate limiter."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx

from scp_async import AuditLogRecord, RetryPolicy, Session
from scp_async._governor import RateGovernor
from scp_async.emulator import Emulator, FaultConfig

from .helpers import FakeSleep

CHUNK = 500
ROUTE = "audit_log GET /auditlog/v2/auditlogrecords"
#: 1 request per 4 s with a burst of 2: the third page of every walk waits for the bucket.
BUCKET = FaultConfig(rate_limit=0.25, burst=2)


async def collect(session: Session, key: dict[str, Any], **window: Any) -> list[AuditLogRecord]:
    return [record async for record in session.audit_log(key).records(**window)]


def uuids(records: list[AuditLogRecord]) -> list[str]:
    return [str(r.message_uuid) for r in records]


async def test_records_follow_the_paging_handles(emu: Emulator, keys: dict[str, Any]) -> None:
    expected = [r["message_uuid"] for r in emu.state.audit_records]
    before = emu.counters.requests[ROUTE]
    async with Session() as session:
        records = await collect(session, keys["audit_log"])
    assert len(expected) > 2 * CHUNK  # several chunks, or paging is not exercised
    assert len(records) == len(expected)
    assert len(set(uuids(records))) == len(records)  # no duplicates across chunks
    assert set(uuids(records)) == set(expected)
    assert emu.counters.requests[ROUTE] - before == math.ceil(len(expected) / CHUNK)
    first = records[0]
    assert first.message_object is not None  # the JSON-string message is decoded
    assert first.data is not None
    assert first.timestamp is not None
    assert first.timestamp.tzinfo is not None


async def test_records_honour_the_time_window_and_category(emu: Emulator, keys: dict[str, Any]) -> None:
    times = emu.state.audit_times
    # whole seconds, as the client sends them
    t_from = datetime.fromtimestamp(math.ceil(times[200]), UTC)
    t_to = datetime.fromtimestamp(math.floor(times[1500]), UTC)
    in_window = [
        r for r, ts in zip(emu.state.audit_records, times, strict=True) if t_from.timestamp() <= ts <= t_to.timestamp()
    ]
    category = "audit.configuration"
    async with Session() as session:
        window = await collect(session, keys["audit_log"], time_from=t_from, time_to=t_to)
        # naive datetimes are UTC; strings pass through as they are
        filtered = await collect(
            session,
            keys["audit_log"],
            time_from=t_from.replace(tzinfo=None),
            time_to=t_to.strftime("%Y-%m-%dT%H:%M:%S"),
            category=category,
        )
    assert len(in_window) > CHUNK
    assert sorted(uuids(window)) == sorted(r["message_uuid"] for r in in_window)
    expected = sorted(r["message_uuid"] for r in in_window if r["category"] == category)
    assert expected
    assert sorted(uuids(filtered)) == expected
    assert {r.category for r in filtered} == {category}
    assert all(r.timestamp is not None and t_from <= r.timestamp for r in window)


async def test_rate_limited_walk_honours_retry_after(
    faulty: Emulator, keys: dict[str, Any], retry: RetryPolicy, fake_sleep: FakeSleep
) -> None:
    emu = faulty
    emu.set_faults(BUCKET, route="audit_log")
    limited_before = emu.counters.rate_limited
    async with Session(retry=retry, governor=RateGovernor(enabled=False)) as session:  # the policy alone
        records = await collect(session, keys["audit_log"])
    limited = emu.counters.rate_limited - limited_before
    assert limited > 0
    assert len(records) == len(emu.state.audit_records)
    assert len(set(uuids(records))) == len(records)
    assert len(fake_sleep.delays) == limited  # one wait per 429, each retried successfully
    assert fake_sleep.delays == [4.0] * limited  # Retry-After, not the client's own backoff (0.5, 1, 2, ...)


class _WithoutRetryAfter(httpx.AsyncBaseTransport):
    """Drops ``Retry-After`` so that only ``X-RateLimit-Reset`` (epoch milliseconds) tells the wait."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.resets: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            del response.headers["retry-after"]
            self.resets.append(response.headers["x-ratelimit-reset"])
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_rate_limited_walk_honours_x_ratelimit_reset(
    faulty: Emulator, keys: dict[str, Any], retry: RetryPolicy, fake_sleep: FakeSleep
) -> None:
    emu = faulty
    emu.set_faults(BUCKET, route="audit_log")
    transport = _WithoutRetryAfter()
    async with Session(retry=retry, transport=transport, governor=RateGovernor(enabled=False)) as session:
        records = await collect(session, keys["audit_log"])
    assert len(records) == len(emu.state.audit_records)
    assert transport.resets
    assert len(fake_sleep.delays) == len(transport.resets)
    for delay in fake_sleep.delays:
        assert math.isclose(delay, 4.0, abs_tol=0.01)
