"""Tokens over loopback: one token request for many concurrent first calls, recovery from revocation,
renewal ahead of expiry (client credentials and the CF password/refresh grants)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from scp_async import Session
from scp_async.emulator import Emulator, ManualClock

from .helpers import CONCURRENT, concurrent_first_calls

TTL = 100.0


async def test_concurrent_first_calls_share_one_token(emu: Emulator, keys: dict[str, Any]) -> None:
    tokens, requests = await concurrent_first_calls(emu, keys)
    assert (tokens, requests) == (1, CONCURRENT)


async def test_revoked_token_is_renewed_once_and_the_call_succeeds(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        await accounts.get_global_account()
        tokens_before, unauthorized_before = emu.counters.tokens_issued, emu.counters.unauthorized
        emu.revoke_tokens()
        ga = await accounts.get_global_account()
        assert ga.guid == emu.state.global_account["guid"]
        assert emu.counters.unauthorized - unauthorized_before == 1  # the revoked token was refused once
        assert emu.counters.tokens_issued - tokens_before == 1  # and replaced once
        await accounts.get_subaccounts()  # the new token is cached and accepted
        assert emu.counters.tokens_issued - tokens_before == 1
        assert emu.counters.unauthorized - unauthorized_before == 1


async def test_revocation_during_concurrent_calls_still_needs_one_new_token(
    emu: Emulator, keys: dict[str, Any]
) -> None:
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        await accounts.get_global_account()
        emu.revoke_tokens()
        tokens_before = emu.counters.tokens_issued
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(accounts.get_global_account)
    assert emu.counters.tokens_issued - tokens_before == 1


@pytest.fixture
def short_ttl(emu: Emulator) -> Iterator[float]:
    emu.set_token_ttl(TTL)
    yield TTL
    emu.set_token_ttl(emu.config.token_ttl)


async def test_short_lived_tokens_are_renewed_before_they_expire(
    emu: Emulator, clock: ManualClock, keys: dict[str, Any], short_ttl: float
) -> None:
    # The session judges expiry on the emulator's clock, so both sides agree on "now".
    async with Session(token_clock=clock.now, refresh_skew=60.0) as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        await accounts.get_global_account()
        tokens, unauthorized = emu.counters.tokens_issued, emu.counters.unauthorized
        clock.advance(0.8 * short_ttl)
        await accounts.get_global_account()
        assert emu.counters.tokens_issued == tokens  # still fresh: reused
        clock.advance(0.15 * short_ttl)  # 95% of the lifetime: valid on the server, but due for renewal
        await accounts.get_global_account()
        assert emu.counters.tokens_issued == tokens + 1
        assert emu.counters.unauthorized == unauthorized  # renewed ahead of expiry, never refused


class _TokenRequests(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.grants: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            self.grants.append(parse_qs(request.content.decode())["grant_type"][0])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_cf_login_is_renewed_with_the_refresh_token(
    emu: Emulator, clock: ManualClock, keys: dict[str, Any], short_ttl: float
) -> None:
    transport = _TokenRequests()
    cf_key = keys["cf"]
    async with Session(token_clock=clock.now, transport=transport) as session:
        cf = await session.cloud_foundry(cf_key["api_url"], username=cf_key["username"], password=cf_key["password"])
        await cf.list_organizations(per_page=1)
        clock.advance(0.95 * short_ttl)
        await cf.list_organizations(per_page=1)
        emu.revoke_tokens()  # also forgets refresh tokens: the session falls back to the password grant
        await cf.list_organizations(per_page=1)
    assert transport.grants == ["password", "refresh_token", "refresh_token", "password"]
