"""Fields the services always send are plain types, not `X | Unset` (overlay rule `required`, each entry citing
the real bodies that prove it; `tests/realworld` parses every one of those bodies through these models).

A body without such a field breaks the spec: the typed call raises `InvalidResponseError` naming the field.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import anyio
import attrs
import pytest
from pytest_httpx import HTTPXMock

from scp_async import InvalidResponseError, Session

from .helpers import SM_URL, TOKEN_URL, sm_key_dict, token_json


@pytest.mark.parametrize(
    ("api", "model", "field", "annotation"),
    [
        ("cf_v3", "App", "name", "str"),
        ("service_manager", "ServicePlanResponseObject", "id", "str"),
        ("service_manager", "ServicePlanResponseObject", "name", "str"),
    ],
)
def test_fields_every_real_body_carries_are_plain_types(api: str, model: str, field: str, annotation: str) -> None:
    cls = getattr(importlib.import_module(f"scp_async_clients.{api}.models"), model)
    assert attrs.fields_dict(cls)[field].type == annotation


def test_a_plan_without_its_id_is_an_invalid_response(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=f"{SM_URL}/v1/service_plans/p-1", json={"name": "standard", "catalog_name": "standard"})

    async def main() -> None:
        async with make_session() as session:
            sm = session.service_manager(sm_key_dict())
            with pytest.raises(InvalidResponseError, match="'id'"):
                await sm.get_service_plans_by_service_id("p-1")

    anyio.run(main)
