"""paginate (every paging style), wait_until and fan_out, on fake operations shaped like the generated ones."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from scp_async import PaginationError, Paginator, WaitFailedError, WaitTimeoutError, fan_out, paginate, wait_until
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
        chunk = [{"id": str(i), "name": f"i{i}"} for i in ITEMS[start:end]]
        body: dict[str, Any] = {"items": chunk, "num_items": len(ITEMS)}
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


def test_items_without_an_id_are_told_apart_by_all_their_data_not_their_short_repr() -> None:
    """Two pages of events without ids that look alike in a repr (same type and global account) but differ."""

    async def get_business_events(*, page_num: int | Unset = UNSET, page_size: int | Unset = UNSET) -> Any:
        number = 1 if isinstance(page_num, Unset) else page_num
        events = [
            {"eventType": "Subaccount_Creation", "globalAccountGUID": "ga", "entityId": f"sub-{number}-{i}"}
            for i in range(2)
        ]
        return BusinessEventsResponseCollection.from_dict(
            {"events": events, "morePages": number < 3, "pageNum": number}
        )

    async def main() -> list[str]:
        return [str(event.entity_id) async for event in paginate(get_business_events, page_size=2)]

    assert anyio.run(main) == [f"sub-{page}-{i}" for page in (1, 2, 3) for i in range(2)]


def test_a_page_that_repeats_its_request_ends_the_iteration() -> None:
    async def get_all_service_instances(*, token: str | Unset = UNSET, max_items: int | Unset = UNSET) -> Any:
        return ServiceInstanceResponseList.from_dict(
            {"items": [{"id": "1", "name": "one"}], "num_items": 9, "token": "same"}
        )

    async def main() -> int:
        return len([page async for page in paginate(get_all_service_instances, token="same").pages()])

    assert anyio.run(main) == 1


def test_an_operation_without_paging_parameters_is_refused() -> None:
    async def get_global_account() -> None:
        return None

    with pytest.raises(TypeError, match="get_global_account is not a paged operation"):
        paginate(get_global_account)
    assert "style=cf-v3" in repr(Paginator(_fake_cf))
    with pytest.raises(ValueError, match="max_pages"):
        paginate(_fake_cf).with_max_pages(0)


def test_the_style_of_an_operation_is_found_once_per_function(monkeypatch: pytest.MonkeyPatch) -> None:
    class Api:
        async def list_apps(self, *, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
            return _cf_page(1, 5)

        async def get_app(self, guid: str) -> None:
            return None

    looked_at: list[object] = []
    real_signature = inspect.signature

    def signature(target: Any) -> inspect.Signature:
        looked_at.append(target)
        return real_signature(target)

    monkeypatch.setattr(inspect, "signature", signature)
    first, second = Api(), Api()
    assert "style=cf-v3" in repr(paginate(first.list_apps))
    assert "style=cf-v3" in repr(paginate(second.list_apps))
    assert len(looked_at) == 1  # one look for the function, whichever instance it is bound to
    for _ in range(2):  # a refusal is not remembered as a style
        with pytest.raises(TypeError, match="get_app is not a paged operation"):
            paginate(first.get_app)
    assert len(looked_at) == 3


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


# -- paging always ends ------------------------------------------------------------------------


def _apps(start: int, count: int) -> list[dict[str, Any]]:
    return [{"guid": f"00000000-0000-0000-0000-{i:012d}", "name": f"app-{i}"} for i in range(start, start + count)]


def _collect(paginator: Paginator[Any]) -> list[Any]:
    async def main() -> list[Any]:
        return [item async for item in paginator]

    return anyio.run(main)


def test_a_schema_example_next_link_with_the_same_page_again_ends_after_one_page() -> None:
    # What a schema-driven mock answers every list with: the same placeholder link and the same items.
    calls: list[Any] = []

    async def list_routes(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
        calls.append(page)
        return AppList.from_dict({"pagination": {"next": {"href": "string"}}, "resources": _apps(0, 2)})

    assert len(_collect(paginate(list_routes))) == 2
    assert calls == [UNSET, 2]


def test_a_next_link_handed_out_twice_ends_paging_after_its_new_items() -> None:
    calls: list[Any] = []

    async def list_apps(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
        number = 1 if isinstance(page, Unset) else page
        calls.append(number)
        return AppList.from_dict(
            {"pagination": {"next": {"href": "https://api/v3/apps?page=2"}}, "resources": _apps(number * 10, 2)}
        )

    assert [app.name for app in _collect(paginate(list_apps))] == ["app-10", "app-11", "app-20", "app-21"]
    assert calls == [1, 2]


def test_cf_uses_the_page_of_the_next_link_and_stops_at_total_pages() -> None:
    calls: list[Any] = []

    async def list_apps(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
        number = 1 if isinstance(page, Unset) else page
        calls.append(page)
        # The server skips page 2 (as a link may), and wrongly keeps a next link on its last page.
        following = {1: 3, 3: 4}.get(number, number + 1)
        return AppList.from_dict(
            {
                "pagination": {"total_pages": 4, "next": {"href": f"https://api/v3/apps?per_page=2&page={following}"}},
                "resources": _apps(number * 10, 1),
            }
        )

    assert len(_collect(paginate(list_apps, per_page=2))) == 3
    assert calls == [UNSET, 3, 4]


@dataclass
class _Link:
    href: str


@dataclass
class _FlatPage:
    """A list model as generated from an allOf schema: pagination fields on the page itself, or an
    undeclared ``pagination`` object kept as a raw mapping."""

    resources: list[dict[str, str]]
    next_: _Link | Unset | None = UNSET
    additional_properties: dict[str, Any] = field(default_factory=dict)


def test_pagination_fields_on_the_page_itself_or_undeclared_are_followed() -> None:
    async def list_processes(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> _FlatPage:
        number = 1 if isinstance(page, Unset) else page
        href = f"https://api/v3/processes?page={number + 1}"
        resources = [{"guid": f"p{number}"}]
        if number % 2:
            return _FlatPage(resources, next_=_Link(href) if number < 3 else None)
        return _FlatPage(resources, additional_properties={"pagination": {"next": {"href": href}}})

    assert [p["guid"] for p in _collect(paginate(list_processes))] == ["p1", "p2", "p3"]


def test_an_empty_page_ends_paging_even_if_more_are_announced() -> None:
    async def get_business_events(*, page_num: int | Unset = UNSET, page_size: int | Unset = UNSET) -> Any:
        number = 1 if isinstance(page_num, Unset) else page_num
        events = [{"id": number}] if number < 3 else []
        return BusinessEventsResponseCollection.from_dict({"events": events, "morePages": True})

    async def main() -> list[Any]:
        return [page async for page in paginate(get_business_events).pages()]

    pages = anyio.run(main)
    assert [len(p.events) for p in pages] == [1, 1]


def test_total_pages_without_more_pages_is_followed_and_bounds_paging() -> None:
    from scp_async_clients.saas_provisioning.models import SubscriptionsListResponseObject

    calls: list[Any] = []

    async def get_application_subscriptions(*, page: int | Unset = UNSET, size: int | Unset = UNSET) -> Any:
        number = 1 if isinstance(page, Unset) else page
        calls.append(number)
        return SubscriptionsListResponseObject.from_dict(
            {"subscriptions": [{"subscriptionGUID": f"s{number}"}], "totalPages": 3, "page": number}
        )

    assert len(_collect(paginate(get_application_subscriptions, size=1))) == 3
    assert calls == [1, 2, 3]


def test_scim_and_skip_top_paging() -> None:
    from scp_async_clients.xsuaa.models import SearchResultsObject

    users = [{"id": f"u{i}"} for i in range(7)]
    starts: list[Any] = []

    async def find_users(*, start_index: int | Unset = UNSET, count: int | Unset = UNSET) -> Any:
        start = 1 if isinstance(start_index, Unset) else start_index
        starts.append(start)
        chunk = users[start - 1 : start - 1 + int(count)]
        return SearchResultsObject.from_dict({"resources": chunk, "totalResults": len(users), "startIndex": start})

    assert len(_collect(paginate(find_users, count=3))) == 7
    assert starts == [1, 4, 7]

    skips: list[Any] = []

    async def get_role_collections(*, skip: int | Unset = UNSET, top: int | Unset = UNSET) -> list[dict[str, Any]]:
        offset = 0 if isinstance(skip, Unset) else skip
        skips.append(offset)
        return [{"name": f"rc{i}"} for i in range(offset, min(offset + int(top), 5))]

    assert [rc["name"] for rc in _collect(paginate(get_role_collections, top=2))] == [f"rc{i}" for i in range(5)]
    assert skips == [0, 2, 4]


def test_the_page_ceiling_raises_a_typed_error() -> None:
    async def get_all_service_instances(*, token: str | Unset = UNSET, max_items: int | Unset = UNSET) -> Any:
        number = 0 if isinstance(token, Unset) else int(token)
        item = {"id": str(number), "name": f"i{number}"}
        return ServiceInstanceResponseList.from_dict({"items": [item], "num_items": 10**6, "token": str(number + 1)})

    paginator = paginate(get_all_service_instances).with_max_pages(5)
    with pytest.raises(PaginationError, match=r"get_all_service_instances: .* after 5; .*with_max_pages") as info:
        _collect(paginator)
    assert info.value.max_pages == 5
    assert "max_pages=5" in repr(paginator)


@pytest.mark.parametrize("by", ["items", "pages"])
def test_a_page_is_not_kept_while_the_next_one_is_awaited(by: str) -> None:
    """Each of a fan-out's paginators holds one page at a time: the one before is freed before the next
    request (and with it the objects of its items the caller did not keep)."""
    import weakref

    pages: list[weakref.ref[AppList]] = []
    alive_while_waiting: list[bool] = []

    async def list_apps(*, page: int | Unset = UNSET, per_page: int | Unset = UNSET) -> AppList:
        alive_while_waiting.extend(ref() is not None for ref in pages)
        result = _cf_page(1 if isinstance(page, Unset) else page, int(per_page))
        pages.append(weakref.ref(result))
        return result

    async def main() -> None:
        if by == "items":
            names = [app.name async for app in paginate(list_apps, per_page=10)]
            assert len(names) == len(ITEMS)
        else:
            count = 0
            async for page in paginate(list_apps, per_page=10).pages():
                count += len(page.resources)
                del page  # the caller lets go of it too
            assert count == len(ITEMS)

    anyio.run(main)
    assert len(pages) == 3
    assert alive_while_waiting == [False, False, False]  # pages 1 and 2 freed before pages 2 and 3 were asked for
