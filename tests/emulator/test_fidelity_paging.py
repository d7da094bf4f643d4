"""Every paged list operation of every API ends against the emulator, with totals that match its pages.

The operations come from the specs, not from a list kept here: each GET whose parameters name a paging
style (CF ``per_page``, Service Manager ``max_items``/``token``, events ``pageNum``, SaaS ``page``/``size``)
is called and its end signal followed with a bounded loop, the way clients follow it.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import httpx
import pytest

from scp_async.emulator import API_PREFIXES, Emulator, ManualClock
from scp_async.emulator._openapi import Operation

#: More pages than any list here can have; reaching it means the list never ends.
PAGE_CEILING = 500
SMALL_PAGE = 7


def _style(op: Operation) -> str | None:
    names = set(op.query)
    if "per_page" in names:
        return "cf"
    if {"max_items", "token"} <= names:
        return "sm"
    if "pageNum" in names:
        return "page-num"
    if {"page", "size"} <= names:
        return "page-size"
    if {"startIndex", "count"} <= names:
        return "scim"
    if {"skip", "top"} <= names:
        return "skip-top"
    return None


def paged_operations(emu: Emulator) -> list[tuple[str, Operation, str]]:
    out = []
    for api in API_PREFIXES:
        spec = emu.app.spec(api)
        if spec is None:
            continue
        for op in spec.operations():
            style = _style(op)
            if op.method == "GET" and style is not None:
                out.append((api, op, style))
    return out


async def _path_for(c: httpx.AsyncClient, emu: Emulator, api: str, template: str) -> str:
    """The template with its ids filled from the emulator's own answers (a real id where it keeps state)."""
    if "{" not in template:
        return template
    if api == "cf_v3":
        collection = template.split("/")[2]
        first = await c.get(f"{emu.base_url(api)}/v3/{collection}", params={"per_page": 1})
        resources = first.json().get("resources") if first.status_code == 200 else None
        guid = resources[0]["guid"] if resources else "00000000-0000-4000-8000-000000000000"
        return re.sub(r"\{[^}]+\}", guid, template)
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", template)


def _ident(item: Any) -> Any:
    if isinstance(item, dict):
        for key in ("guid", "id", "subscriptionGUID"):
            if key in item:
                return item[key]
    return repr(item)


async def _walk(c: httpx.AsyncClient, url: str, style: str) -> tuple[int, list[Any], int]:
    """Follow one list to its end; returns (pages, items, total the service announced)."""
    params: dict[str, Any] = {
        "cf": {"per_page": SMALL_PAGE},
        "sm": {"max_items": SMALL_PAGE},
        "page-num": {"pageSize": SMALL_PAGE},
        "page-size": {"size": SMALL_PAGE},
        "scim": {"count": SMALL_PAGE},
        "skip-top": {"top": SMALL_PAGE},
    }[style]
    items: list[Any] = []
    totals: set[int] = set()
    next_url: str | None = url
    for pages in range(1, PAGE_CEILING + 1):
        assert next_url is not None
        # httpx drops the query of a URL given params (even empty ones): a next link goes as it came.
        r = await (c.get(next_url, params=params) if params else c.get(next_url))
        assert r.status_code == 200, f"{next_url}: {r.status_code} {r.text[:300]}"
        body = r.json()
        if style == "cf" and "pagination" not in body:
            # relationship and destination lists (``{data|destinations, links}``) take ``per_page`` in the
            # spec but come whole, as CF sends them
            items = next(v for v in body.values() if isinstance(v, list))
            assert "next" not in body.get("links", {})
            totals = {len(items)}
            break
        if style == "cf":
            pagination = body["pagination"]
            totals.add(pagination["total_results"])
            assert pagination["total_pages"] >= 1
            items += body["resources"]
            nxt = pagination["next"]
            if nxt is None:
                assert pages == pagination["total_pages"]
                break
            assert nxt["href"].startswith(("http://", "https://")), nxt
            next_url, params = nxt["href"], {}
        elif style == "scim":  # more while startIndex + itemsPerPage <= totalResults (indices from 1)
            totals.add(body["totalResults"])
            items += body["resources"]
            if not body["resources"] or body["startIndex"] + body["itemsPerPage"] > body["totalResults"]:
                break
            params = {"count": SMALL_PAGE, "startIndex": body["startIndex"] + body["itemsPerPage"]}
        elif style == "skip-top":  # more while a page is full; no total is announced
            items += body
            if len(body) < SMALL_PAGE:
                totals.add(len((await c.get(url)).json()))
                break
            params = {"top": SMALL_PAGE, "skip": len(items)}
        elif style == "sm":
            totals.add(body["num_items"])
            items += body["items"]
            if not body.get("token"):
                break
            params = {"max_items": SMALL_PAGE, "token": body["token"]}
        else:
            key = "pageNum" if style == "page-num" else "page"
            totals.add(body["total"])
            items += next(v for v in body.values() if isinstance(v, list))
            if body["morePages"] is not True:
                assert pages == max(1, body["totalPages"])
                break
            params = {**params, key: pages + 1}
    else:
        pytest.fail(f"{url} did not end within {PAGE_CEILING} pages")
    assert len(totals) == 1, f"{url}: the total changed while paging: {totals}"
    return pages, items, totals.pop()


async def test_every_paged_list_operation_ends_with_matching_totals(clock: ManualClock) -> None:
    emu = Emulator(subaccounts=12, clock=clock)
    token = emu.issue_token("cf", user="admin@example.com")
    ops = paged_operations(emu)
    assert {style for _api, _op, style in ops} == {"cf", "sm", "page-num", "page-size", "scim", "skip-top"}
    assert len(ops) >= 50
    multi_page = 0
    async with emu.client(token=token) as c:
        for api, op, style in ops:
            path = await _path_for(c, emu, api, op.template)
            url = emu.base_url(api) + path
            pages, items, total = await _walk(c, url, style)
            assert len(items) == total, f"{op.operation_id}: {len(items)} items, total {total}"
            assert len({_ident(i) for i in items}) == len(items), f"{op.operation_id}: an item repeats"
            multi_page += pages > 1
    assert multi_page >= 8  # the stateful lists really page (apps, spaces, SM instances, events, ...)


async def test_a_synthesized_cf_list_is_one_last_page_linked_to_its_request(emu: Emulator) -> None:
    token = emu.issue_token("cf", user="admin@example.com")
    async with emu.client(token=token) as c:
        body = (await c.get("/cf/v3/buildpacks", params={"per_page": 3, "names": "java"})).json()
    pagination = body["pagination"]
    assert pagination["next"] is None
    assert pagination["previous"] is None
    assert pagination["total_results"] == len(body["resources"])
    assert pagination["total_pages"] == 1
    first = urllib.parse.urlsplit(pagination["first"]["href"])
    assert first.path.endswith("/cf/v3/buildpacks")
    assert urllib.parse.parse_qs(first.query) == {"names": ["java"], "page": ["1"], "per_page": ["3"]}
    assert pagination["last"] == pagination["first"]
