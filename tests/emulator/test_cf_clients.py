"""The real peer ``cloudfoundry-client`` (written by others, from CF's own API) against the emulator over
loopback HTTP: what it lists it pages to the end, what it creates it reads back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scp_async.emulator import Emulator

cloudfoundry_client = pytest.importorskip("cloudfoundry_client.client")


@pytest.fixture(scope="module")
def cf() -> Iterator[tuple[Any, Emulator]]:
    with Emulator.serve(subaccounts=6) as emu:
        client = cloudfoundry_client.CloudFoundryClient(emu.cf_api_url)
        client.init_with_user_credentials("admin@example.com", "emulator-password")
        yield client, emu


def _guids(entities: Any) -> list[str]:
    return [e["guid"] for e in entities]


@pytest.mark.parametrize(
    ("manager", "store"),
    [
        ("routes", "cf_routes"),
        ("domains", "cf_domains"),
        ("tasks", "cf_tasks"),
        ("service_offerings", "cf_offerings"),
        ("service_plans", "cf_plans"),
        ("service_credential_bindings", "cf_credential_bindings"),
        ("processes", "cf_processes"),
    ],
)
def test_lists_page_to_the_end(cf: tuple[Any, Emulator], manager: str, store: str) -> None:
    client, emu = cf
    expected = set(getattr(emu.state, store))
    assert len(expected) > 3  # more than one page of 3
    listed = _guids(getattr(client.v3, manager).list(per_page=3))
    assert len(listed) == len(set(listed)) == len(expected)
    assert set(listed) == expected
    first = getattr(client.v3, manager).get(listed[0])
    assert first["guid"] == listed[0]


def test_routes_domains_and_bindings_agree(cf: tuple[Any, Emulator]) -> None:
    client, emu = cf
    app = next(a for a in emu.state.cf_apps.values() if a["name"].startswith("srv-"))
    routes = list(client.v3.apps.list_routes(app["guid"]))
    assert len(routes) == 1
    domain = client.v3.domains.get(routes[0]["relationships"]["domain"]["data"]["guid"])
    assert routes[0]["url"] == f"{routes[0]['host']}.{domain['name']}"
    bindings = list(client.v3.service_credential_bindings.list(app_guids=app["guid"]))
    assert bindings
    assert all(b["type"] == "app" for b in bindings)
    plans = list(client.v3.service_plans.list(names="application"))
    offering = client.v3.service_offerings.get(plans[0]["relationships"]["service_offering"]["data"]["guid"])
    assert offering["name"] == "xsuaa"
    env = client.v3.apps.get_env(app["guid"])
    vcap_app = env["application_env_json"]["VCAP_APPLICATION"]
    assert vcap_app["application_id"] == app["guid"]
    assert vcap_app["application_uris"] == [routes[0]["url"]]
    services = env["system_env_json"]["VCAP_SERVICES"]
    bound = {entry["binding_guid"] for entries in services.values() for entry in entries}
    assert bound == {b["guid"] for b in bindings}
    assert all(entry["credentials"]["clientid"] for entries in services.values() for entry in entries)


def test_creates_a_task_and_reads_it_back(cf: tuple[Any, Emulator]) -> None:
    client, emu = cf
    app = next(iter(emu.state.cf_apps.values()))
    before = len(list(client.v3.tasks.list(app_guids=app["guid"])))
    task = client.v3.tasks.create(app["guid"], command="rake db:migrate", name="migrate", memory_in_mb=128)
    assert task["state"] == "RUNNING"
    assert task["command"] == "rake db:migrate"
    assert task["memory_in_mb"] == 128
    assert task["relationships"]["app"]["data"]["guid"] == app["guid"]
    again = client.v3.tasks.get(task["guid"])
    assert again["name"] == "migrate"
    assert again["sequence_id"] == task["sequence_id"] == before + 1
    listed = _guids(client.v3.tasks.list(app_guids=app["guid"]))
    assert task["guid"] in listed
    assert len(listed) == before + 1
    cancelled = client.v3.tasks.cancel(task["guid"])
    assert cancelled["state"] == "FAILED"
    assert cancelled["result"]["failure_reason"]


async def test_routes_include_their_domains_and_spaces(emu: Emulator) -> None:
    token = emu.issue_token("cf", user="admin@example.com")
    async with emu.client(token=token) as c:
        body = (await c.get("/cf/v3/routes", params={"per_page": 4, "include": "domain,space.organization"})).json()
        bad = await c.get("/cf/v3/routes", params={"include": "app"})
    routes = body["resources"]
    assert len(routes) == 4
    domains = {d["guid"]: d for d in body["included"]["domains"]}
    assert {r["relationships"]["domain"]["data"]["guid"] for r in routes} == set(domains)
    for r in routes:
        assert r["url"] == f"{r['host']}.{domains[r['relationships']['domain']['data']['guid']]['name']}"
    assert {r["relationships"]["space"]["data"]["guid"] for r in routes} == {
        s["guid"] for s in body["included"]["spaces"]
    }
    assert body["included"]["organizations"]
    assert bad.status_code == 400


def test_list_filters_take_comma_separated_values_and_the_last_of_a_repeated_key(cf: tuple[Any, Emulator]) -> None:
    # cloudfoundry-client joins a list with commas, as Cloud Controller reads it; a repeated key is read as
    # Rack reads it (the last one counts), so a client that repeats the key sees what it would see on CF.
    client, emu = cf
    spaces = sorted({app["space"] for app in emu.state.cf_apps.values()})[:2]
    by_space = {s: {g for g, app in emu.state.cf_apps.items() if app["space"] == s} for s in spaces}
    listed = set(_guids(client.v3.apps.list(space_guids=spaces, per_page=3)))
    assert listed == by_space[spaces[0]] | by_space[spaces[1]]
    headers = {"Authorization": f"Bearer {emu.issue_token('cf', user='admin@example.com')}"}
    repeated = httpx.get(
        f"{emu.cf_api_url}/v3/apps",
        params=[("space_guids", spaces[0]), ("space_guids", spaces[1]), ("per_page", "5000")],
        headers=headers,
    ).json()
    assert {a["guid"] for a in repeated["resources"]} == by_space[spaces[1]]
