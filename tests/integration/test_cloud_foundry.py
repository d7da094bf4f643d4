"""Cloud Foundry V3 and its MultiApps controller over loopback: UAA discovery and password login, per_page
paging, ``include``, CF's error format, MTA upload and operations behind the CSRF handshake."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from scp_async import BadRequest, CloudFoundry, ErrorDetail, NotFound, Session, fan_out, fan_out_stream, paginate
from scp_async.emulator import Emulator, ManualClock
from scp_async_clients.cf_v3.models import ListAppsIncludeItem
from scp_async_clients.multiapps.models import FileMetadata, Operation, OperationParameters, ProcessType

from .helpers import TRANSITION_DELAY

PER_PAGE = 4


class Recorder(httpx.AsyncBaseTransport):
    """The real network, with every request kept for inspection."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def to(self, method: str, path_end: str) -> list[tuple[httpx.Request, int]]:
        return [
            (r, s)
            for r, s in zip(self.requests, self.statuses, strict=True)
            if r.method == method and r.url.path.endswith(path_end)
        ]


async def login(session: Session, keys: dict[str, Any]) -> CloudFoundry:
    cf = keys["cf"]
    return await session.cloud_foundry(
        cf["api_url"], username=cf["username"], password=cf["password"], deploy_service_url=cf["deploy_service_url"]
    )


async def test_login_discovers_the_uaa_and_uses_the_password_grant(emu: Emulator, keys: dict[str, Any]) -> None:
    recorder = Recorder()
    async with Session(transport=recorder) as session:
        cf = await login(session, keys)
        orgs = await cf.list_organizations(per_page=1)
    assert cf.uaa_url == emu.uaa_url  # from the API root's links.uaa
    assert orgs.resources
    root = recorder.to("GET", "/cf/")
    assert root
    assert root[0][1] == 200
    ((token_request, status),) = recorder.to("POST", "/oauth/token")
    assert status == 200
    assert str(token_request.url) == f"{emu.uaa_url}/oauth/token"
    form = parse_qs(token_request.content.decode())
    assert form["grant_type"] == ["password"]
    assert form["username"] == [keys["cf"]["username"]]
    assert base64.b64decode(token_request.headers["authorization"].split()[1]) == b"cf:"  # the public cf client


async def test_organizations_and_apps_page_by_page(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        cf = await login(session, keys)
        org_guids: list[str] = []
        page = 1
        while True:
            orgs = await cf.list_organizations(per_page=PER_PAGE, page=page)
            assert len(orgs.resources) <= PER_PAGE
            org_guids.extend(str(o.guid) for o in orgs.resources)
            if orgs.pagination.next_ is None:
                break
            page += 1
        app_guids: list[str] = []
        page = 1
        while True:
            apps = await cf.list_apps(per_page=PER_PAGE, page=page, order_by="name")
            app_guids.extend(str(a.guid) for a in apps.resources)
            if apps.pagination.next_ is None:
                break
            page += 1
        assert apps.pagination.total_pages == page
    assert len(emu.state.cf_apps) > PER_PAGE
    assert len(emu.state.cf_orgs) > 1
    assert sorted(org_guids) == sorted(emu.state.cf_orgs)
    assert len(app_guids) == len(set(app_guids)) == apps.pagination.total_results
    assert set(app_guids) == set(emu.state.cf_apps)


async def test_a_fan_out_takes_its_items_from_a_paginator_page_by_page(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        cf = await login(session, keys)

        async def droplet_state(app: Any) -> tuple[str, str]:
            return str(app.guid), (await cf.get_app(app.guid)).state

        listed = [str(app.guid) async for app in paginate(cf.list_apps, per_page=PER_PAGE, order_by="name")]
        gathered = await fan_out(droplet_state, paginate(cf.list_apps, per_page=PER_PAGE, order_by="name"), limit=3)
        async with fan_out_stream(droplet_state, paginate(cf.list_apps, per_page=PER_PAGE), limit=3) as outcomes:
            streamed = [outcome.result() async for outcome in outcomes]
            total = outcomes.total
    assert [guid for guid, _ in gathered] == listed  # in the paginator's order
    assert sorted(listed) == sorted(emu.state.cf_apps)
    assert sorted(streamed) == sorted(gathered)
    assert total == len(emu.state.cf_apps) > PER_PAGE  # more than one page


async def test_spaces_page_by_page_following_next_links(emu: Emulator, keys: dict[str, Any]) -> None:
    # Untyped, following pagination.next.href as a CF client does.
    async with Session() as session:
        cf = await login(session, keys)
        guids: list[str] = []
        url: str | None = f"/v3/spaces?per_page={PER_PAGE}"
        pages = 0
        while url is not None:
            body = (await cf.request("GET", url)).json()
            pages += 1
            assert len(body["resources"]) <= PER_PAGE
            guids.extend(s["guid"] for s in body["resources"])
            url = (body["pagination"]["next"] or {}).get("href")
        typed = await cf.list_spaces(per_page=PER_PAGE, page=2)
    assert pages > 1
    assert sorted(guids) == sorted(emu.state.cf_spaces)
    # the typed call parses spaces without a quota ("quota": {"data": null}, as CF sends it)
    assert [str(s.guid) for s in typed.resources] == guids[PER_PAGE : 2 * PER_PAGE]
    assert all(s.relationships.quota.data is None for s in typed.resources)


async def test_include_space_returns_the_spaces_of_the_page(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        cf = await login(session, keys)
        apps = await cf.list_apps(per_page=PER_PAGE, include=[ListAppsIncludeItem.SPACE])
    wanted = {str(a.relationships.space.data.guid) for a in apps.resources}  # typed since the App overlay
    included = {str(s.guid): s for s in apps.included.spaces}
    assert set(included) == wanted  # exactly the spaces this page refers to, as cloud_controller_ng sends
    assert all(included[g].name == emu.state.cf_spaces[g]["name"] for g in wanted)


async def test_list_filters_go_as_one_comma_separated_value(emu: Emulator, keys: dict[str, Any]) -> None:
    # Cloud Controller reads `space_guids=a,b`; of `space_guids=a&space_guids=b` (OpenAPI's default form,
    # what the generator wrote before) it keeps only b: half the apps, and no error to tell.
    from scp_async import paginate

    async with Session() as session:
        cf = await login(session, keys)
        spaces = (await cf.list_spaces(per_page=5000)).resources
        two = [s.guid for s in spaces[:2]]  # UUIDs, as the models hand them out
        listed = [str(a.guid) async for a in paginate(cf.list_apps, space_guids=two, per_page=PER_PAGE)]
        none = await cf.list_apps(space_guids=[])
    wanted = {g for g, app in emu.state.cf_apps.items() if app["space"] in {str(g) for g in two}}
    assert len({emu.state.cf_apps[g]["space"] for g in wanted}) == 2  # both spaces have apps
    assert len(wanted) > PER_PAGE  # more than one page
    assert len(listed) == len(set(listed))
    assert set(listed) == wanted
    assert none.resources == []  # an empty filter matches nothing (it is not a missing filter)

    recorder = Recorder()  # the query as sent (through httpx's path here)
    async with Session(transport=recorder) as session:
        cf = await login(session, keys)
        await cf.list_apps(space_guids=two, include=[ListAppsIncludeItem.SPACE])
    (request, _), *_ = recorder.to("GET", "/v3/apps")
    assert parse_qs(request.url.query.decode()) == {
        "space_guids": [f"{two[0]},{two[1]}"],
        "include": ["space"],
    }


async def test_fields_go_as_deep_objects(emu: Emulator, keys: dict[str, Any]) -> None:
    # fields[space.organization]=name,guid, as Cloud Controller reads it; bare (space.organization=name, what
    # the generator wrote before) it answers 400 Unknown query parameter, and so does the emulator.
    from scp_async_clients.cf_v3.models import ListServiceInstancesFields

    recorder = Recorder()
    async with Session(transport=recorder) as session:
        cf = await login(session, keys)
        fields = ListServiceInstancesFields.from_dict({"space.organization": ["name", "guid"]})
        listed = await cf.list_service_instances(fields=fields, per_page=PER_PAGE)
        await cf.list_service_instances(fields={"space": ["name", "guid"]})  # a plain mapping does as well
        with pytest.raises(BadRequest, match="Unknown query parameter"):
            await cf.request("GET", "/v3/service_instances", params={"space.organization": "name"})
        with pytest.raises(TypeError, match=r"fields must be ListServiceInstancesFields or a mapping, not str"):
            await cf.list_service_instances(fields="space")  # type: ignore[arg-type]
    (request, status), (mapped, _), *_ = recorder.to("GET", "/v3/service_instances")
    assert status == 200
    assert parse_qs(request.url.query.decode()) == {"fields[space.organization]": ["name,guid"], "per_page": ["4"]}
    assert parse_qs(mapped.url.query.decode()) == {"fields[space]": ["name,guid"]}
    assert listed.resources
    # The emulator answers with the organizations of the page's spaces, cut down to the keys asked for.
    included = listed.to_dict()["included"]
    assert set(included) == {"organizations"}
    assert included["organizations"]
    assert all(set(org) == {"name", "guid"} for org in included["organizations"])


async def test_cf_errors_carry_the_errors_array(keys: dict[str, Any]) -> None:
    async with Session() as session:
        cf = await login(session, keys)
        with pytest.raises(NotFound) as missing:
            await cf.get_app(uuid.uuid4())
        with pytest.raises(BadRequest) as bad:
            await cf.list_apps(per_page=0)
    assert missing.value.errors == [ErrorDetail(code=10010, title="CF-ResourceNotFound", detail="App not found")]
    assert missing.value.error_code == "CF-ResourceNotFound"
    assert missing.value.correlation_id  # X-Vcap-Request-Id
    (detail,) = bad.value.errors
    assert (detail.code, detail.title) == (10005, "CF-BadQueryParameter")
    assert detail.detail is not None
    assert "Per page" in detail.detail
    assert "Per page" in bad.value.message


async def test_mta_upload_and_operations_behind_the_csrf_handshake(
    emu: Emulator, clock: ManualClock, keys: dict[str, Any], tmp_path: Path
) -> None:
    space = next(iter(emu.state.cf_spaces))
    archive = tmp_path / "bookshop.mtar"
    content = b"PK\x03\x04" + bytes(range(256)) * 8
    archive.write_bytes(content)
    recorder = Recorder()
    fetched_before = emu.counters.requests["multiapps GET /api/v1/csrf-token"]
    async with Session(transport=recorder) as session:
        mta = (await login(session, keys)).multiapps
        meta = await mta.upload_mta(space, archive)
        started = await mta.with_raw_response.start_mta_operation(
            space,
            body=Operation(
                process_type=ProcessType.DEPLOY,
                parameters=OperationParameters.from_dict({"appArchiveId": meta.id}),
            ),
        )
        assert started.status_code == 202
        process_id = started.headers["location"].split("/operations/")[1].split("?")[0]
        running = await mta.get_mta_operations(space, state=["RUNNING"])
        clock.advance(TRANSITION_DELAY + 1)
        finished = await mta.get_mta_operations(space, state=["FINISHED"])
        still_running = await mta.get_mta_operations(space, state=["RUNNING"])
        files = await mta.get_mta_files(space)

    assert isinstance(meta, FileMetadata)
    assert (meta.name, meta.size, meta.space) == ("bookshop.mtar", len(content), space)
    assert meta.digest == hashlib.md5(content).hexdigest().upper()
    assert meta.id in {f.id for f in files}

    assert process_id in {op.process_id for op in running}
    assert {op.state.value for op in running} == {"RUNNING"}
    ours = next(op for op in finished if op.process_id == process_id)
    assert (ours.state.value, ours.process_type, ours.user) == ("FINISHED", ProcessType.DEPLOY, keys["cf"]["username"])
    assert process_id not in {op.process_id for op in still_running}

    # The handshake: the first upload is refused (403, X-CSRF-Token: Required), the token is fetched once,
    # and every state-changing request after that carries it.
    assert emu.counters.requests["multiapps GET /api/v1/csrf-token"] - fetched_before == 1
    ((fetch, fetch_status),) = recorder.to("GET", "/api/v1/csrf-token")
    assert fetch.headers["x-csrf-token"] == "Fetch"
    assert fetch_status == 204
    uploads = recorder.to("POST", f"/spaces/{space}/files")
    assert [s for _, s in uploads] == [403, 201]
    assert "x-csrf-token" not in uploads[0][0].headers
    token = uploads[1][0].headers["x-csrf-token"]
    assert token
    assert token.lower() != "fetch"
    ((start, start_status),) = recorder.to("POST", f"/spaces/{space}/operations")
    assert (start.headers["x-csrf-token"], start_status) == (token, 202)


async def test_timestamp_filters_with_relational_operators() -> None:
    # created_ats=ts1,ts2 (typed) and created_ats[gt]=ts (extra_query: the spec has no room for the operators),
    # read by the emulator as Cloud Controller reads them; a malformed timestamp is CF's 400.
    from scp_async_clients.cf_v3.models import CreateOrganizationBody

    clock = ManualClock(1_800_000_000.0)
    with Emulator.serve(clock=clock) as served:
        cf_key = served.service_keys()["cf"]
        async with Session() as session:
            cf = await session.cloud_foundry(
                cf_key["api_url"], username=cf_key["username"], password=cf_key["password"]
            )
            seeded = (await cf.list_organizations(per_page=5000)).resources
            seeded_at = max(o.created_at for o in seeded).strftime("%Y-%m-%dT%H:%M:%SZ")
            clock.advance(60)
            new = await cf.create_organization(body=CreateOrganizationBody(name="later"))
            new_at = new.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            after = await cf.list_organizations(extra_query={"created_ats[gt]": seeded_at})
            until = await cf.list_organizations(extra_query={"created_ats[lte]": seeded_at}, per_page=5000)
            between = await cf.list_organizations(
                extra_query={"created_ats[gte]": seeded_at, "created_ats[lt]": new_at}, per_page=5000
            )
            exactly = await cf.list_organizations(created_ats=f"{new_at},2001-01-01T00:00:00Z")
            with pytest.raises(BadRequest, match="invalid timestamp format"):
                await cf.list_organizations(extra_query={"created_ats[gt]": "yesterday"})
            with pytest.raises(BadRequest, match="invalid relational operator"):
                await cf.list_organizations(extra_query={"created_ats[since]": seeded_at})
    assert [o.name for o in after.resources] == ["later"]
    assert {str(o.guid) for o in until.resources} == {str(o.guid) for o in seeded}
    assert {str(o.guid) for o in between.resources} == {
        str(o.guid) for o in seeded if o.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") == seeded_at
    }
    assert [o.name for o in exactly.resources] == ["later"]
