"""Unions of objects: each value is read as the member it names, and a warning inside a list names the item.

The CF V3 spec declares a discriminator (`type`: `managed` / `user-provided`) on service instances; tried in
order, the first member would take every object (our enums keep unknown values). The shared bodies are
read from ``$SCP_ASYNC_REAL_PAYLOADS`` or ``../shared/real-payloads`` (see test_real_payloads.py).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from scp_async import InvalidResponseError
from scp_async_clients.cf_v3.models import (
    AppCredentialBinding,
    KeyCredentialBinding,
    ManagedServiceInstance,
    ServiceInstanceList,
    UserProvidedServiceInstance,
)

from .harness import Body, call_with_body

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(os.environ.get("SCP_ASYNC_REAL_PAYLOADS") or ROOT.parent / "shared" / "real-payloads")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SPACE = "5a84d315-9513-4d74-95e5-f6a5501eeef7"


def _shared(name: str, operation: str) -> Body:
    path = PAYLOADS / "cf_v3" / f"{name}.json"
    if not path.is_file():
        message = f"no real payloads at {PAYLOADS} (set SCP_ASYNC_REAL_PAYLOADS)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return Body(f"cf_v3/{name}", "cf_v3", operation, path, docs_example=True)


def _ours(tmp_path: Path, operation: str, body: Any) -> Body:
    path = tmp_path / f"{operation}.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return Body(f"cf_v3/{operation}", "cf_v3", operation, path)


def _instance(index: int, kind: str) -> dict[str, Any]:
    guid = f"00000000-0000-4000-8000-{index:012d}"
    return {
        "guid": guid,
        "name": f"instance-{index}",
        "type": kind,
        "created_at": "2024-05-06T07:08:09Z",
        "relationships": {"space": {"data": {"guid": SPACE}}},
        "links": {"self": {"href": f"https://api.example.org/v3/service_instances/{guid}"}},
    }


def _page(resources: list[Any]) -> dict[str, Any]:
    return {"pagination": {"total_results": len(resources), "total_pages": 1, "next": None}, "resources": resources}


async def test_the_shared_user_provided_instance_is_read_as_user_provided() -> None:
    instance = await call_with_body(_shared("ccng-single_user_provided_service_instance", "getServiceInstance"))
    assert type(instance) is UserProvidedServiceInstance
    managed = await call_with_body(_shared("ccng-single_managed_service_instance", "getServiceInstance"))
    assert type(managed) is ManagedServiceInstance


async def test_the_shared_list_of_instances_is_read_member_by_member() -> None:
    listed = await call_with_body(_shared("ccng-paginated_list_of_service_instances", "listServiceInstances"))
    assert [type(r) for r in listed.resources] == [ManagedServiceInstance, UserProvidedServiceInstance]


async def test_a_list_mixing_both_kinds_reads_each_as_its_kind(tmp_path: Path) -> None:
    kinds = ["user-provided", "managed", "user-provided", "managed"]
    body = _page([_instance(i, kind) for i, kind in enumerate(kinds)])
    listed = await call_with_body(_ours(tmp_path, "listServiceInstances", body))
    expected = {"managed": ManagedServiceInstance, "user-provided": UserProvidedServiceInstance}
    assert [type(r) for r in listed.resources] == [expected[k] for k in kinds]
    assert [r.name for r in listed.resources] == [f"instance-{i}" for i in range(4)]


def test_a_value_naming_no_member_is_read_the_lenient_way() -> None:
    """A kind the spec does not know yet: the members are tried in order, and the unknown value kept."""
    listed = ServiceInstanceList.from_dict(_page([_instance(0, "shared-from-elsewhere"), {**_instance(1, "x")}]))
    assert [type(r) for r in listed.resources] == [ManagedServiceInstance, ManagedServiceInstance]
    assert str(listed.resources[0].type_) == "shared-from-elsewhere"


def test_credential_bindings_are_told_apart_too() -> None:
    from scp_async_clients.cf_v3.models import ServiceCredentialBindingList

    binding = {"guid": "00000000-0000-4000-8000-000000000001", "relationships": {}, "links": {}}
    listed = ServiceCredentialBindingList.from_dict(_page([{**binding, "type": "key"}, {**binding, "type": "app"}]))
    assert [type(r) for r in listed.resources] == [KeyCredentialBinding, AppCredentialBinding]


async def test_a_warning_inside_a_list_of_unions_names_the_item_by_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items: list[Any] = [_instance(i, "managed" if i % 2 else "user-provided") for i in range(5)]
    items[3]["created_at"] = True  # a date of another JSON type: kept as sent, with a warning
    items[1] = 7  # no object at all
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        listed = await call_with_body(_ours(tmp_path, "listServiceInstances", _page(items)))
    assert listed.resources[1] == 7
    assert listed.resources[3].created_at is True
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "response field $.resources[1]: expected one of ManagedServiceInstance, UserProvidedServiceInstance,"
        " got number; kept as sent",
        "response field $.resources[3].created_at: expected a date-time (ISO 8601, epoch milliseconds, or ISO 8601"
        " with a [zone]), got boolean; kept as sent",
    ]


async def test_an_item_that_misses_a_required_field_is_an_error_naming_it_by_index(tmp_path: Path) -> None:
    items = [_instance(i, "user-provided") for i in range(3)]
    broken = copy.deepcopy(items)
    del broken[2]["name"]
    with pytest.raises(InvalidResponseError) as caught:
        await call_with_body(_ours(tmp_path, "listServiceInstances", _page(broken)))
    assert caught.value.path == "$.resources[2].name"
