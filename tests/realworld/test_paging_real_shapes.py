"""CF lists the spec built with `allOf` (processes, organization quotas) page to their end with `paginate`.

Page 1 is the real docs body (its `pagination.next` points at page 2); page 2 is the same body as the
last page. Before the overlay typed their `pagination`, paging stopped after page 1.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from scp_async import Session, paginate

from .harness import CF_API, TOKEN_PATH, UAA
from .test_real_payloads import IN_CI, PAYLOADS


def _pages(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    path = PAYLOADS / "cf_v3" / f"{name}.json"
    if not path.is_file():
        if IN_CI:
            pytest.fail(f"missing real payload {path}")
        pytest.skip(f"no real payloads at {PAYLOADS}")
    first = json.loads(path.read_text(encoding="utf-8"))
    first["pagination"]["next"] = {"href": f"{CF_API}/v3/x?page=2&per_page=2"}
    first["pagination"]["total_pages"] = 2
    last = json.loads(json.dumps(first))
    last["pagination"]["next"] = None
    for index, resource in enumerate(last["resources"]):
        resource["guid"] = f"00000000-0000-4000-8000-00000000000{index}"  # not a repeat of page 1
    return first, last


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("ccng-paginated_list_of_processes", "list_processes"),
        ("ccng-list_organization_quotas", "list_organization_quotas"),
    ],
)
async def test_allof_lists_page_to_the_end(name: str, operation: str) -> None:
    first, last = _pages(name)
    asked: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
        if request.url.path in ("", "/"):
            return httpx.Response(200, json={"links": {"uaa": {"href": UAA}}})
        page = request.url.params.get("page")
        asked.append(page)
        return httpx.Response(200, json=last if page == "2" else first)

    async with Session(transport=httpx.MockTransport(answer)) as session:
        cf = await session.cloud_foundry(CF_API, username="user", password="pass")
        items = [item async for item in paginate(getattr(cf, operation))]
    assert asked == [None, "2"]
    assert len(items) == len(first["resources"]) + len(last["resources"])
    assert all(type(item).__name__ in ("Process", "OrganizationQuota") for item in items)
