"""Calls' deadlines under asyncio: ``asyncio.timeout_at``'s behaviour (in a plain ``with``), one timer per loop.

``asyncio.timeout_at`` puts a timer on the event loop's heap for every call (a ``TimerHandle``
made, compared in Python as the heap is sifted, cancelled and swept out again), and at fan-out rates
that was ~3 % of a typed call's CPU and a fifth of the objects the garbage collector walked. A
session's calls instead register their deadline with the loop's :class:`_Deadlines`: a heap of plain
tuples (compared in C) and one timer for the earliest deadline still pending. A call that ends in
time only marks its entry; entries at the front are shed as new ones come (calls mostly end in the
order they started), and the heap is swept when most of it is ended calls.

What a call sees is ``asyncio.timeout_at``'s: at the deadline its task is cancelled, and the block
turns that cancellation into ``TimeoutError`` unless the task was being cancelled from outside too
(``Task.uncancel`` counts the requests, as ``asyncio.Timeout`` does). Deadlines fire on the loop's
timer, so never before the loop's clock reaches them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import weakref
from collections import deque
from types import TracebackType
from typing import Final

__all__ = ["CallDeadline", "call_deadline"]

_PENDING: Final = 0
_EXPIRING: Final = 1  # the task was cancelled for this deadline; the block has not ended yet
_EXPIRED: Final = 2
_ENDED: Final = 3  # the block ended before its deadline

#: A sweep once ended entries are past this many and more than half the heap.
_SWEEP_AT: Final = 256


class CallDeadline:
    """A ``with`` block bounding the current task to ``when`` (the loop's clock); see the module."""

    __slots__ = ("_cancelling", "_deadlines", "_state", "_task", "when")

    def __init__(self, deadlines: _Deadlines, when: float | None) -> None:
        self._deadlines = deadlines
        self.when = math.inf if when is None else when
        self._state = _PENDING
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def expired(self) -> bool:
        """Whether the deadline passed and cancelled the block (``asyncio.Timeout.expired``)."""
        return self._state == _EXPIRING or self._state == _EXPIRED

    # A plain ``with`` (as anyio's cancel scopes are): entering and leaving never wait, and an ``async with``
    # would make two coroutines per call.
    def __enter__(self) -> CallDeadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a call's deadline needs an asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
        if self.when != math.inf:
            self._deadlines.add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = self._task
        self._task = None  # an ended entry may wait in the heap: it must not keep the task (and its result)
        if self._state == _EXPIRING:
            self._state = _EXPIRED
            assert task is not None
            if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
        elif self._state == _PENDING:
            self._state = _ENDED
            if self.when != math.inf:
                self._deadlines.ended()

    def _expire(self) -> None:
        self._state = _EXPIRING
        assert self._task is not None
        self._task.cancel()


class _Deadlines:
    """The pending deadlines of one event loop, and its one timer (see the module's docstring).

    Calls with the same limit come with later and later deadlines: those go to the back of a queue (no
    heap to sift, no tuple to make); a deadline earlier than the queue's last goes to a heap instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[CallDeadline] = deque()  # each no earlier than the one before
        self._heap: list[tuple[float, int, CallDeadline]] = []  # (when, order, entry): the others
        self._order = itertools.count()  # equal deadlines never compare their entries
        self._ended = 0  # entries in the queue or heap whose block ended
        self._timer: asyncio.TimerHandle | None = None

    def add(self, entry: CallDeadline) -> None:
        when = entry.when
        queue = self._queue
        while queue and queue[0]._state == _ENDED:
            queue.popleft()
            self._ended -= 1
        if not queue or when >= queue[-1].when:
            queue.append(entry)
            if len(queue) == 1:
                self._arm(when)
            return
        heap = self._heap
        while heap and heap[0][2]._state == _ENDED:
            heapq.heappop(heap)
            self._ended -= 1
        heapq.heappush(heap, (when, next(self._order), entry))
        if heap[0][2] is entry:
            self._arm(when)

    def ended(self) -> None:
        self._ended += 1
        if self._ended > _SWEEP_AT and 2 * self._ended > len(self._queue) + len(self._heap):
            self._queue = deque(entry for entry in self._queue if entry._state == _PENDING)
            self._heap = [item for item in self._heap if item[2]._state == _PENDING]
            heapq.heapify(self._heap)
            self._ended = 0

    def _arm(self, when: float) -> None:
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return  # an earlier wake-up is set: it arms the next one
            timer.cancel()
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        queue, heap = self._queue, self._heap
        while queue:
            entry = queue[0]
            if entry._state != _PENDING:
                queue.popleft()
                self._ended -= 1
            elif entry.when <= now:
                queue.popleft()
                entry._expire()
            else:
                break
        while heap:
            when, _, entry = heap[0]
            if entry._state != _PENDING:
                heapq.heappop(heap)
                self._ended -= 1
            elif when <= now:
                heapq.heappop(heap)
                entry._expire()
            else:
                break
        nearest = min(queue[0].when if queue else math.inf, heap[0][0] if heap else math.inf)
        if nearest != math.inf:
            self._arm(nearest)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = weakref.WeakKeyDictionary()


def call_deadline(loop: asyncio.AbstractEventLoop, when: float | None) -> CallDeadline:
    """A block that ends the current task's work at ``when`` on ``loop``'s clock (``None``: never), as
    ``asyncio.timeout_at``."""
    deadlines = _by_loop.get(loop)
    if deadlines is None:
        deadlines = _by_loop[loop] = _Deadlines(loop)
    return CallDeadline(deadlines, when)
