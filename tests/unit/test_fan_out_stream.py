"""fan_out_stream: outcomes as they complete, errors kept as outcomes, progress, attempts, early exit;
under asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import NotFound, Outcome, Session, fan_out, fan_out_stream

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
URL = "https://api.example/v1/things"


def test_outcomes_arrive_as_they_complete_with_errors_and_progress(run: Runner) -> None:
    progress: list[tuple[int, int, int]] = []

    async def work(n: int) -> int:
        # Later items finish first; every fifth fails.
        for _ in range(20 - n):
            await anyio.lowlevel.checkpoint()
        if n % 5 == 0:
            raise ValueError(f"item {n}")
        return n * n

    async def main() -> list[Outcome[int, int]]:
        seen = []
        async with fan_out_stream(
            work, range(20), limit=20, progress=lambda done, total, o: progress.append((done, total, o.index))
        ) as outcomes:
            async for outcome in outcomes:
                seen.append(outcome)
        return seen

    seen = run(main)
    assert sorted(o.index for o in seen) == list(range(20))  # nothing lost, nothing twice
    assert [o.index for o in seen][:3] == [19, 18, 17]  # completion order, not input order
    for o in seen:
        assert o.item == o.index
        if o.index % 5 == 0:
            assert isinstance(o.error, ValueError)
            assert not o.ok
            with pytest.raises(ValueError, match=f"item {o.index}"):
                o.result()
        else:
            assert (o.value, o.ok, o.result()) == (o.index**2, True, o.index**2)
        assert o.duration >= 0
        assert o.attempts == 0  # no HTTP
    assert [p[0] for p in progress] == list(range(1, 21))
    assert {p[1] for p in progress} == {20}
    assert [p[2] for p in progress] == [o.index for o in seen]


def test_the_limit_holds_and_leaving_early_cancels_the_rest(run: Runner) -> None:
    running = 0
    peak = 0
    finished = 0

    async def work(n: int) -> int:
        nonlocal running, peak, finished
        running += 1
        peak = max(peak, running)
        try:
            await anyio.sleep(0.001 * (n % 3))
            finished += 1
            return n
        finally:
            running -= 1

    async def main() -> int:
        got = 0
        async with fan_out_stream(work, range(200), limit=7) as outcomes:
            async for _ in outcomes:
                got += 1
                if got == 10:
                    break
        return got

    assert run(main) == 10
    assert peak <= 7
    assert finished < 200
    assert running == 0


def test_attempts_count_every_http_try(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{URL}/1", status_code=429, headers={"Retry-After": "1"})
    httpx_mock.add_response(url=f"{URL}/1", status_code=503)
    httpx_mock.add_response(url=f"{URL}/1", json={"n": 1})
    httpx_mock.add_response(url=f"{URL}/2", json={"n": 2})
    httpx_mock.add_response(url=f"{URL}/3", status_code=404, json={"error": "no"})

    async def main() -> dict[int, Outcome[int, Any]]:
        async with make_session() as session:

            async def get(n: int) -> Any:
                return (await session.request("GET", f"{URL}/{n}")).json()

            async with fan_out_stream(get, [1, 2, 3], limit=3) as outcomes:
                return {o.item: o async for o in outcomes}

    outcomes = run(main)
    assert (outcomes[1].value, outcomes[1].attempts) == ({"n": 1}, 3)
    assert (outcomes[2].value, outcomes[2].attempts) == ({"n": 2}, 1)
    assert isinstance(outcomes[3].error, NotFound)
    assert outcomes[3].attempts == 1


def test_iterating_without_entering_is_a_clear_error() -> None:
    async def work(n: int) -> int:
        return n

    with pytest.raises(RuntimeError, match="async with"):
        fan_out_stream(work, [1]).__aiter__()
    with pytest.raises(ValueError, match="limit"):
        fan_out_stream(work, [1], limit=0)


def test_one_session_many_credentials_share_the_pool_and_keep_apart_tokens_and_lanes(httpx_mock: HTTPXMock) -> None:
    from .helpers import TOKEN_URL, cis_key_dict

    tokens = iter(range(100))
    httpx_mock.add_callback(
        lambda request: httpx.Response(200, json={"access_token": f"t{next(tokens)}", "expires_in": 3600}),
        url=TOKEN_URL,
        is_reusable=True,
    )
    httpx_mock.add_response(url=f"{URL}/x", json={}, is_reusable=True)

    async def main() -> Session:
        async with Session() as session:
            apis = []
            for n in range(3):
                key = cis_key_dict()
                key["uaa"]["clientid"] = f"client-{n}"
                apis.append(session.cloud_management(key).api("accounts"))

            async def call(api: Any) -> None:
                await session.request("GET", f"{URL}/x", auth=api.auth)

            async with fan_out_stream(call, apis * 4, limit=12) as outcomes:
                assert all([o.ok async for o in outcomes])
            return session

    session = anyio.run(main)
    token_requests = [r for r in httpx_mock.get_requests() if str(r.url) == TOKEN_URL]
    assert len(token_requests) == 3  # one token per credential, shared by its four calls
    assert len(session.governor.lanes()) == 4  # the token server's lane and one per credential


def test_the_token_request_is_not_an_attempt_of_the_call_that_needed_it(httpx_mock: HTTPXMock) -> None:
    from .helpers import TOKEN_URL, cis_key_dict

    httpx_mock.add_response(url=TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    httpx_mock.add_response(url=f"{URL}/x", json={}, is_reusable=True)

    async def main() -> list[int]:
        async with Session() as session:
            api = session.cloud_management(cis_key_dict()).api("accounts")

            async def call(_: int) -> None:
                await session.request("GET", f"{URL}/x", auth=api.auth)

            async with fan_out_stream(call, [1, 2], limit=1) as outcomes:
                return [o.attempts async for o in outcomes]

    assert anyio.run(main) == [1, 1]


def test_leaving_early_as_another_item_ends_raises_nothing(run: Runner) -> None:
    # Item 1 ends in the same loop iteration as the block is left (item 2 sets it free): its outcome is
    # still handed to the stream, which must not be closed under it (BrokenResourceError).
    async def main() -> list[int]:
        free = anyio.Event()

        async def work(n: int) -> int:
            if n == 0:
                await anyio.sleep(0.01)
            elif n == 1:
                await free.wait()
            else:
                free.set()
                await anyio.sleep(10)
            return n

        async with fan_out_stream(work, range(3), limit=2) as outcomes:
            seen = []
            async for outcome in outcomes:
                seen.append(outcome.index)
                break
        return seen

    for _ in range(5):
        assert run(main) == [0]


def test_an_error_raised_in_the_block_comes_out_as_itself(run: Runner) -> None:
    class Stop(Exception):
        pass

    async def work(n: int) -> int:
        await anyio.sleep(0.01 if n == 0 else 10)
        return n

    async def main() -> None:
        async with fan_out_stream(work, range(5), limit=5) as outcomes:
            async for _ in outcomes:
                raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        run(main)


def test_items_from_an_async_iterable_are_taken_as_workers_free_up(run: Runner) -> None:
    async def main() -> tuple[list[int], list[tuple[int, int | None]], int | None]:
        async def subaccounts() -> AsyncIterator[int]:
            for n in range(25):
                if n % 10 == 0:
                    await anyio.sleep(0.001)  # the next page
                yield n

        async def work(n: int) -> int:
            await anyio.sleep(0.001 * (n % 3))
            return n * 2

        progress: list[tuple[int, int | None]] = []
        async with fan_out_stream(
            work, subaccounts(), limit=4, progress=lambda done, total, _o: progress.append((done, total))
        ) as outcomes:
            seen = sorted([o.value or 0 async for o in outcomes])
            total = outcomes.total
        return seen, progress, total

    seen, progress, total = run(main)
    assert seen == [n * 2 for n in range(25)]
    assert total == 25
    assert progress[0] == (1, None)  # the total is not known while items are still coming
    assert progress[-1] == (25, 25)
    assert [done for done, _ in progress] == list(range(1, 26))


def test_fan_out_keeps_the_order_of_an_async_iterable_and_closes_it_when_one_fails(run: Runner) -> None:
    closed: list[bool] = []

    async def numbers(count: int) -> AsyncIterator[int]:
        try:
            for n in range(count):
                yield n
        finally:
            closed.append(True)

    async def work(n: int) -> int:
        await anyio.sleep(0.001 * (5 - n % 5))  # later items finish first
        if n == 7:
            raise LookupError("item 7")
        return n

    async def ordered() -> list[int]:
        return await fan_out(work, numbers(7), limit=3)

    assert run(ordered) == list(range(7))
    assert closed == [True]  # read to its end (the generator's own finally)

    async def failing() -> list[int]:
        return await fan_out(work, numbers(1000), limit=3)

    with pytest.raises(LookupError, match="item 7"):
        run(failing)
    assert closed == [True, True]  # left before its end, and closed

    async def kept() -> list[int | Exception]:
        return await fan_out(work, numbers(9), limit=3, return_exceptions=True)

    results = run(kept)
    assert results[:7] == list(range(7))
    assert isinstance(results[7], LookupError)


def test_an_error_of_the_async_iterable_is_raised_as_itself(run: Runner) -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ConnectionError("page 2 failed")

    async def work(n: int) -> int:
        return n

    async def stream() -> list[int]:
        async with fan_out_stream(work, broken(), limit=2) as outcomes:
            return [o.index async for o in outcomes]

    async def gathered() -> list[int | Exception]:
        return await fan_out(work, broken(), limit=2, return_exceptions=True)

    for main in (stream, gathered):
        with pytest.raises(ConnectionError, match="page 2 failed"):
            run(main)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"limit": 0}, ValueError, "limit must be at least 1, not 0"),
        ({"limit": None}, TypeError, "limit must be an int, not NoneType"),
        ({"limit": 2.5}, TypeError, "limit must be an int, not float"),
        ({"limit": True}, TypeError, "limit must be an int, not bool"),
        ({"items": 5}, TypeError, "items must be an iterable or an async iterable, not int"),
        ({"items": "4f1c-guid"}, TypeError, r"items must be a collection of items, not one str \(pass \[item\]"),
        ({"func": None}, TypeError, "func must be an async function of one item, not NoneType"),
    ],
)
def test_bad_arguments_are_refused_up_front_naming_the_argument(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    async def work(n: int) -> int:
        return n

    call: dict[str, Any] = {"func": work, "items": [1, 2], "limit": 2, **arguments}

    async def gathered() -> Any:
        return await fan_out(call["func"], call["items"], limit=call["limit"])

    with pytest.raises(error, match=message):
        fan_out_stream(call["func"], call["items"], limit=call["limit"])
    with pytest.raises(error, match=message):
        anyio.run(gathered)


def test_a_progress_that_cannot_be_called_is_refused() -> None:
    async def work(n: int) -> int:
        return n

    with pytest.raises(TypeError, match=r"progress must be a function of \(done, total, outcome\), not int"):
        fan_out_stream(work, [1], progress=5)  # type: ignore[call-overload]


def test_a_function_that_is_not_async_is_a_mistake_not_an_item_failure(run: Runner) -> None:
    def square(n: int) -> int:
        return n * n

    async def gathered() -> Any:
        return await fan_out(square, [1, 2], limit=2, return_exceptions=True)  # type: ignore[call-overload]

    async def stream() -> Any:
        outcomes: Any
        async with fan_out_stream(square, [1, 2], limit=2) as outcomes:  # type: ignore[arg-type]
            return [o async for o in outcomes]

    for main in (gathered, stream):
        with pytest.raises(TypeError, match="func returned int for an item, not an awaitable") as caught:
            run(main)
        assert type(caught.value) is TypeError
