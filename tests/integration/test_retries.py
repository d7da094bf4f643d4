"""Retries over loopback: injected 503s on GET are retried, POST is not, a dropped connection surfaces."""

from __future__ import annotations

from typing import Any

import pytest

from scp_async import ApiConnectionError, RetryPolicy, ServerError, Session
from scp_async.emulator import Emulator, FaultConfig
from scp_async_clients.accounts.models import CreateSubaccountRequestPayload

from .helpers import FakeSleep

GA_ROUTE = "accounts GET /accounts/v1/globalAccount"
CREATE_ROUTE = "accounts POST /accounts/v1/subaccounts"
CALLS = 20


async def test_get_succeeds_after_injected_503s(
    faulty: Emulator, keys: dict[str, Any], fake_sleep: FakeSleep, retry: RetryPolicy
) -> None:
    emu = faulty
    emu.set_faults(FaultConfig(rate_5xx=0.3, status_5xx=503), route=GA_ROUTE)
    requests_before, faults_before = emu.counters.requests[GA_ROUTE], emu.counters.faults["5xx"]
    async with Session(retry=retry.with_max_retries(12)) as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        guids = [(await accounts.get_global_account()).guid for _ in range(CALLS)]
    injected = emu.counters.faults["5xx"] - faults_before
    assert guids == [emu.state.global_account["guid"]] * CALLS
    assert injected > 0
    assert emu.counters.requests[GA_ROUTE] - requests_before == CALLS + injected
    assert len(fake_sleep.delays) == injected


async def test_get_retries_with_backoff_until_the_service_recovers(
    faulty: Emulator, keys: dict[str, Any], fake_sleep: FakeSleep, retry: RetryPolicy
) -> None:
    emu = faulty
    emu.set_faults(FaultConfig(rate_5xx=1.0, status_5xx=503), route=GA_ROUTE)

    def recover(sleeps: int) -> None:
        if sleeps == 2:
            emu.set_faults(None, route=GA_ROUTE)

    fake_sleep.hook = recover
    before = emu.counters.requests[GA_ROUTE]
    async with Session(retry=retry) as session:
        ga = await session.cloud_management(keys["cis"]).accounts.get_global_account()
    assert ga.guid == emu.state.global_account["guid"]
    assert emu.counters.requests[GA_ROUTE] - before == 3
    assert fake_sleep.delays == [0.5, 1.0]  # no Retry-After on a 503: full-jitter backoff (random() == 1.0)


async def test_get_gives_up_after_max_retries(
    faulty: Emulator, keys: dict[str, Any], fake_sleep: FakeSleep, retry: RetryPolicy
) -> None:
    emu = faulty
    emu.set_faults(FaultConfig(rate_5xx=1.0, status_5xx=503), route=GA_ROUTE)
    before = emu.counters.requests[GA_ROUTE]
    async with Session(retry=retry) as session:
        accounts = session.cloud_management(keys["cis"]).accounts.with_options(max_retries=2)
        with pytest.raises(ServerError) as caught:
            await accounts.get_global_account()
    assert caught.value.status_code == 503
    assert emu.counters.requests[GA_ROUTE] - before == 3
    assert len(fake_sleep.delays) == 2


async def test_post_is_not_retried_on_503(
    faulty: Emulator, keys: dict[str, Any], fake_sleep: FakeSleep, retry: RetryPolicy
) -> None:
    emu = faulty
    emu.set_faults(FaultConfig(rate_5xx=1.0, status_5xx=503), route=CREATE_ROUTE)
    before = emu.counters.requests[CREATE_ROUTE]
    subaccounts_before = set(emu.state.subaccounts)
    async with Session(retry=retry) as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        with pytest.raises(ServerError) as caught:
            await accounts.create_subaccount(
                body=CreateSubaccountRequestPayload(display_name="itest-no-retry", region="eu10")
            )
    assert caught.value.status_code == 503
    assert emu.counters.requests[CREATE_ROUTE] - before == 1  # sent once: a POST may have had an effect
    assert fake_sleep.delays == []
    assert set(emu.state.subaccounts) == subaccounts_before


async def test_dropped_connection_surfaces_as_api_connection_error(
    faulty: Emulator, keys: dict[str, Any], fake_sleep: FakeSleep, retry: RetryPolicy
) -> None:
    emu = faulty
    emu.set_faults(FaultConfig(drop_rate=1.0), route=GA_ROUTE)
    drops_before, before = emu.counters.faults["drop"], emu.counters.requests[GA_ROUTE]
    async with Session(retry=retry) as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        with pytest.raises(ApiConnectionError) as caught:
            await accounts.with_options(max_retries=0).get_global_account()
        assert caught.value.method == "GET"
        assert caught.value.url is not None
        assert caught.value.url.endswith("/accounts/v1/globalAccount")
        assert emu.counters.faults["drop"] - drops_before == 1
        assert emu.counters.requests[GA_ROUTE] - before == 1
        assert fake_sleep.delays == []

        # with retries on, the same GET is retried after the drop and succeeds once the network heals
        fake_sleep.hook = lambda sleeps: emu.set_faults(None, route=GA_ROUTE)
        ga = await accounts.get_global_account()
    assert ga.guid == emu.state.global_account["guid"]
    assert emu.counters.faults["drop"] - drops_before == 2
    assert len(fake_sleep.delays) == 1
