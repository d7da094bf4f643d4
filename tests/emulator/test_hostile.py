from __future__ import annotations

import asyncio

import httpx

from scp_async.emulator import Emulator

ACC = "/accounts/accounts/v1"


async def test_oversized_body_is_refused(emu: Emulator, client: httpx.AsyncClient) -> None:
    big = b'{"displayName": "' + b"x" * (2 << 20) + b'"}'
    r = await client.post(f"{ACC}/subaccounts", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "error" in r.json()
    assert len(emu.state.subaccounts) == 12


async def test_hostile_json_and_parameters(emu: Emulator, client: httpx.AsyncClient) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = [
        deep,
        b"\xff\xfe not utf-8",
        b'{"displayName": 1e999999, "region": "eu10"}',
        b'{"displayName": "' + b"9" * 5000 + b'", "region": "eu10"}',
        b"[]",
        b"null",
        b'"string"',
        b'{"displayName": {"$ne": 1}, "region": ["eu10"]}',
    ]
    for body in cases:
        r = await client.post(f"{ACC}/subaccounts", content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text[:200])
    for params in ({"directoryGUID": "\x00" * 10}, {"labelSelector": "=" * 5000}, {"expand": ["true", "false"]}):
        r = await client.get(f"{ACC}/subaccounts" if "expand" not in params else f"{ACC}/globalAccount", params=params)
        assert r.status_code < 500
    weird = await client.get(f"{ACC}/subaccounts/%2e%2e%2f%2e%2e%2fetc%2fpasswd")
    assert weird.status_code == 404
    async with emu.client() as anon:
        r = await anon.post("/uaa/oauth/token", content=b"\xff" * 100, headers={"Authorization": "Basic %%%"})
        assert 400 <= r.status_code < 500
    assert len(emu.state.subaccounts) == 12


async def test_concurrent_writes_stay_consistent(emu: Emulator, client: httpx.AsyncClient) -> None:
    guid = next(iter(emu.state.subaccounts))

    async def put(i: int) -> int:
        r = await client.put(f"{ACC}/subaccounts/{guid}/labels", json={"labels": {"writer": [str(i)], "n": [str(i)]}})
        return r.status_code

    async def create(i: int) -> int:
        r = await client.post(
            f"{ACC}/subaccounts", json={"displayName": f"c{i}", "region": "eu10", "subdomain": "same"}
        )
        return r.status_code

    statuses = await asyncio.gather(*(put(i) for i in range(50)))
    assert set(statuses) == {200}
    labels = (await client.get(f"{ACC}/subaccounts/{guid}/labels")).json()["labels"]
    assert labels["writer"] == labels["n"]  # one writer's labels, never a mix
    created = await asyncio.gather(*(create(i) for i in range(20)))
    assert sorted(created) == [201] + [409] * 19
    assert sum(1 for s in emu.state.subaccounts.values() if s["subdomain"] == "same") == 1


def test_concurrent_writes_over_loopback() -> None:
    with Emulator.serve(subaccounts=2) as emu:
        token = emu.issue_token()

        async def main() -> list[int]:
            async with httpx.AsyncClient(base_url=emu.root_url, headers={"Authorization": f"Bearer {token}"}) as c:

                async def create(i: int) -> int:
                    body = {"name": f"org-{i % 5}"}
                    return (await c.post("/cf/v3/organizations", json=body)).status_code

                return await asyncio.gather(*(create(i) for i in range(40)))

        statuses = asyncio.run(main())
        assert statuses.count(201) == 5
        assert statuses.count(422) == 35
        names = [o["name"] for o in emu.state.cf_orgs.values()]
        assert len(names) == len(set(names))
