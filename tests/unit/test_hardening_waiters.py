"""Fuzzed job statuses through the waiters: only the waiters' typed errors ever come out.

The accounts service's ``get_status`` answers a JSON document as a string, which ``wait_for_cis_job``
parses itself: nesting deeper than the stack, bytes that are not UTF-8 and odd shapes are a status it
cannot read (it keeps polling), never a raw ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_async import WaitFailedError, WaitTimeoutError
from scp_async._waiters import wait_for_cis_job, wait_until


class _Jobs:
    """An API whose ``get_status`` answers one fixed value."""

    def __init__(self, status: Any) -> None:
        self.status = status
        self.polls = 0

    async def get_status(self, job_instance_id_or_unique_id: str) -> Any:
        self.polls += 1
        return self.status


def _nested(depth: int, kind: str) -> str:
    nest = "[" * depth + "]" * depth
    if kind == "plain":
        return nest
    if kind == "failed":  # a failed job whose error is what nests: the reason is built from it
        return json.dumps({"status": "FAILED", "error": "@"}).replace('"@"', nest)
    return json.dumps({"status": "@"}).replace('"@"', nest)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
STATUSES = st.one_of(
    st.builds(_nested, st.integers(min_value=900, max_value=30_000), st.sampled_from(["plain", "failed", "status"])),
    st.binary(max_size=200).map(lambda b: b + b"\xc3\x28"),  # not UTF-8
    json_values.map(json.dumps),
    st.builds(lambda v: json.dumps({"status": "FAILED", "error": v, "description": v}), json_values),
    st.text(max_size=50),
)


async def _wait(jobs: _Jobs) -> Any:
    return await wait_for_cis_job(jobs, "job-1", timeout=0.03, interval=0.01)


@settings(max_examples=60, deadline=None)
@given(status=STATUSES)
def test_any_job_status_is_a_result_or_a_wait_error(status: str | bytes) -> None:
    jobs = _Jobs(status)
    outcome: BaseException | None = None
    try:
        anyio.run(_wait, jobs)
    except Exception as exc:
        outcome = exc
    if outcome is not None:
        assert isinstance(outcome, WaitTimeoutError | WaitFailedError), repr(outcome)
        assert "job job-1" in str(outcome)
        assert repr(outcome.last)  # what the error keeps can be looked at
    assert jobs.polls >= 1


@pytest.mark.parametrize("kind", ["plain", "failed", "status"])
def test_a_status_nested_far_deeper_than_the_stack_is_unreadable(kind: str) -> None:
    # The report's input: the string is kept as the status, which never reads COMPLETED or FAILED.
    status = _nested(100_000, kind)
    with pytest.raises(WaitTimeoutError) as caught:
        anyio.run(_wait, _Jobs(status))
    assert caught.value.last == {"status": status}
    assert len(str(caught.value)) < 300


def test_a_polled_value_too_deep_to_repr_still_gives_a_timeout_message() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]

    async def poll() -> list[Any]:
        return deep

    async def main() -> None:
        await wait_until(poll, lambda v: False, failed=lambda v: False, timeout=0.02, interval=0.01)

    with pytest.raises(WaitTimeoutError, match="nested too deep to show"):
        anyio.run(main)
