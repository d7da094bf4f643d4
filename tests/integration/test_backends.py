"""A representative slice of the integration tests under both anyio backends (asyncio and trio).

The tests are plain functions that start their own event loop with ``anyio.run``, so pytest-asyncio's
auto mode leaves them alone and trio gets a real run against the loopback emulator.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from scp_async import ApiConnectionError, NotFound, Session
from scp_async.emulator import Emulator, FaultConfig, ManualClock
from scp_async_clients.accounts.models import CreateSubaccountRequestPayload

from .helpers import CONCURRENT, TRANSITION_DELAY, concurrent_first_calls

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cloud_management_round_trip(backend: str, emu: Emulator, clock: ManualClock, keys: dict[str, Any]) -> None:
    async def scenario() -> tuple[str, str, str, str | None]:
        async with Session() as session:
            accounts = session.cloud_management(keys["cis"]).accounts
            ga = await accounts.get_global_account()
            created = await accounts.create_subaccount(
                body=CreateSubaccountRequestPayload(display_name=f"itest-{backend}", region="us10")
            )
            clock.advance(TRANSITION_DELAY + 1)
            ready = await accounts.get_subaccount(created.guid)
            await accounts.delete_subaccount(created.guid)
            clock.advance(TRANSITION_DELAY + 1)
            try:
                await accounts.get_subaccount(created.guid)
            except NotFound as exc:
                return ga.guid, created.state.value, ready.state.value, exc.error_code
            raise AssertionError("the deleted subaccount is still there")

    ga_guid, first, then, code = anyio.run(scenario, backend=backend)
    assert ga_guid == emu.state.global_account["guid"]
    assert (first, then, code) == ("STARTED", "OK", "11002")


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_token_for_concurrent_first_calls(backend: str, emu: Emulator, keys: dict[str, Any]) -> None:
    async def scenario() -> tuple[int, int]:
        return await concurrent_first_calls(emu, keys)

    assert anyio.run(scenario, backend=backend) == (1, CONCURRENT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_revocation_and_dropped_connections(backend: str, emu: Emulator, keys: dict[str, Any]) -> None:
    async def scenario() -> tuple[int, str]:
        async with Session() as session:
            accounts = session.cloud_management(keys["cis"]).accounts
            await accounts.get_global_account()
            before = emu.counters.tokens_issued
            emu.revoke_tokens()
            await accounts.get_global_account()
            renewed = emu.counters.tokens_issued - before
            emu.set_faults(FaultConfig(drop_rate=1.0), route="accounts GET /accounts/v1/globalAccount")
            try:
                await accounts.with_options(max_retries=0).get_global_account()
            except ApiConnectionError as exc:
                return renewed, type(exc).__name__
            finally:
                emu.set_faults(None)
            raise AssertionError("the dropped connection went unnoticed")

    assert anyio.run(scenario, backend=backend) == (1, "ApiConnectionError")
