"""``fields[<path>]=<keys>`` on the CF V3 endpoints that take it, as Cloud Controller answers it.

A request names parent resources by their relationship path (``space``, ``space.organization``,
``service_plan.service_offering.service_broker``) and the keys it wants of them. The answer carries an
``included`` object: one list per parent kind, each resource cut down to the asked keys, and only the
parents the returned page (or the one resource read) refers to. A path the endpoint does not allow, or a
key the path does not allow, is a 400 ``CF-BadQueryParameter`` naming it.

Checked in process (no sockets): service instances (list and get), service offerings and service plans.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_async.emulator import Emulator, ManualClock
from scp_async.emulator._cf import BROKER_GUID, BROKER_NAME
from scripts.pipeline._common import load_yaml

SIS = "/cf/v3/service_instances"
OFFERINGS = "/cf/v3/service_offerings"
PLANS = "/cf/v3/service_plans"
INVALID = "The query parameter is invalid: "
SI_LIST_PATHS = (
    "'space', 'space.organization', 'service_plan', 'service_plan.service_offering', "
    "'service_plan.service_offering.service_broker'"
)


@pytest.fixture
async def cf(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with emu.client(token=emu.issue_token("cf", user="admin@example.com")) as c:
        yield c


async def _ok(c: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await c.get(path, params=params) if params is not None else await c.get(path)  # keep a link's own query
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _bad(c: httpx.AsyncClient, path: str, params: dict[str, Any]) -> str:
    r = await c.get(path, params=params)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["title"], error["code"]) == ("CF-BadQueryParameter", 10005)
    detail: str = error["detail"]
    return detail


def _in_cf_order(store: dict[str, dict[str, Any]], guids: set[str]) -> list[str]:
    """Guids as CF lists included resources: oldest first, then by guid."""
    return [o["guid"] for o in sorted((store[g] for g in guids), key=lambda o: (o["created_at"], o["guid"]))]


def _managed(emu: Emulator) -> dict[str, Any]:
    """A seeded managed instance whose plan is in the seeded marketplace."""
    return next(s for s in emu.state.cf_service_instances.values() if s["type"] == "managed")


async def test_a_list_includes_the_spaces_and_orgs_of_its_page_only(emu: Emulator, cf: httpx.AsyncClient) -> None:
    params = {"per_page": 3, "fields[space]": "name,guid", "fields[space.organization]": "name, guid"}
    body = await _ok(cf, SIS, params)
    assert body["pagination"]["total_pages"] > 1  # so the page is not everything
    page_spaces = {s["relationships"]["space"]["data"]["guid"] for s in body["resources"]}
    page_orgs = {emu.state.cf_spaces[g]["org"] for g in page_spaces}
    all_spaces = {s["space"] for s in emu.state.cf_service_instances.values()}
    assert page_spaces < all_spaces

    included = body["included"]
    assert list(included) == ["spaces", "organizations"]
    assert [s["guid"] for s in included["spaces"]] == _in_cf_order(emu.state.cf_spaces, page_spaces)
    assert [o["guid"] for o in included["organizations"]] == _in_cf_order(emu.state.cf_orgs, page_orgs)
    for space in included["spaces"]:
        assert space == {"guid": space["guid"], "name": emu.state.cf_spaces[space["guid"]]["name"]}
        assert list(space) == ["guid", "name"]  # CF's key order, whatever the order asked
    for org in included["organizations"]:
        assert org == {"guid": org["guid"], "name": emu.state.cf_orgs[org["guid"]]["name"]}

    # the next page asks the same fields, and gets the parents of its own resources
    next_href = body["pagination"]["next"]["href"]
    assert "fields%5Bspace%5D=name%2Cguid" in next_href
    following = await _ok(cf, next_href)
    assert {s["guid"] for s in following["included"]["spaces"]} == {
        s["relationships"]["space"]["data"]["guid"] for s in following["resources"]
    }


async def test_only_the_asked_keys_and_relationships_nested(emu: Emulator, cf: httpx.AsyncClient) -> None:
    params = {"per_page": 4, "fields[space]": "relationships.organization", "fields[space.organization]": "name"}
    body = await _ok(cf, SIS, params)
    spaces = emu.state.cf_spaces
    page_spaces = {s["relationships"]["space"]["data"]["guid"] for s in body["resources"]}
    page_orgs = {spaces[g]["org"] for g in page_spaces}
    assert body["included"] == {
        "spaces": [
            {"relationships": {"organization": {"data": {"guid": spaces[g]["org"]}}}}
            for g in _in_cf_order(spaces, page_spaces)
        ],
        "organizations": [{"name": emu.state.cf_orgs[g]["name"]} for g in _in_cf_order(emu.state.cf_orgs, page_orgs)],
    }


async def test_one_instance_with_its_whole_chain_of_parents(emu: Emulator, cf: httpx.AsyncClient) -> None:
    si = _managed(emu)
    space = emu.state.cf_spaces[si["space"]]
    params = {
        "fields[space]": "name",
        "fields[space.organization]": "guid",
        "fields[service_plan]": "name,guid",
        "fields[service_plan.service_offering]": "name,description,tags",
        "fields[service_plan.service_offering.service_broker]": "name",
    }
    body = await _ok(cf, f"{SIS}/{si['guid']}", params)
    assert body["guid"] == si["guid"]
    assert body["links"]["self"]["href"].endswith(si["guid"])  # the instance itself is whole
    plan_guid = body["relationships"]["service_plan"]["data"]["guid"]
    plan = emu.state.cf_plans[plan_guid]
    offering = emu.state.cf_offerings[plan["offering"]]
    assert body["included"] == {
        "spaces": [{"name": space["name"]}],
        "organizations": [{"guid": space["org"]}],
        "service_plans": [{"guid": plan_guid, "name": plan["name"]}],
        "service_offerings": [
            {"name": offering["name"], "description": offering["description"], "tags": offering["tags"]}
        ],
        "service_brokers": [{"name": BROKER_NAME}],
    }
    assert list(body["included"]) == [
        "spaces",
        "organizations",
        "service_plans",
        "service_offerings",
        "service_brokers",
    ]
    plain = await _ok(cf, f"{SIS}/{si['guid']}")
    assert "included" not in plain


async def test_the_list_links_plans_to_offerings_to_the_broker(emu: Emulator, cf: httpx.AsyncClient) -> None:
    params = {
        "type": "managed",
        "fields[service_plan]": "guid,relationships.service_offering",
        "fields[service_plan.service_offering]": "guid,relationships.service_broker",
        "fields[service_plan.service_offering.service_broker]": "guid",
    }
    body = await _ok(cf, SIS, params)
    plans = {s["relationships"]["service_plan"]["data"]["guid"] for s in body["resources"]}
    included = body["included"]
    assert [p["guid"] for p in included["service_plans"]] == _in_cf_order(emu.state.cf_plans, plans)
    offerings = {p["relationships"]["service_offering"]["data"]["guid"] for p in included["service_plans"]}
    assert offerings == {emu.state.cf_plans[g]["offering"] for g in plans}
    assert {o["guid"] for o in included["service_offerings"]} == offerings
    assert {o["relationships"]["service_broker"]["data"]["guid"] for o in included["service_offerings"]} == {
        BROKER_GUID
    }
    assert included["service_brokers"] == [{"guid": BROKER_GUID}]


async def test_user_provided_instances_have_no_marketplace_parents(emu: Emulator, cf: httpx.AsyncClient) -> None:
    space = next(iter(emu.state.cf_spaces.values()))
    created = await cf.post(
        SIS,
        json={"type": "user-provided", "name": "ups-1", "relationships": {"space": {"data": {"guid": space["guid"]}}}},
    )
    assert created.status_code == 201
    only_plans = await _ok(cf, SIS, {"type": "user-provided", "fields[service_plan]": "name"})
    assert only_plans["resources"]
    assert "included" not in only_plans  # CF's plan decorator adds nothing for a page without a plan
    with_space = await _ok(cf, SIS, {"type": "user-provided", "fields[service_plan]": "name", "fields[space]": "guid"})
    assert with_space["included"] == {"spaces": [{"guid": space["guid"]}]}
    one = await _ok(cf, f"{SIS}/{created.json()['guid']}", {"fields[service_plan.service_offering]": "name"})
    assert "included" not in one


async def test_parents_come_oldest_first(emu: Emulator, cf: httpx.AsyncClient, clock: ManualClock) -> None:
    org = next(iter(emu.state.cf_orgs))
    created: list[str] = []
    for n in range(5):
        clock.advance(60)
        space = await cf.post(
            "/cf/v3/spaces", json={"name": f"s{n}", "relationships": {"organization": {"data": {"guid": org}}}}
        )
        created.append(space.json()["guid"])
        relationships = {"space": {"data": {"guid": created[-1]}}}
        ups = await cf.post(SIS, json={"type": "user-provided", "name": f"u{n}", "relationships": relationships})
        assert ups.status_code == 201
    assert sorted(created) != created  # else the order below would prove nothing
    params = {"space_guids": ",".join(created), "order_by": "-name", "fields[space]": "guid"}
    included = (await _ok(cf, SIS, params))["included"]
    assert included == {"spaces": [{"guid": g} for g in created]}  # by creation, not by guid or page order


async def test_an_empty_page_lists_empty_parents(cf: httpx.AsyncClient) -> None:
    empty = await _ok(cf, SIS, {"names": "no-such-instance", "fields[space]": "name", "fields[service_plan]": "name"})
    assert empty["resources"] == []
    assert empty["included"] == {"spaces": []}


async def test_the_list_and_the_single_instance_allow_different_keys(emu: Emulator, cf: httpx.AsyncClient) -> None:
    guid = _managed(emu)["guid"]
    nested = {"fields[space]": "relationships.organization"}
    assert (await _ok(cf, SIS, nested))["included"]["spaces"]
    assert await _bad(cf, f"{SIS}/{guid}", nested) == f"{INVALID}Fields valid keys for 'space' are: 'name', 'guid'"
    described = {"fields[service_plan.service_offering]": "description"}
    assert (await _ok(cf, f"{SIS}/{guid}", described))["included"]["service_offerings"]
    assert (await _ok(cf, SIS, described))["included"]["service_offerings"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        pytest.param({"fields[spaces]": "name"}, f"Fields [spaces] valid resources are: {SI_LIST_PATHS}", id="path"),
        pytest.param(
            {"fields[organization]": "name"},
            f"Fields [organization] valid resources are: {SI_LIST_PATHS}",
            id="path-not-relative-to-the-instance",
        ),
        pytest.param(
            {"fields[space]": "name,url"},
            "Fields valid keys for 'space' are: 'guid', 'name', 'relationships.organization'",
            id="key",
        ),
        pytest.param(
            {"fields[space.organization]": ""},
            "Fields valid keys for 'space.organization' are: 'name', 'guid'",
            id="no-key",
        ),
        pytest.param(
            {"fields[space.organization]": "name,"},
            "Fields valid keys for 'space.organization' are: 'name', 'guid'",
            id="empty-key",
        ),
        pytest.param(
            {"fields[space][name]": "x"},
            "Fields valid keys for 'space' are: 'guid', 'name', 'relationships.organization'",
            id="nested-object",
        ),
        pytest.param(
            {"fields[service_plan.service_offering.service_broker]": "url"},
            "Fields valid keys for 'service_plan.service_offering.service_broker' are: 'name', 'guid'",
            id="deepest-path-key",
        ),
        pytest.param({"fields": "space"}, "Fields must be an object", id="not-an-object"),
        pytest.param(
            {"fields[nope]": "name", "fields[space]": "name", "fields[space.organization]": "url"},
            f"Fields [nope] valid resources are: {SI_LIST_PATHS}, "
            "Fields valid keys for 'space.organization' are: 'name', 'guid'",
            id="every-bad-one",
        ),
    ],
)
async def test_bad_fields_are_a_400_naming_them(cf: httpx.AsyncClient, params: dict[str, str], detail: str) -> None:
    assert await _bad(cf, SIS, params) == INVALID + detail


async def test_an_unknown_instance_or_offering_is_404_before_its_fields_are_read(cf: httpx.AsyncClient) -> None:
    for path in (SIS, OFFERINGS):
        r = await cf.get(f"{path}/{uuid.uuid4()}", params={"fields[nope]": "name"})
        assert r.status_code == 404
        assert r.json()["errors"][0]["title"] == "CF-ResourceNotFound"


async def test_a_plan_query_is_read_before_the_plan_is_looked_up(cf: httpx.AsyncClient) -> None:
    missing = f"{PLANS}/{uuid.uuid4()}"
    assert await _bad(cf, missing, {"fields[service_broker]": "name"}) == (
        f"{INVALID}Fields [service_broker] valid resources are: 'service_offering.service_broker'"
    )
    r = await cf.get(missing, params={"fields[service_offering.service_broker]": "name"})
    assert r.status_code == 404


async def test_offerings_include_their_broker(emu: Emulator, cf: httpx.AsyncClient) -> None:
    listed = await _ok(cf, OFFERINGS, {"per_page": 2, "fields[service_broker]": "guid"})
    assert listed["included"] == {"service_brokers": [{"guid": BROKER_GUID}]}
    offering = next(iter(emu.state.cf_offerings))
    one = await _ok(cf, f"{OFFERINGS}/{offering}", {"fields[service_broker]": "guid,name"})
    assert one["guid"] == offering
    assert one["included"] == {"service_brokers": [{"name": BROKER_NAME, "guid": BROKER_GUID}]}
    none = await _ok(cf, OFFERINGS, {"names": "no-such-offering", "fields[service_broker]": "name"})
    assert none["included"] == {"service_brokers": []}
    assert await _bad(cf, OFFERINGS, {"fields[service_broker]": "url"}) == (
        f"{INVALID}Fields valid keys for 'service_broker' are: 'guid', 'name'"
    )
    assert await _bad(cf, f"{OFFERINGS}/{offering}", {"fields[service_plans]": "name"}) == (
        f"{INVALID}Fields [service_plans] valid resources are: 'service_broker'"
    )


async def test_plans_include_their_broker(emu: Emulator, cf: httpx.AsyncClient) -> None:
    listed = await _ok(cf, PLANS, {"per_page": 3, "fields[service_offering.service_broker]": "name"})
    assert listed["included"] == {"service_brokers": [{"name": BROKER_NAME}]}
    plan = next(iter(emu.state.cf_plans))
    one = await _ok(cf, f"{PLANS}/{plan}", {"fields[service_offering.service_broker]": "guid"})
    assert one["included"] == {"service_brokers": [{"guid": BROKER_GUID}]}
    assert await _bad(cf, PLANS, {"fields[service_offering]": "name"}) == (
        f"{INVALID}Fields [service_offering] valid resources are: 'service_offering.service_broker'"
    )


async def test_plans_take_include_and_fields_together(emu: Emulator, cf: httpx.AsyncClient) -> None:
    params = {
        "per_page": 3,
        "include": "service_offering,space.organization",
        "fields[service_offering.service_broker]": "name",
    }
    body = await _ok(cf, PLANS, params)
    included = body["included"]
    # CF runs the include decorators first, then the fields one: whole offerings, the broker cut down
    assert list(included) == ["spaces", "organizations", "service_offerings", "service_brokers"]
    assert included["spaces"] == included["organizations"] == []  # the seeded broker is not space-scoped
    offerings = {p["relationships"]["service_offering"]["data"]["guid"] for p in body["resources"]}
    assert [o["guid"] for o in included["service_offerings"]] == _in_cf_order(emu.state.cf_offerings, offerings)
    assert all("links" in o and "broker_catalog" in o for o in included["service_offerings"])
    assert included["service_brokers"] == [{"name": BROKER_NAME}]
    plan = body["resources"][0]
    one = await _ok(cf, f"{PLANS}/{plan['guid']}", {"include": "service_offering"})
    assert [o["guid"] for o in one["included"]["service_offerings"]] == [
        plan["relationships"]["service_offering"]["data"]["guid"]
    ]


async def test_endpoints_without_fields_refuse_them(cf: httpx.AsyncClient) -> None:
    for path in ("/cf/v3/apps", "/cf/v3/spaces", "/cf/v3/routes"):
        r = await cf.get(path, params={"fields[space]": "name"})
        assert r.status_code == 400, path


#: CF V3 operations that take ``fields`` in the reference spec but that the emulator keeps no state for.
NOT_MODELLED = {
    # answered from the spec's example: the emulator shares no instance across spaces
    "/v3/service_instances/{guid}/relationships/shared_spaces": "not modelled",
}


async def test_every_operation_the_reference_spec_gives_fields_reads_them(emu: Emulator, cf: httpx.AsyncClient) -> None:
    configured = os.environ.get("SCP_ASYNC_UPSTREAM_SPECS")
    if not configured:
        pytest.skip("SCP_ASYNC_UPSTREAM_SPECS is not set")
    paths_dir = Path(configured) / "cf-v3" / "latest" / "paths"
    assert paths_dir.is_dir(), paths_dir
    with_fields: set[str] = set()
    for document in sorted(paths_dir.glob("*.yaml")):
        for template, item in (load_yaml(document.read_text()) or {}).items():
            params = (item.get("get") or {}).get("parameters") or []
            if any(isinstance(p, dict) and p.get("name") == "fields" for p in params):
                with_fields.add(template)
    assert "/v3/service_instances" in with_fields
    ids = {
        "service_instances": _managed(emu)["guid"],
        "service_offerings": next(iter(emu.state.cf_offerings)),
        "service_plans": next(iter(emu.state.cf_plans)),
    }
    for template in sorted(with_fields - set(NOT_MODELLED)):
        path = "/cf" + template.replace("{guid}", ids[template.split("/")[2]])
        detail = await _bad(cf, path, {"fields[nope]": "name"})
        assert detail.startswith(f"{INVALID}Fields [nope] valid resources are: "), (template, detail)
    assert set(NOT_MODELLED) <= with_fields  # a stale entry fails
