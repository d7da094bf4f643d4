"""The emulator's apps by space (scp_async.emulator._state.BySpace): what CF's list endpoints filter on
first. Every way a dict changes drops the index; the next lookup sees the change."""

from __future__ import annotations

from typing import Any

import httpx

from scp_async.emulator import Emulator
from scp_async.emulator._state import BySpace


def _app(guid: str, space: str) -> dict[str, Any]:
    return {"guid": guid, "space": space}


def _guids(apps: list[dict[str, Any]]) -> list[str]:
    return sorted(app["guid"] for app in apps)


def test_every_change_is_seen_by_the_next_lookup() -> None:
    apps = BySpace({"a": _app("a", "s1"), "b": _app("b", "s2")})
    assert _guids(apps.in_spaces({"s1"})) == ["a"]
    apps["c"] = _app("c", "s1")
    assert _guids(apps.in_spaces({"s1"})) == ["a", "c"]
    del apps["a"]
    assert _guids(apps.in_spaces({"s1"})) == ["c"]
    apps.pop("c")
    assert apps.in_spaces({"s1"}) == []
    apps.update({"d": _app("d", "s1")})
    assert _guids(apps.in_spaces({"s1", "s2"})) == ["b", "d"]
    apps |= {"e": _app("e", "s2")}
    assert _guids(apps.in_spaces({"s2"})) == ["b", "e"]
    apps.setdefault("f", _app("f", "s3"))
    assert _guids(apps.in_spaces({"s3"})) == ["f"]
    apps["f"] = _app("f", "s1")  # replaced: in its new space only
    assert apps.in_spaces({"s3"}) == []
    apps.popitem()
    apps.clear()
    assert apps.in_spaces({"s1", "s2", "s3"}) == []


async def test_a_created_and_a_deleted_app_show_in_the_list_of_their_space(
    emu: Emulator, client: httpx.AsyncClient
) -> None:
    space = next(iter(emu.state.cf_spaces))

    async def total() -> int:
        page = await client.get("/cf/v3/apps", params={"space_guids": space, "per_page": 5000})
        assert page.status_code == 200, page.text
        return int(page.json()["pagination"]["total_results"])

    before = await total()
    created = await client.post(
        "/cf/v3/apps", json={"name": "fresh", "relationships": {"space": {"data": {"guid": space}}}}
    )
    assert created.status_code == 201, created.text
    assert await total() == before + 1
    del emu.state.cf_apps[created.json()["guid"]]
    assert await total() == before
