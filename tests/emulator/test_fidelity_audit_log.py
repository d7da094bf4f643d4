"""The audit log pages at the cost of a page: a million records stream with flat emulator work per page.

Work is counted, not timed: the emulator's log counts the records it makes (``materialized``) and the
cheaper time/category lookups (``probes``). Page 1 and page 1,000 of a 1 M-record log must cost the same.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx

from scp_async.emulator import Emulator, ManualClock
from scp_async.emulator._state import AuditLog

URL = "/audit_log/auditlog/v2/auditlogrecords"
CHUNK = 500


def _at_offset(paging: str, offset: int) -> str:
    """The emulator's own handle (base64 JSON) moved to ``offset``: page 1,000 without 999 requests."""
    token = paging.removeprefix("handle=")
    state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    state["o"] = offset
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


async def _cost(c: httpx.AsyncClient, log: AuditLog, params: dict[str, Any]) -> tuple[int, int, httpx.Response]:
    made, probed = log.materialized, log.probes
    r = await c.get(URL, params=params)
    assert r.status_code == 200, r.text[:200]
    return log.materialized - made, log.probes - probed, r


async def test_a_million_records_cost_the_same_per_page_at_page_1_and_page_1000(clock: ManualClock) -> None:
    emu = Emulator(subaccounts=3, clock=clock, audit_log_records=1_000_000)
    log = emu.state.audit_records
    assert isinstance(log, AuditLog)
    assert len(log) == 1_000_000
    assert log.materialized == 0  # nothing is made up front
    async with emu.client(token=emu.issue_token("audit_log")) as c:
        # page 1,000 of all records; page 400 of one category (a quarter of the log, ~250 k records)
        for category, page in ((None, 1_000), ("audit.configuration", 400)):
            params = {"category": category} if category else {}
            made_1, probes_1, first = await _cost(c, log, params)
            deep = _at_offset(first.headers["paging"], (page - 1) * CHUNK)
            made_1000, probes_1000, page_1000 = await _cost(c, log, {"handle": deep})
            assert made_1 == made_1000 == CHUNK  # only the records of the page are made
            # finding the page is logarithmic (the time window) plus what the page holds, wherever it is
            assert probes_1000 <= probes_1 + 2 * math.ceil(math.log2(len(log))) + 16
            # a filtered page scans four records per category asked for (blocks of four), each made one once more
            assert probes_1 <= 2 * math.ceil(math.log2(len(log))) + 5 * CHUNK + 16
            records = page_1000.json()
            assert len(records) == CHUNK
            if category:
                assert {r["category"] for r in records} == {category}
            else:
                assert records[0]["message_uuid"] == log[(page - 1) * CHUNK]["message_uuid"]
            assert "paging" in page_1000.headers


async def test_filtered_paging_returns_exactly_the_matching_records(clock: ManualClock) -> None:
    emu = Emulator(subaccounts=3, clock=clock, audit_log_records=3_001)
    log = emu.state.audit_records
    t_from = datetime.fromtimestamp(math.ceil(log.times[123]), UTC).replace(tzinfo=None)
    t_to = datetime.fromtimestamp(math.floor(log.times[2_900]), UTC).replace(tzinfo=None)
    wanted = {"audit.configuration", "audit.data-access"}
    expected = [
        r["message_uuid"]
        for r in log[:]
        if r["category"] in wanted and t_from.replace(tzinfo=UTC).timestamp() <= _ts(r["time"]) <= _ts_to(t_to)
    ]
    got: list[dict[str, Any]] = []
    async with emu.client(token=emu.issue_token("audit_log")) as c:
        params: dict[str, Any] = {
            "time_from": t_from.isoformat(timespec="seconds"),
            "time_to": t_to.isoformat(timespec="seconds"),
            "category": ",".join(sorted(wanted)),
        }
        for _ in range(20):
            r = await c.get(URL, params=params)
            if r.status_code == 204:
                break
            got += r.json()
            paging = r.headers.get("paging")
            if not paging:
                break
            params = {"handle": paging.removeprefix("handle=")}
    assert [r["message_uuid"] for r in got] == expected
    assert len(expected) > 2 * CHUNK
    messages = {type(r["message"]) for r in got}
    assert messages == {str, dict}  # the documented object and the string live consumers parse
    for r in got:
        message = json.loads(r["message"]) if isinstance(r["message"], str) else r["message"]
        assert message["uuid"] == r["message_uuid"]
        assert isinstance(message["data"], str)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _ts_to(naive: datetime) -> float:
    return naive.replace(tzinfo=UTC).timestamp()
