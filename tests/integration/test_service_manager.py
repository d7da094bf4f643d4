"""Service Manager over loopback: token paging, instances, bindings, an asynchronous operation."""

from __future__ import annotations

from typing import Any

import pytest

from scp_async import Conflict, NotFound, Session
from scp_async.emulator import Emulator, ManualClock
from scp_async_clients.service_manager.models import (
    CreateByOfferingAndPlanName,
    CreateByPlanID,
    CreatedServiceBindingResponseObject,
    CreatedServiceInstanceResponseObject,
    CreateServiceBindingRequestPayload,
    GetSingleOperationResourceType,
)

from .helpers import TRANSITION_DELAY

PAGE = 4


async def walk_instances(sm: Any, max_items: int) -> tuple[list[str], int, int]:
    """Every instance id, page by page; also the announced total and the number of requests."""
    ids: list[str] = []
    requests = 0
    token: Any = None
    total = -1
    while True:
        page = await (sm.get_all_service_instances(max_items=max_items, token=token) if token else
                      sm.get_all_service_instances(max_items=max_items))  # fmt: skip
        requests += 1
        total = page.num_items
        items = page.items or []
        assert len(items) <= max_items
        ids.extend(item.id for item in items)
        token = page.token or None
        if token is None:
            return ids, total, requests


async def test_instances_paging_walks_every_page(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        sm = session.service_manager(keys["service_manager"])
        ids, total, requests = await walk_instances(sm, PAGE)
    assert total == len(emu.state.sm_instances) > 2 * PAGE  # several pages, or the walk proves nothing
    assert len(ids) == total
    assert len(set(ids)) == total
    assert set(ids) == set(emu.state.sm_instances)
    assert requests == -(-total // PAGE)


async def test_create_instance_and_binding(emu: Emulator, keys: dict[str, Any]) -> None:
    plan_id = next(iter(emu.state.sm_plans))
    async with Session() as session:
        sm = session.service_manager(keys["service_manager"])
        instance = await sm.create_service_instance(body=CreateByPlanID(name="itest-instance", service_plan_id=plan_id))
        assert isinstance(instance, CreatedServiceInstanceResponseObject)
        assert instance.ready is True
        assert instance.service_plan_id == plan_id
        fetched = await sm.get_service_instance_by_id(instance.id)
        assert fetched.name == "itest-instance"

        binding = await sm.create_service_binding(
            body=CreateServiceBindingRequestPayload(name="itest-binding", service_instance_id=instance.id)
        )
        assert isinstance(binding, CreatedServiceBindingResponseObject)
        assert binding.service_instance_id == instance.id
        assert binding.credentials.additional_properties["clientsecret"]
        assert (await sm.get_service_binding_by_id(binding.id)).name == "itest-binding"

        # a second instance of the same name conflicts; an instance with bindings cannot be deleted
        with pytest.raises(Conflict):
            await sm.create_service_instance(body=CreateByPlanID(name="itest-instance", service_plan_id=plan_id))
        with pytest.raises(Conflict):
            await sm.delete_service_instance(instance.id)

        ids, total, _ = await walk_instances(sm, PAGE)
        assert instance.id in ids
        assert len(ids) == total

        await sm.delete_service_binding(binding.id)
        await sm.delete_service_instance(instance.id)
        with pytest.raises(NotFound) as caught:
            await sm.get_service_instance_by_id(instance.id)
    assert caught.value.error_code == "NotFound"  # Service Manager's own error format
    assert "could not find" in caught.value.message


async def test_asynchronous_creation_by_offering_and_plan_name(
    emu: Emulator, clock: ManualClock, keys: dict[str, Any]
) -> None:
    plan = next(iter(emu.state.sm_plans.values()))
    offering = emu.state.sm_offerings[plan["service_offering_id"]]
    async with Session() as session:
        sm = session.service_manager(keys["service_manager"])
        raw = await sm.with_raw_response.create_service_instance(
            body=CreateByOfferingAndPlanName(
                name="itest-async", service_offering_name=offering["name"], service_plan_name=plan["name"]
            ),
            async_=True,
        )
        assert raw.status_code == 202
        _, _, instance_id, _, operation_id = raw.headers["location"].strip("/").split("/")[-5:]
        resource = GetSingleOperationResourceType("service_instances")
        running = await sm.get_single_operation(resource, instance_id, operation_id)
        assert running.state.value == "in progress"
        clock.advance(TRANSITION_DELAY + 1)
        done = await sm.get_single_operation(resource, instance_id, operation_id)
        assert done.state.value == "succeeded"
        assert (await sm.get_service_instance_by_id(instance_id)).ready is True
