"""Service Manager: page through instances (token paging), then create an instance and a binding."""

from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session, paginate
from scp_async_clients.service_manager.models import (
    CreateByPlanID,
    CreatedServiceBindingResponseObject,
    CreatedServiceInstanceResponseObject,
    CreateServiceBindingRequestPayload,
)


async def main(keys: Path) -> None:
    async with Session() as session:
        sm = session.service_manager(ServiceKey.from_file(keys / "service_manager.json"))
        names = [instance.name async for instance in paginate(sm.get_all_service_instances, max_items=20)]
        print(f"{len(names)} service instances, e.g. {names[:3]}")

        plan = (await sm.get_all_service_plans()).items[0]
        if not plan.id:
            raise SystemExit("the first service plan has no id")
        created = await sm.create_service_instance(
            body=CreateByPlanID(name="example-instance", service_plan_id=plan.id)
        )
        # 201: created at once; 202: the broker works on it (wait_for_service_instance waits for that)
        if not isinstance(created, CreatedServiceInstanceResponseObject) or not created.id:
            raise SystemExit("the instance is being created asynchronously")
        print(f"created {created.name} ({created.id})")
        binding = await sm.create_service_binding(
            body=CreateServiceBindingRequestPayload(name="example-binding", service_instance_id=created.id)
        )
        if isinstance(binding, CreatedServiceBindingResponseObject):
            print(f"bound {binding.name}")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
