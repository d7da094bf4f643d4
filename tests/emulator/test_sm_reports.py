from __future__ import annotations

import httpx

from scp_async.emulator import Emulator, ManualClock

SM = "/service_manager/v1"


async def test_service_manager_token_paging(client: httpx.AsyncClient) -> None:
    first = (await client.get(f"{SM}/service_instances", params={"max_items": 5})).json()
    total = first["num_items"]
    assert total == 36
    assert len(first["items"]) == 5
    ids = [i["id"] for i in first["items"]]
    token = first["token"]
    while token:
        page = (await client.get(f"{SM}/service_instances", params={"max_items": 5, "token": token})).json()
        ids.extend(i["id"] for i in page["items"])
        token = page.get("token")
    assert len(ids) == total == len(set(ids))
    bad = await client.get(f"{SM}/service_instances", params={"token": "%%%"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"error", "description"}


async def test_service_manager_instances_and_bindings(client: httpx.AsyncClient, clock: ManualClock) -> None:
    plans = (await client.get(f"{SM}/service_plans", params={"fieldQuery": "name eq 'lite'"})).json()["items"]
    assert plans
    assert all(p["name"] == "lite" for p in plans)
    created = await client.post(
        f"{SM}/service_instances",
        json={"name": "my-dest", "service_plan_id": plans[0]["id"], "labels": {"team": ["a"]}},
    )
    assert created.status_code == 201, created.text
    inst = created.json()
    by_label = (await client.get(f"{SM}/service_instances", params={"labelQuery": "team eq 'a'"})).json()
    assert [i["id"] for i in by_label["items"]] == [inst["id"]]
    conflict = await client.post(f"{SM}/service_instances", json={"name": "my-dest", "service_plan_id": plans[0]["id"]})
    assert conflict.status_code == 409
    binding = await client.post(f"{SM}/service_bindings", json={"name": "b1", "service_instance_id": inst["id"]})
    assert binding.status_code == 201
    blocked = await client.delete(f"{SM}/service_instances/{inst['id']}")
    assert blocked.status_code == 409
    assert (await client.delete(f"{SM}/service_bindings/{binding.json()['id']}")).status_code == 200
    async_delete = await client.delete(f"{SM}/service_instances/{inst['id']}", params={"async": "true"})
    assert async_delete.status_code == 202
    op_path = async_delete.headers["location"]
    assert (await client.get(f"/service_manager{op_path}")).json()["state"] == "in progress"
    clock.advance(5)
    assert (await client.get(f"/service_manager{op_path}")).json()["state"] == "succeeded"
    assert (await client.get(f"{SM}/service_instances/{inst['id']}")).status_code == 404


async def test_audit_log_chunks_and_filters(emu: Emulator, clock: ManualClock) -> None:
    token = emu.issue_token("audit_log")
    url = "/audit_log/auditlog/v2/auditlogrecords"
    async with emu.client(token=token) as c:
        records = []
        r = await c.get(url)
        chunks = 0
        while True:
            assert r.status_code == 200
            chunk = r.json()
            chunks += 1
            assert len(chunk) <= 500
            records.extend(chunk)
            paging = r.headers.get("paging")
            if not paging:
                break
            assert paging.startswith("handle=")
            assert len(chunk) == 500
            r = await c.get(url, params={"handle": paging.removeprefix("handle=")})
        assert chunks >= 4
        assert len(records) == len(emu.state.audit_records) == 2200
        assert len({x["message_uuid"] for x in records}) == len(records)
        assert isinstance(records[0]["message"], str)
        times = [x["time"] for x in records]
        assert times == sorted(times)
        cat = await c.get(url, params={"category": "audit.security-events"})
        assert {x["category"] for x in cat.json()} == {"audit.security-events"}
        window_from, window_to = records[100]["time"][:19], records[199]["time"][:19]
        window = (await c.get(url, params={"time_from": window_from, "time_to": window_to})).json()
        assert window
        assert all(window_from <= x["time"][:19] <= window_to for x in window)
        bad = await c.get(url, params={"time_from": "yesterday"})
        assert bad.status_code == 400
        assert "error" in bad.json()
        empty = await c.get(url, params={"time_from": "2001-01-01T00:00:00", "time_to": "2001-01-02T00:00:00"})
        assert empty.status_code == 204


async def test_resource_consumption_reports(emu: Emulator) -> None:
    async with emu.client(token=emu.issue_token("resource_consumption")) as c:
        base = "/resource_consumption/reports/v1"
        monthly = await c.get(f"{base}/monthlyUsage", params={"fromDate": 202401, "toDate": 202403})
        assert monthly.status_code == 200
        rows = monthly.json()["content"]
        assert {r["reportYearMonth"] for r in rows} == {202401, 202402, 202403}
        costs = (await c.get(f"{base}/monthlySubaccountsCost", params={"fromDate": 202401, "toDate": 202401})).json()
        assert all("cost" in r for r in costs["content"])
        assert (await c.get(f"{base}/monthlyUsage", params={"fromDate": 202413, "toDate": 202401})).status_code == 400
        assert (await c.get(f"{base}/monthlyUsage")).status_code == 400
        credits = (await c.get(f"{base}/cloudCreditsDetails")).json()
        assert credits["contracts"][0]["currency"] == "EUR"
        guid = next(iter(emu.state.subaccounts))
        usage = await c.get(
            f"{base}/subaccountUsage", params={"subaccountId": guid, "fromDate": 20240101, "toDate": 20240131}
        )
        assert usage.status_code == 200
        assert usage.json()["content"][0]["periodStartDate"] == 20240101
