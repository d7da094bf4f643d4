"""Formats the services use that a reading of their specs would miss."""

from __future__ import annotations

import re

from scp_async.emulator import Emulator, ManualClock

#: ``java.time``'s ``ISO_ZONED_DATE_TIME`` as the MultiApps controller writes it.
ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\[(UTC|Etc/UTC)\]$")


async def test_multiapps_operation_dates_are_zoned(emu: Emulator, clock: ManualClock) -> None:
    token = emu.issue_token("cf", user="admin@example.com")
    space = next(iter(emu.state.cf_spaces))
    base = f"/multiapps/api/v1/spaces/{space}"
    async with emu.client(token=token) as c:
        listed = (await c.get(f"{base}/operations")).json()
        assert listed
        for op in listed:
            assert ZONED.match(op["startedAt"]), op["startedAt"]
            if "endedAt" in op:
                assert ZONED.match(op["endedAt"]), op["endedAt"]
        csrf = (await c.get("/multiapps/api/v1/csrf-token", headers={"X-CSRF-Token": "Fetch"})).headers
        started = await c.post(
            f"{base}/operations",
            json={"processType": "UNDEPLOY", "mtaId": "com.example.other"},
            headers={"X-CSRF-Token": csrf["x-csrf-token"]},
        )
        assert started.status_code == 202, started.text
        clock.advance(10)
        op = (await c.get(started.headers["location"])).json()
    assert op["state"] == "FINISHED"
    assert ZONED.match(op["startedAt"])
    assert ZONED.match(op["endedAt"])
    assert all(ZONED.match(m["timestamp"]) for m in op["messages"])


async def test_business_event_types_are_a_map_keyed_by_type_name(emu: Emulator) -> None:
    async with emu.client(token=emu.issue_token("cis")) as c:
        types = (await c.get("/events/cloud-management/v1/events/types")).json()
    assert isinstance(types, dict)
    assert "Subaccount_Creation" in types
    for name, entry in types.items():
        assert entry["type"] == name
        assert entry["category"] in ("CENTRAL", "LOCAL")
        assert isinstance(entry["searchParams"], list)
    assert types["SubaccountAppSubscription_Creation"]["category"] == "LOCAL"
    assert types["Subaccount_Creation"]["category"] == "CENTRAL"
