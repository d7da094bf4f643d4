from __future__ import annotations

import httpx
import pytest

from scp_async.emulator import ConnectionDropped, Emulator, FaultConfig, FaultRule, ManualClock

GA = "/accounts/accounts/v1/globalAccount"


async def test_injected_429_and_5xx_with_counters(emu: Emulator, client: httpx.AsyncClient) -> None:
    emu.set_faults(FaultConfig(rate_429=1.0, retry_after=3), route="accounts")
    r = await client.get(GA)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert int(r.headers["x-ratelimit-reset"]) > 1_000_000_000_000  # epoch millis
    assert "error" in r.json()
    assert (await client.get("/events/cloud-management/v1/events")).status_code == 200  # other APIs untouched
    emu.set_faults(FaultConfig(rate_5xx=1.0, status_5xx=502), route="accounts GET /accounts/v1/subaccounts")
    assert (await client.get("/accounts/accounts/v1/subaccounts")).status_code == 502
    assert (await client.get(GA)).status_code == 429
    emu.set_faults(None)
    assert (await client.get(GA)).status_code == 200
    c = emu.counters
    assert c.rate_limited == 2
    assert c.faults["429"] == 2
    assert c.faults["5xx"] == 1
    assert c.requests["accounts GET /accounts/v1/globalAccount"] == 3
    assert c.statuses[429] == 2
    snapshot = c.snapshot()
    assert snapshot["total_requests"] == 5
    c.reset()
    assert c.total_requests == 0


async def test_fault_rates_are_seeded(clock: ManualClock) -> None:
    async def pattern() -> list[int]:
        emu = Emulator(subaccounts=2, clock=clock, faults=FaultConfig(rate_5xx=0.3))
        async with emu.client(token=emu.issue_token()) as c:
            return [(await c.get(GA)).status_code for _ in range(40)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 503 in first
    assert 200 in first


async def test_audit_log_token_bucket_per_tenant(clock: ManualClock) -> None:
    emu = Emulator(subaccounts=2, clock=clock, audit_log_rate_limit=True)
    url = "/audit_log/auditlog/v2/auditlogrecords"
    async with emu.client(token=emu.issue_token("audit_log")) as c:
        statuses = [(await c.get(url)).status_code for _ in range(45)]
        assert statuses[:40] == [200] * 40
        assert statuses[40:] == [429] * 5
        limited = await c.get(url)
        assert limited.headers["retry-after"] == "1"
        assert int(limited.headers["x-ratelimit-reset"]) == int((clock.now() + 1 / 8) * 1000)
        clock.advance(1.0)  # 8 tokens back
        refill = [(await c.get(url)).status_code for _ in range(9)]
        assert refill == [200] * 8 + [429]
    async with emu.client(token=emu.issue_token("cis")) as other_tenant:
        assert (await other_tenant.get(url)).status_code == 200
    assert emu.counters.faults["bucket"] == 7


async def test_latency_is_counted_not_timed(emu: Emulator, client: httpx.AsyncClient) -> None:
    emu.set_faults(FaultConfig(latency=0.001, jitter=0.002), route="accounts")
    assert (await client.get(GA)).status_code == 200
    assert emu.counters.faults["latency"] == 1


async def test_dropped_connection_in_process(emu: Emulator, client: httpx.AsyncClient) -> None:
    emu.set_faults(FaultConfig(drop_rate=1.0), route="accounts")
    with pytest.raises(ConnectionDropped):
        await client.get(GA)
    assert emu.counters.faults["drop"] == 1


def test_dropped_connection_over_loopback() -> None:
    rules = [FaultRule("accounts GET /accounts/v1/globalAccount", FaultConfig(drop_rate=1.0))]
    with Emulator.serve(subaccounts=2, fault_rules=rules) as emu:
        token = emu.issue_token()
        with httpx.Client(base_url=emu.root_url, headers={"Authorization": f"Bearer {token}"}) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                c.get(GA)
            assert c.get("/accounts/accounts/v1/subaccounts").status_code == 200  # server still fine
        assert emu.counters.faults["drop"] == 1


async def test_short_token_ttl(emu: Emulator, clock: ManualClock) -> None:
    emu.set_token_ttl(2)
    async with emu.client() as c:
        r = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sb-cis-emulator!b1", "cis-emulator-secret"),
        )
        assert r.json()["expires_in"] == 2
        token = r.json()["access_token"]
        assert (await c.get(GA, headers={"Authorization": f"Bearer {token}"})).status_code == 200
        clock.advance(2)
        assert (await c.get(GA, headers={"Authorization": f"Bearer {token}"})).status_code == 401


def test_in_process_under_trio_with_latency() -> None:
    trio = pytest.importorskip("trio")
    emu = Emulator(subaccounts=2, faults=FaultConfig(latency=0.001))

    async def main() -> int:
        async with emu.client("accounts", token=emu.issue_token()) as c:
            return (await c.get("/accounts/v1/globalAccount")).status_code

    assert trio.run(main) == 200
    assert emu.counters.faults["latency"] == 1
