"""The rate limits SAP documents per API (``rate_limits=True``), with each API's own 429."""

from __future__ import annotations

import email.utils

import httpx

from scp_async.emulator import Emulator, ManualClock

START = 1_800_000_000.0


def _emu(clock: ManualClock, factor: float = 1.0) -> Emulator:
    return Emulator(subaccounts=2, audit_log_records=5, clock=clock, rate_limits=True, rate_limit_factor=factor)


async def _get_n(c: httpx.AsyncClient, path: str, n: int, token: str) -> list[httpx.Response]:
    return [await c.get(path, headers={"Authorization": f"Bearer {token}"}) for _ in range(n)]


async def test_off_by_default(clock: ManualClock) -> None:
    emu = Emulator(subaccounts=2, clock=clock)
    async with emu.client() as c:
        got = await _get_n(c, "/accounts/accounts/v1/globalAccount", 20, emu.issue_token("cis"))
    assert {r.status_code for r in got} == {200}


async def test_cis_per_endpoint_per_caller_with_11006_and_reset_in_ms(clock: ManualClock) -> None:
    emu = _emu(clock)
    async with emu.client() as c:
        token = emu.issue_token("cis")
        got = await _get_n(c, "/accounts/accounts/v1/globalAccount", 6, token)
        assert [r.status_code for r in got] == [200] * 5 + [429]
        error = got[-1].json()["error"]
        assert error["code"] == 11006
        assert error["details"][0]["code"] == 11007
        reset_ms = int(got[-1].headers["x-ratelimit-reset"])
        assert START * 1000 < reset_ms <= (START + 3) * 1000  # epoch milliseconds, within the 3 s window
        other_endpoint = await _get_n(c, "/accounts/accounts/v1/subaccounts", 1, token)
        other_caller = await _get_n(c, "/accounts/accounts/v1/globalAccount", 1, emu.issue_token("cis", user="u"))
        clock.advance(0.7)  # one request per 0.6 s comes back
        again = await _get_n(c, "/accounts/accounts/v1/globalAccount", 2, token)
    assert other_endpoint[0].status_code == 200
    assert other_caller[0].status_code == 200
    assert [r.status_code for r in again] == [200, 429]
    assert emu.counters.rate_limited == 2


async def test_audit_log_per_tenant_burst_40(clock: ManualClock) -> None:
    emu = _emu(clock)
    path = "/audit_log/auditlog/v2/auditlogrecords"
    async with emu.client() as c:
        got = await _get_n(c, path, 41, emu.issue_token("audit_log"))
        clock.advance(1.0)
        after = await _get_n(c, path, 9, emu.issue_token("audit_log"))  # same tenant, another token
    assert [r.status_code for r in got] == [200] * 40 + [429]
    assert got[-1].headers["retry-after"] == "1"
    assert [r.status_code for r in after] == [200] * 8 + [429]


async def test_service_manager_group_limit_with_http_date(clock: ManualClock) -> None:
    emu = _emu(clock)
    async with emu.client() as c:
        token = emu.issue_token("service_manager")
        got = await _get_n(c, "/service_manager/v1/service_offerings", 101, token)
        plans = await _get_n(c, "/service_manager/v1/service_plans", 1, token)
    assert [r.status_code for r in got] == [200] * 100 + [429]
    assert "description" in got[-1].json()
    retry_at = email.utils.parsedate_to_datetime(got[-1].headers["retry-after"]).timestamp()
    assert START < retry_at <= START + 60
    assert plans[0].status_code == 200  # another group still has room


async def test_cf_headers_on_every_answer_and_its_429(clock: ManualClock) -> None:
    emu = _emu(clock, factor=0.005)  # 2,000/h becomes 10/h
    async with emu.client() as c:
        got = await _get_n(c, "/cf/v3/organizations", 11, emu.issue_token("cf", user="admin@example.com"))
    assert [r.status_code for r in got] == [200] * 10 + [429]
    assert [r.headers["x-ratelimit-limit"] for r in got[:2]] == ["10", "10"]
    assert [int(r.headers["x-ratelimit-remaining"]) for r in got[:3]] == [9, 8, 7]
    assert START < int(got[0].headers["x-ratelimit-reset"]) <= START + 3600  # epoch seconds
    assert got[-1].json()["errors"][0]["code"] == 10013
    assert got[-1].json()["errors"][0]["title"] == "CF-RateLimitExceeded"
    assert int(got[-1].headers["retry-after"]) > 0


async def test_usage_data_html_429(clock: ManualClock) -> None:
    emu = _emu(clock, factor=0.05)  # 120/s becomes 6/s
    path = "/resource_consumption/reports/v1/monthlyUsage?fromDate=202401&toDate=202402"
    async with emu.client() as c:
        got = await _get_n(c, path, 7, emu.issue_token("resource_consumption"))
    assert [r.status_code for r in got] == [200] * 6 + [429]
    assert got[-1].headers["content-type"].startswith("text/html")


async def test_xsuaa_token_endpoint_and_scim(clock: ManualClock) -> None:
    emu = _emu(clock, factor=0.1)  # token endpoint 6/s with bursts to 30; SCIM 0.3/s
    key = emu.service_keys()["xsuaa"]
    async with emu.client() as c:
        tokens = [
            await c.post(
                key["url"] + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(key["clientid"], key["clientsecret"]),
            )
            for _ in range(31)
        ]
        scim = await _get_n(c, "/xsuaa/Users", 2, tokens[0].json()["access_token"])
    assert [r.status_code for r in tokens] == [200] * 30 + [429]
    assert tokens[-1].json()["error"] == "too_many_requests"
    assert int(tokens[-1].headers["retry-after"]) >= 1
    assert [r.status_code for r in scim][1] == 429
