from __future__ import annotations

import httpx

from scp_async.emulator import Emulator, ManualClock

ACC = "/accounts/accounts/v1"


async def test_global_account_and_seeded_subaccounts(emu: Emulator, client: httpx.AsyncClient) -> None:
    ga = (await client.get(f"{ACC}/globalAccount")).json()
    assert ga["displayName"] == "Emulated Global Account"
    expanded = (await client.get(f"{ACC}/globalAccount", params={"expand": "true"})).json()
    assert len(expanded["children"]) == 5
    subs = (await client.get(f"{ACC}/subaccounts")).json()["value"]
    assert len(subs) == 12
    assert {s["region"] for s in subs} == {"eu10", "us10", "ap21", "eu20", "jp10"}
    assert all(isinstance(s["createdDate"], int) for s in subs)  # epoch millis, as the service sends
    directory = expanded["children"][0]["guid"]
    in_dir = (await client.get(f"{ACC}/subaccounts", params={"directoryGUID": directory})).json()["value"]
    assert in_dir
    assert all(s["parentGUID"] == directory for s in in_dir)
    prod = (await client.get(f"{ACC}/subaccounts", params={"labelSelector": "stage=prod"})).json()["value"]
    assert prod
    assert all(s["labels"]["stage"] == ["prod"] for s in prod)


def test_seed_is_deterministic(clock: ManualClock) -> None:
    a = Emulator(subaccounts=30, clock=clock).state
    b = Emulator(subaccounts=30, clock=clock).state
    assert list(a.subaccounts) == list(b.subaccounts)
    assert list(a.cf_apps) == list(b.cf_apps)
    assert [r["message_uuid"] for r in a.audit_records[:50]] == [r["message_uuid"] for r in b.audit_records[:50]]
    c = Emulator(subaccounts=30, clock=clock, seed=7).state
    assert list(a.subaccounts) != list(c.subaccounts)


async def test_subaccount_lifecycle_with_state_transitions(
    emu: Emulator, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    created = await client.post(
        f"{ACC}/subaccounts", json={"displayName": "Team A", "region": "eu10", "subdomain": "team-a"}
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["state"] == "STARTED"
    guid = sub["guid"]
    assert (await client.get(f"{ACC}/subaccounts/{guid}")).json()["state"] == "STARTED"
    clock.advance(5)
    assert (await client.get(f"{ACC}/subaccounts/{guid}")).json()["state"] == "OK"
    dup = await client.post(
        f"{ACC}/subaccounts", json={"displayName": "Team B", "region": "eu10", "subdomain": "team-a"}
    )
    assert dup.status_code == 409
    updated = await client.patch(f"{ACC}/subaccounts/{guid}", json={"displayName": "Team A2", "description": "x"})
    assert updated.status_code == 200
    assert updated.json()["displayName"] == "Team A2"
    labels = await client.put(f"{ACC}/subaccounts/{guid}/labels", json={"labels": {"env": ["dev"]}})
    assert labels.json() == {"labels": {"env": ["dev"]}}
    deleted = await client.delete(f"{ACC}/subaccounts/{guid}")
    assert deleted.json()["state"] == "DELETING"
    assert (await client.get(f"{ACC}/subaccounts/{guid}")).status_code == 200
    clock.advance(5)
    gone = await client.get(f"{ACC}/subaccounts/{guid}")
    assert gone.status_code == 404
    assert "x-correlationid" in gone.headers
    assert gone.json()["error"]["correlationID"] == gone.headers["x-correlationid"]
    events = (await client.get("/events/cloud-management/v1/events", params={"entityId": guid})).json()["events"]
    assert {e["eventType"] for e in events} >= {"Subaccount_Creation", "Subaccount_Deletion"}


async def test_validation_errors_are_sap_style(client: httpx.AsyncClient) -> None:
    unknown = await client.get(f"{ACC}/subaccounts", params={"bogus": "1"})
    assert unknown.status_code == 400
    err = unknown.json()["error"]
    assert {"code", "message", "correlationID"} <= set(err)
    assert err["target"] == "bogus"
    wrong_type = await client.get(f"{ACC}/globalAccount", params={"expand": "maybe"})
    assert wrong_type.status_code == 400
    missing_body = await client.post(f"{ACC}/subaccounts")
    assert missing_body.status_code == 400
    bad_json = await client.post(
        f"{ACC}/subaccounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    missing_field = await client.post(f"{ACC}/subaccounts", json={"region": "eu10"})
    assert missing_field.status_code == 400
    assert "displayName" in missing_field.json()["error"]["message"]
    not_found = await client.get("/accounts/no/such/path")
    assert not_found.status_code == 404
    assert "error" in not_found.json()
    wrong_method = await client.put(f"{ACC}/globalAccount", json={})
    assert wrong_method.status_code == 405


async def test_entitlements_and_job_status(emu: Emulator, client: httpx.AsyncClient, clock: ManualClock) -> None:
    guid = next(iter(emu.state.subaccounts))
    before = (await client.get("/entitlements/entitlements/v1/assignments", params={"subaccountGUID": guid})).json()
    names = {s["name"] for s in before["assignedServices"]}
    assert "cloudfoundry" in names
    payload = {
        "subaccountServicePlans": [
            {
                "serviceName": "hana-cloud",
                "servicePlanName": "hana",
                "assignmentInfo": [{"subaccountGUID": guid, "amount": 2, "enable": True}],
            }
        ]
    }
    r = await client.put("/entitlements/entitlements/v1/subaccountServicePlans", json=payload)
    assert r.status_code == 202
    job_id = r.text
    status = await client.get(f"/entitlements/jobs-management/v1/jobs/{job_id}/status")
    assert status.json()["status"] == "IN_PROGRESS"
    clock.advance(5)
    status = await client.get(f"/accounts/jobs-management/v1/jobs/{job_id}/status")
    assert status.json()["status"] == "COMPLETED"
    after = (await client.get("/entitlements/entitlements/v1/assignments", params={"subaccountGUID": guid})).json()
    hana = next(s for s in after["assignedServices"] if s["name"] == "hana-cloud")
    assert hana["servicePlans"][0]["assignmentInfo"][0]["amount"] == 2.0
    bad = await client.put(
        "/entitlements/entitlements/v1/subaccountServicePlans",
        json={"subaccountServicePlans": [{"serviceName": "nope", "servicePlanName": "x", "assignmentInfo": []}]},
    )
    assert bad.status_code == 404


async def test_environment_instances(emu: Emulator, client: httpx.AsyncClient, clock: ManualClock) -> None:
    envs = (await client.get("/provisioning/provisioning/v1/environments")).json()["environmentInstances"]
    assert envs
    assert all(e["environmentType"] == "cloudfoundry" for e in envs)
    target = next(g for g in emu.state.subaccounts if not any(e["subaccountGUID"] == g for e in envs))
    r = await client.post(
        "/provisioning/provisioning/v1/environments",
        params={"subaccountGUID": target},
        json={
            "environmentType": "cloudfoundry",
            "planName": "standard",
            "serviceName": "cloudfoundry",
            "name": "org-x",
        },
    )
    assert r.status_code == 202, r.text
    env_id = r.json()["id"]
    assert (await client.get(f"/provisioning/provisioning/v1/environments/{env_id}")).json()["state"] == "CREATING"
    clock.advance(5)
    assert (await client.get(f"/provisioning/provisioning/v1/environments/{env_id}")).json()["state"] == "OK"
    await client.delete(f"/provisioning/provisioning/v1/environments/{env_id}")
    clock.advance(5)
    assert (await client.get(f"/provisioning/provisioning/v1/environments/{env_id}")).status_code == 404


async def test_saas_subscriptions(emu: Emulator, client: httpx.AsyncClient, clock: ManualClock) -> None:
    base = "/saas_provisioning/saas-manager/v1"
    apps = (await client.get(f"{base}/applications")).json()["applications"]
    free = next(a for a in apps if a["state"] == "NOT_SUBSCRIBED")
    r = await client.post(f"{base}/applications/{free['appName']}/subscription", json={"planName": free["planName"]})
    assert r.status_code == 202
    job_path = r.headers["location"]
    assert (await client.get(f"{base}/applications/{free['appName']}")).json()["state"] == "IN_PROCESS"
    assert (await client.get(f"/saas_provisioning{job_path}")).json()["state"] == "IN_PROGRESS"
    clock.advance(5)
    assert (await client.get(f"{base}/applications/{free['appName']}")).json()["state"] == "SUBSCRIBED"
    assert (await client.get(f"/saas_provisioning{job_path}")).json()["state"] == "SUCCEEDED"
    again = await client.post(f"{base}/applications/{free['appName']}/subscription", json={})
    assert again.status_code == 409
    provider = (await client.get(f"{base}/application/subscriptions", params={"size": 2})).json()
    assert provider["total"] >= 1
    assert provider["morePages"] == (provider["totalPages"] > 1)


async def test_events_paging(client: httpx.AsyncClient) -> None:
    first = (await client.get("/events/cloud-management/v1/events", params={"pageSize": 10})).json()
    assert first["pageNum"] == 1
    assert first["morePages"] is True
    assert first["total"] >= 12 * 4
    assert first["totalPages"] == -(-first["total"] // 10)
    seen: list[int] = []
    page = 1
    while True:
        body = (await client.get("/events/cloud-management/v1/events", params={"pageSize": 10, "pageNum": page})).json()
        seen.extend(e["id"] for e in body["events"])
        if not body["morePages"]:
            break
        page += 1
    assert len(seen) == first["total"] == len(set(seen))
    typed = (await client.get("/events/cloud-management/v1/events", params={"eventType": "Subaccount_Creation"})).json()
    assert {e["eventType"] for e in typed["events"]} == {"Subaccount_Creation"}
    too_big = await client.get("/events/cloud-management/v1/events", params={"pageSize": 1000})
    assert too_big.status_code == 400
