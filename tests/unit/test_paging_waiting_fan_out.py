"""paginate (every paging style), wait_until and fan_out, on fake operations shaped like the generated ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from scp_async import Paginator, WaitFailedError, WaitTimeoutError, fan_out, paginate, wait_until
from scp_async_clients.cf_v3.models import AppList
from scp_async_clients.events.models import BusinessEventsResponseCollection
from scp_async_clients.service_manager.models import ServiceInstanceResponseList
from scp_async_clients.service_manager.types import UNSET, Unset

ITEMS = list(range(23))


@dataclass
class Calls:
    seen: list[dict[str, Any]] = field(default_factory=list)


def _cf_page(page: int, per_page: int) -> AppList:
    chunk = ITEMS[(page - 1) * per_page : page * per_page]
    more = page * per_page < len(ITEMS)
    return AppList.from_dict(
        {
            "pagination": {
                "total_results": len(ITEMS),
                "next": {"href": f"https://api/v3/apps?page={page + 1}"} if more else None,
            },
            "resources": [{"guid": f"00000000-0000-0000-0000-{i:012d}", "name": f"app-{i}"} for i in chunk],
        }
    )


def test_cf_v3_pages_follow_pagination_next() -> None:
    calls = Calls()

    async def list_apps(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET, names: Any = UNSET) -> AppList:
        calls.seen.append({"page": page, "per_page": per_page, "names": names})
        return _cf_page(1 if isinstance(page, Unset) else page, int(per_page))

    async def main() -> None:
        first = await paginate(list_apps, per_page=10, names=["x"])
        assert len(first.resources) == 10
        names = [app.name async for app in paginate(list_apps, per_page=10, names=["x"])]
        assert names == [f"app-{i}" for i in ITEMS]

    anyio.run(main)
    assert [c["page"] for c in calls.seen] == [UNSET, UNSET, 2, 3]
    assert all(c["names"] == ["x"] and c["per_page"] == 10 for c in calls.seen)


def test_service_manager_pages_follow_the_token() -> None:
    tokens: list[Any] = []

    async def get_all_service_instances(*, token: str | Unset = UNSET, max_items: int | Unset = UNSET) -> Any:
        tokens.append(token)
        start = 0 if isinstance(token, Unset) else int(token)
        end = start + int(max_items)
        body: dict[str, Any] = {"items": [{"id": str(i), "name": f"i{i}"} for i in ITEMS[start:end]]}
        if end < len(ITEMS):
            body["token"] = str(end)
        return ServiceInstanceResponseList.from_dict(body)

    async def main() -> list[str]:
        return [item.name async for item in paginate(get_all_service_instances, max_items=10)]

    assert anyio.run(main) == [f"i{i}" for i in ITEMS]
    assert tokens == [UNSET, "10", "20"]


def test_events_pages_count_from_one_while_more_pages() -> None:
    pages: list[Any] = []

    async def get_business_events(*, page_num: int | Unset = UNSET, page_size: int | Unset = UNSET) -> Any:
        pages.append(page_num)
        number = 1 if isinstance(page_num, Unset) else page_num
        chunk = ITEMS[(number - 1) * 10 : number * 10]
        return BusinessEventsResponseCollection.from_dict(
            {"events": [{"id": i} for i in chunk], "morePages": number * 10 < len(ITEMS), "pageNum": number}
        )

    async def main() -> list[int]:
        return [event.id async for event in paginate(get_business_events, page_size=10)]

    assert anyio.run(main) == ITEMS
    assert pages == [UNSET, 2, 3]


def test_a_page_that_repeats_its_request_ends_the_iteration() -> None:
    async def get_all_service_instances(*, token: str | Unset = UNSET, max_items: int | Unset = UNSET) -> Any:
        return ServiceInstanceResponseList.from_dict({"items": [{"id": "1"}], "token": "same"})

    async def main() -> int:
        return len([page async for page in paginate(get_all_service_instances, token="same").pages()])

    assert anyio.run(main) == 1


def test_an_operation_without_paging_parameters_is_refused() -> None:
    async def get_global_account() -> None:
        return None

    with pytest.raises(TypeError, match="get_global_account is not a paged operation"):
        paginate(get_global_account)
    assert "style=cf-v3" in repr(Paginator(_fake_cf, {}))


async def _fake_cf(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
    return _cf_page(1, 5)


def test_wait_until_returns_fails_or_times_out() -> None:
    states = iter(["STARTED", "STARTED", "OK"])

    async def poll_ok() -> str:
        return next(states)

    async def poll_failed() -> str:
        return "CREATION_FAILED"

    async def poll_forever() -> str:
        return "STARTED"

    async def main() -> None:
        assert await wait_until(poll_ok, lambda s: s == "OK", interval=0.001) == "OK"
        with pytest.raises(WaitFailedError, match="job: failed") as failed:
            await wait_until(poll_failed, lambda s: s == "OK", failed=lambda s: "FAILED" in s, description="job")
        assert failed.value.last == "CREATION_FAILED"
        with pytest.raises(WaitTimeoutError, match=r"not reached within 0\.05 s") as late:
            await wait_until(poll_forever, lambda s: s == "OK", timeout=0.05, interval=0.001)
        assert late.value.last == "STARTED"

    anyio.run(main)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fan_out_keeps_order_and_the_limit(backend: str) -> None:
    running = peak = 0

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.001 * (item % 3))
        running -= 1
        if item == 7:
            raise ValueError("seven")
        return item * 2

    async def main() -> None:
        results = await fan_out(work, range(20), limit=4, return_exceptions=True)
        assert [r for i, r in enumerate(results) if i != 7] == [i * 2 for i in range(20) if i != 7]
        assert isinstance(results[7], ValueError)
        with pytest.raises(ValueError, match="seven"):
            await fan_out(work, range(20), limit=4)
        with pytest.raises(ValueError, match="limit"):
            await fan_out(work, [], limit=0)

    anyio.run(main, backend=backend)
    assert peak == 4
