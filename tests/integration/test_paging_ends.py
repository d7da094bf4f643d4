"""Every paged list operation of every API ends against the emulator (in-process), with no page ceiling hit:
``paginate`` follows each API's own end signal and stops on an empty or repeated page."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from scp_async import ApiError, PaginationError, Session, paginate
from scp_async._pagination import STYLES
from scp_async.emulator import Emulator


def _paged(namespace: object) -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for name, function in inspect.getmembers(type(namespace), inspect.iscoroutinefunction):
        parameters = set(inspect.signature(function).parameters)
        if not name.startswith("_") and any(style.parameters <= parameters for style in STYLES):
            found.append((name, getattr(namespace, name)))
    return found


def _positional(method: Callable[..., Any], known: dict[str, Any]) -> list[Any]:
    values = []
    for parameter in inspect.signature(method).parameters.values():
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.default is parameter.empty:
            values.append(known.get(parameter.name, uuid.UUID(int=1)))
    return values


@pytest.fixture(scope="module")
def emulator() -> Emulator:
    return Emulator(subaccounts=3)


def test_every_paged_operation_of_every_api_ends(emulator: Emulator) -> None:
    keys = emulator.service_keys()
    outcomes: dict[str, str] = {}

    async def main() -> None:
        async with Session(transport=emulator.transport()) as session:
            cis = session.cloud_management(keys["cis"])
            cf_key = keys["cf"]
            cf = await session.cloud_foundry(
                cf_key["api_url"], username=cf_key["username"], password=cf_key["password"]
            )
            apis: dict[str, object] = {
                "events": cis.events,
                "saas_provisioning": cis.saas_provisioning,
                "service_manager": session.service_manager(keys["service_manager"]),
                "xsuaa": session.xsuaa(keys["xsuaa"]),
                "cf_v3": cf,
            }
            # A real parent for the operations that list the children of one resource.
            apps = await cf.list_apps(per_page=1)
            guid = apps.resources[0].guid if apps.resources else uuid.UUID(int=1)
            for api, namespace in apis.items():
                for name, method in _paged(namespace):
                    paginator = paginate(method, *_positional(method, {"guid": guid})).with_max_pages(200)
                    items = 0
                    try:
                        with anyio.fail_after(20):
                            async for _item in paginator:
                                items += 1
                        outcomes[f"{api}.{name}"] = f"{items} items"
                    except ApiError as exc:  # ended too: the emulator refused the (dummy) argument
                        outcomes[f"{api}.{name}"] = f"{type(exc).__name__}"
                    except PaginationError as exc:
                        outcomes[f"{api}.{name}"] = f"did not end: {exc}"
            # Small pages lose nothing: every page is followed to the last one.
            sm = session.service_manager(keys["service_manager"])
            small = {
                "cf_v3.list_apps": [a.guid async for a in paginate(cf.list_apps, per_page=4)],
                "cf_v3.list_routes": [r.guid async for r in paginate(cf.list_routes, per_page=5)],
                "service_manager.get_all_service_instances": [
                    i.id async for i in paginate(sm.get_all_service_instances, max_items=2)
                ],
                "events.get_business_events": [
                    e.id async for e in paginate(cis.events.get_business_events, page_size=3)
                ],
            }
            for operation, listed in small.items():
                assert len(set(listed)) == len(listed), operation
                assert outcomes[operation] == f"{len(listed)} items", operation

    anyio.run(main)
    assert len(outcomes) >= 55, outcomes
    assert not [f"{op}: {outcome}" for op, outcome in outcomes.items() if outcome.startswith("did not end")]
    assert sum(outcome.endswith(" items") for outcome in outcomes.values()) >= 40, outcomes
