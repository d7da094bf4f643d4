"""A call's deadline under asyncio (``scp_async._deadline``): ``asyncio.timeout_at``'s behaviour on one timer per
loop, whatever order deadlines come and end in."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from scp_async._deadline import _by_loop, call_deadline

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _factories() -> list[Any]:
    factories: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # not on Windows
        return factories
    factories.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return factories


@pytest.fixture(params=_factories())
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=request.param) as r:
            return r.run(coro)

    return runner


async def _bounded(seconds: float, work: float) -> float:
    """Sleep ``work`` s within a deadline ``seconds`` from now; the loop's time when it ended (or raises)."""
    loop = asyncio.get_running_loop()
    with call_deadline(loop, loop.time() + seconds):
        await asyncio.sleep(work)
    return loop.time()


def test_work_past_its_deadline_is_cancelled_into_timeout_error_never_early(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + 0.05
        block = call_deadline(loop, when)
        with pytest.raises(TimeoutError), block:
            await asyncio.sleep(10)
        assert loop.time() >= when
        assert block.expired()
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]  # the cancel was taken back

    run(main())


def test_work_done_in_time_is_left_alone_and_the_block_lets_go_of_its_task(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        block = call_deadline(loop, loop.time() + 0.05)
        with block:
            await asyncio.sleep(0)
        assert not block.expired()
        assert block._task is None
        await asyncio.sleep(0.1)  # past the deadline: nothing fires at a block that ended
        assert not block.expired()

    run(main())


def test_deadlines_in_any_order_each_fire_at_their_own_time(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Late deadlines first: the one timer must move earlier for those that follow.
        spans = [0.4, 0.3, 0.05, 0.2, 0.1]
        results = await asyncio.gather(*(_bounded(s, 10) for s in spans), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert loop.time() - start < 2

        order: list[float] = []

        async def timed(span: float) -> None:
            with pytest.raises(TimeoutError):
                await _bounded(span, 10)
            order.append(span)

        await asyncio.gather(*(timed(s) for s in spans))
        assert order == sorted(spans)

    run(main())


def test_a_later_call_with_an_earlier_deadline_does_not_wait_for_the_earlier_calls_deadline(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        late = asyncio.create_task(_bounded(30, 60))
        await asyncio.sleep(0)  # its deadline is the one timer's
        started = loop.time()
        with pytest.raises(TimeoutError):
            await _bounded(0.05, 60)
        assert loop.time() - started < 10
        assert not late.done()
        late.cancel()
        with pytest.raises(asyncio.CancelledError):
            await late

    run(main())


def test_a_deadline_already_past_fires_at_the_first_wait(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError), call_deadline(loop, loop.time() - 1):
            await asyncio.sleep(1)

    run(main())


def test_no_deadline_never_fires(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        block = call_deadline(loop, None)
        with block:
            await asyncio.sleep(0.05)
        assert not block.expired()
        assert not _by_loop[loop]._heap
        assert not _by_loop[loop]._queue

    run(main())


def test_a_cancel_from_outside_stays_a_cancel_even_when_the_deadline_passed_too(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        inside = asyncio.Event()

        async def work() -> None:
            with call_deadline(loop, loop.time() + 0.05):
                inside.set()
                try:
                    await asyncio.sleep(10)
                finally:
                    await asyncio.sleep(0.1)  # cleanup that outlives the deadline; then the outer cancel lands

        task = asyncio.create_task(work())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        # And an outer cancel before the deadline is a plain cancel.
        task = asyncio.create_task(_bounded(10, 10))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())


def test_nested_blocks_the_earlier_deadline_wins_and_only_its_block_turns_it_into_timeout_error(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        outer = call_deadline(loop, loop.time() + 10)
        with outer, pytest.raises(TimeoutError):
            await _bounded(0.05, 10)
        assert not outer.expired()

        outer = call_deadline(loop, loop.time() + 0.05)
        inner = call_deadline(loop, loop.time() + 10)

        async def both() -> None:
            with outer, inner:
                await asyncio.sleep(10)

        with pytest.raises(TimeoutError):
            await both()
        assert outer.expired()
        assert not inner.expired()

    run(main())


def test_many_calls_ending_in_any_order_keep_what_is_held_small_and_hold_no_task(run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = None
        rng = random.Random(7)
        largest = 0

        def held() -> list[Any]:
            assert deadlines is not None
            return [*deadlines._queue, *(entry for _, _, entry in deadlines._heap)]

        async def call(limit: float) -> None:
            nonlocal largest, deadlines
            with call_deadline(loop, loop.time() + limit):
                deadlines = _by_loop[loop]
                await asyncio.sleep(rng.random() * 0.02)
            largest = max(largest, len(held()))

        for _ in range(5):
            # Mostly one limit (deadlines in order: the queue), some shorter ones (the heap).
            await asyncio.gather(*(call(rng.choice([300, 300, 300, 60])) for _ in range(2000)))
        # 2,000 at a time: what is held stays of the order of the calls in flight.
        assert largest <= 2 * 2000 + 300
        assert deadlines is not None
        assert deadlines._heap  # both kinds were used
        assert held()  # ended calls' entries, waiting to be shed
        assert all(entry._task is None for entry in held())  # none keeps its task (and its result) alive

    run(main())
