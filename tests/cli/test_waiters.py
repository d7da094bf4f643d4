"""Named waiters against the emulator: ready values, and failures with the service's reason."""

from __future__ import annotations

from typing import Any

import pytest

from scp_async import Session, WaitFailedError
from scp_async._waiters import (
    wait_for_cf_job,
    wait_for_cis_job,
    wait_for_mta_operation,
    wait_for_service_instance,
    wait_for_subaccount,
)
from scp_async.emulator import Emulator


async def test_subaccount_becomes_ok() -> None:
    emulator = Emulator(subaccounts=2, transition_delay=0.2)
    async with Session(transport=emulator.transport()) as session:
        cis = session.cloud_management(emulator.service_keys()["cis"])
        from scp_async_clients.accounts.models import CreateSubaccountRequestPayload

        created = await cis.accounts.create_subaccount(
            body=CreateSubaccountRequestPayload(display_name="w", region="eu10", subdomain="w-1")
        )
        assert str(created.state) != "OK"
        ready = await wait_for_subaccount(cis.accounts, created.guid, interval=0.05, timeout=10)
        assert str(ready.state) == "OK"


class _Fake:
    """A service whose resource fails after one poll, with a reason."""

    def __init__(self, states: list[Any]) -> None:
        self.states = states

    async def next(self) -> Any:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    async def get_subaccount(self, subaccount_guid: str) -> Any:
        return await self.next()

    async def get_status(self, job_instance_id_or_unique_id: str) -> Any:
        return await self.next()

    async def get_job(self, guid: Any) -> Any:
        return await self.next()

    async def get_mta_operation(self, space_guid: str, operation_id: str) -> Any:
        return await self.next()

    async def get_service_instance_by_id(self, service_instance_id: str) -> Any:
        return await self.next()


@pytest.mark.parametrize(
    ("waiter", "states", "reason"),
    [
        (
            lambda f: wait_for_subaccount(f, "s", interval=0.01),
            [{"state": "STARTED"}, {"state": "CREATION_FAILED", "stateMessage": "quota exceeded"}],
            "CREATION_FAILED: quota exceeded",
        ),
        (
            lambda f: wait_for_cis_job(f, "j", interval=0.01),
            ['{"status": "IN_PROGRESS"}', '{"status": "FAILED", "description": "plan not entitled"}'],
            "plan not entitled",
        ),
        (
            lambda f: wait_for_cf_job(f, "j", interval=0.01),
            [{"state": "PROCESSING"}, {"state": "FAILED", "errors": [{"title": "CF-X", "detail": "org in use"}]}],
            "CF-X: org in use",
        ),
        (
            lambda f: wait_for_mta_operation(f, "space", "op", interval=0.01),
            [{"state": "RUNNING"}, {"state": "ERROR", "errorType": "CONTENT"}],
            "ERROR CONTENT",
        ),
        (
            lambda f: wait_for_service_instance(f, "i", interval=0.01),
            [
                {"last_operation": {"state": "in progress"}},
                {"last_operation": {"state": "failed", "description": "broker down"}},
            ],
            "broker down",
        ),
    ],
)
async def test_failures_carry_the_reason(waiter: Any, states: list[Any], reason: str) -> None:
    with pytest.raises(WaitFailedError) as caught:
        await waiter(_Fake(states))
    assert caught.value.reason == reason
    assert reason in str(caught.value)


async def test_service_instance_succeeds_against_the_emulator() -> None:
    emulator = Emulator(subaccounts=1, transition_delay=0.1)
    async with Session(transport=emulator.transport()) as session:
        keys = emulator.service_keys()
        sm = session.service_manager(keys["service_manager"])
        instances = await sm.get_all_service_instances()
        first = instances.items[0]
        done = await wait_for_service_instance(sm, first.id, interval=0.05, timeout=10)
        assert done.id == first.id
