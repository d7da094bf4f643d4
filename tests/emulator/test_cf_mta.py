from __future__ import annotations

import httpx
import pytest

from scp_async.emulator import Emulator, ManualClock


async def test_cf_root_and_info_need_no_token(emu: Emulator) -> None:
    async with emu.client() as c:
        root = (await c.get("/cf/")).json()
        assert root["links"]["uaa"]["href"] == emu.uaa_url
        assert root["links"]["login"]["href"] == emu.uaa_url
        assert root["links"]["cloud_controller_v3"]["href"] == emu.cf_api_url + "/v3"
        info = (await c.get("/cf/v2/info")).json()
        assert info["token_endpoint"] == emu.uaa_url
        assert info["authorization_endpoint"] == emu.uaa_url
        assert info["api_version"].startswith("2.")


async def test_cf_pagination_follows_next_href(emu: Emulator, client: httpx.AsyncClient) -> None:
    total = len(emu.state.cf_apps)
    url: str | None = "/cf/v3/apps?per_page=7"
    names: list[str] = []
    pages = 0
    while url:
        body = (await client.get(url)).json()
        pages += 1
        assert body["pagination"]["total_results"] == total
        names.extend(a["guid"] for a in body["resources"])
        nxt = body["pagination"]["next"]
        url = nxt["href"] if nxt else None
        if url:
            assert url.startswith(emu.cf_api_url + "/v3/apps?")
    assert pages == -(-total // 7)
    assert len(names) == total == len(set(names))
    first = (await client.get("/cf/v3/apps?per_page=7")).json()["pagination"]
    assert first["previous"] is None
    assert "page=1" in first["first"]["href"]
    bad = await client.get("/cf/v3/apps", params={"per_page": 0})
    assert bad.status_code == 400
    err = bad.json()["errors"][0]
    assert err["title"] == "CF-BadQueryParameter"
    assert isinstance(err["code"], int)
    unknown = await client.get("/cf/v3/apps", params={"colour": "blue"})
    assert unknown.status_code == 400
    assert "errors" in unknown.json()


async def test_cf_include_and_filters(emu: Emulator, client: httpx.AsyncClient) -> None:
    body = (await client.get("/cf/v3/apps", params={"include": "space.organization", "per_page": 5})).json()
    spaces = {s["guid"] for s in body["included"]["spaces"]}
    assert {a["relationships"]["space"]["data"]["guid"] for a in body["resources"]} <= spaces
    assert body["included"]["organizations"]
    org = body["included"]["organizations"][0]["guid"]
    in_org = (await client.get("/cf/v3/spaces", params={"organization_guids": org, "include": "organization"})).json()
    assert in_org["resources"]
    assert all(s["relationships"]["organization"]["data"]["guid"] == org for s in in_org["resources"])
    assert [o["guid"] for o in in_org["included"]["organizations"]] == [org]
    bad = await client.get("/cf/v3/apps", params={"include": "droplet"})
    assert bad.status_code == 400
    sis = (await client.get("/cf/v3/service_instances", params={"space_guids": next(iter(spaces))})).json()
    assert sis["resources"]


async def test_cf_create_and_delete_with_jobs(emu: Emulator, client: httpx.AsyncClient, clock: ManualClock) -> None:
    org = await client.post("/cf/v3/organizations", json={"name": "new-org"})
    assert org.status_code == 201
    org_guid = org.json()["guid"]
    assert (await client.post("/cf/v3/organizations", json={"name": "new-org"})).status_code == 422
    space = await client.post(
        "/cf/v3/spaces", json={"name": "dev", "relationships": {"organization": {"data": {"guid": org_guid}}}}
    )
    assert space.status_code == 201
    space_guid = space.json()["guid"]
    app = await client.post(
        "/cf/v3/apps", json={"name": "a1", "relationships": {"space": {"data": {"guid": space_guid}}}}
    )
    assert app.status_code == 201
    started = await client.post(f"/cf/v3/apps/{app.json()['guid']}/actions/start")
    assert started.json()["state"] == "STARTED"
    si = await client.post(
        "/cf/v3/service_instances",
        json={"type": "managed", "name": "db", "relationships": {"space": {"data": {"guid": space_guid}}}},
    )
    assert si.status_code == 202
    job_url = si.headers["location"]
    assert (await client.get(job_url)).json()["state"] == "PROCESSING"
    clock.advance(5)
    assert (await client.get(job_url)).json()["state"] == "COMPLETE"
    deleted = await client.delete(f"/cf/v3/organizations/{org_guid}")
    assert deleted.status_code == 202
    assert (await client.get(deleted.headers["location"])).json()["operation"] == "organization.delete"
    assert (await client.get(f"/cf/v3/organizations/{org_guid}")).status_code == 200
    clock.advance(5)
    assert (await client.get(f"/cf/v3/organizations/{org_guid}")).status_code == 404
    assert (await client.get(f"/cf/v3/spaces/{space_guid}")).status_code == 404


def test_cloudfoundry_client_lists_orgs_spaces_apps(served: Emulator) -> None:
    """A real client nobody here wrote logs in over loopback HTTP and lists orgs, spaces and apps."""
    cloudfoundry_client = pytest.importorskip("cloudfoundry_client.client")
    client = cloudfoundry_client.CloudFoundryClient(served.cf_api_url)
    client.init_with_user_credentials("admin@example.com", "emulator-password")
    orgs = list(client.v3.organizations.list())
    spaces = list(client.v3.spaces.list())
    apps = list(client.v3.apps.list())
    assert len(orgs) == len(served.state.cf_orgs) > 0
    assert len(spaces) == len(served.state.cf_spaces)
    assert len(apps) == len(served.state.cf_apps) > 50  # more than one page of 50
    assert {o["name"] for o in orgs} == {o["name"] for o in served.state.cf_orgs.values()}
    one = client.v3.apps.get(apps[0]["guid"])
    assert one["name"] == apps[0]["name"]
    assert served.counters.tokens_issued >= 1


# -- MultiApps ----------------------------------------------------------------------------------------------
async def test_mta_operations_filter_and_csrf(emu: Emulator, clock: ManualClock) -> None:
    token = emu.issue_token("cf", user="admin@example.com")
    space = next(iter(emu.state.cf_spaces))
    base = f"/multiapps/api/v1/spaces/{space}"
    async with emu.client(token=token) as c:
        ops = (await c.get(f"{base}/operations")).json()
        assert ops
        states = {o["state"] for o in ops}
        for state in states:
            only = (await c.get(f"{base}/operations", params={"state": state})).json()
            assert {o["state"] for o in only} == {state}
        upload = await c.post(f"{base}/files", files={"file": ("app.mtar", b"PK\x03\x04 fake archive")})
        assert upload.status_code == 403
        assert upload.headers["x-csrf-token"] == "Required"
        fetched = await c.get("/multiapps/api/v1/csrf-token", headers={"X-CSRF-Token": "Fetch"})
        assert fetched.status_code == 204
        csrf = fetched.headers["x-csrf-token"]
        h = {"X-CSRF-Token": csrf}
        upload = await c.post(f"{base}/files", files={"file": ("app.mtar", b"PK\x03\x04 fake archive")}, headers=h)
        assert upload.status_code == 201, upload.text
        meta = upload.json()
        assert meta["name"] == "app.mtar"
        assert meta["size"] == len(b"PK\x03\x04 fake archive")
        started = await c.post(
            f"{base}/operations",
            json={"processType": "DEPLOY", "mtaId": "com.example.new", "parameters": {"appArchiveId": meta["id"]}},
            headers=h,
        )
        assert started.status_code == 202, started.text
        op_url = started.headers["location"]
        assert (await c.get(op_url)).json()["state"] == "RUNNING"
        clash = await c.post(
            f"{base}/operations",
            json={"processType": "DEPLOY", "mtaId": "com.example.new", "parameters": {"appArchiveId": meta["id"]}},
            headers=h,
        )
        assert clash.status_code == 409
        clock.advance(5)
        done = (await c.get(op_url)).json()
        assert done["state"] == "FINISHED"
        assert done["messages"]
        mtas = (await c.get(f"{base}/mtas")).json()
        assert "com.example.new" in {m["metadata"]["id"] for m in mtas}
        wrong = await c.post(f"{base}/operations", json={"processType": "DEPLOY"}, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        # a token that is not ASCII is a wrong token too, not a 500
        odd = await c.post(
            f"{base}/operations",
            json={"processType": "DEPLOY"},
            headers={"X-CSRF-Token": "caf\u00e9".encode("latin-1")},
        )
        assert odd.status_code == 403
