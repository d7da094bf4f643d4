from __future__ import annotations

import base64
import json

import httpx

from scp_async.emulator import Emulator, ManualClock

CIS_ID, CIS_SECRET = "sb-cis-emulator!b1", "cis-emulator-secret"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_client_credentials_basic_and_form(emu: Emulator, clock: ManualClock) -> None:
    async with emu.client() as c:
        r1 = await c.post("/uaa/oauth/token", data={"grant_type": "client_credentials"}, auth=(CIS_ID, CIS_SECRET))
        r2 = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CIS_ID, "client_secret": CIS_SECRET},
        )
    for r in (r1, r2):
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 43199
        assert "refresh_token" not in body
        claims = _claims(body["access_token"])
        assert claims["exp"] == int(clock.now()) + 43199
        assert claims["client_id"] == CIS_ID
    assert emu.counters.tokens_issued == 2


async def test_bad_client_and_grant(emu: Emulator) -> None:
    async with emu.client() as c:
        bad = await c.post("/uaa/oauth/token", data={"grant_type": "client_credentials"}, auth=(CIS_ID, "nope"))
        assert bad.status_code == 401
        assert bad.json()["error"] == "invalid_client"
        unsupported = await c.post("/uaa/oauth/token", data={"grant_type": "magic"}, auth=(CIS_ID, CIS_SECRET))
        assert unsupported.status_code == 400
        assert unsupported.json()["error"] == "unsupported_grant_type"
        anonymous = await c.post("/uaa/oauth/token", data={"grant_type": "client_credentials"})
        assert anonymous.status_code == 401


async def test_password_grant_with_public_cf_client_and_refresh(emu: Emulator) -> None:
    async with emu.client() as c:
        r = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "password", "username": "admin@example.com", "password": "emulator-password"},
            headers={"Authorization": "Basic " + base64.b64encode(b"cf:").decode()},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["refresh_token"].endswith("-r")
        assert _claims(body["access_token"])["user_name"] == "admin@example.com"
        wrong = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "password", "username": "admin@example.com", "password": "x"},
            auth=("cf", ""),
        )
        assert wrong.status_code == 401
        refreshed = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
            auth=("cf", ""),
        )
        assert refreshed.status_code == 200
        assert refreshed.json()["access_token"] != body["access_token"]
        assert refreshed.json()["refresh_token"] == body["refresh_token"]
        bogus = await c.post(
            "/uaa/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x-r"}, auth=("cf", "")
        )
        assert bogus.status_code == 401
        assert bogus.json()["error"] == "invalid_token"


async def test_every_api_call_checks_the_bearer(emu: Emulator, clock: ManualClock) -> None:
    emu.set_token_ttl(60)
    token = emu.issue_token("audit_log")
    async with emu.client() as c:
        url = "/accounts/accounts/v1/globalAccount"
        assert (await c.get(url)).status_code == 401
        missing = await c.get(url)
        assert missing.json()["error"] == "invalid_token"
        assert "www-authenticate" in missing.headers
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert (await c.get(url, headers={"Authorization": f"Bearer {forged}"})).status_code == 401
        assert (await c.get(url, headers={"Authorization": "Bearer garbage"})).status_code == 401
        assert (await c.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 200
        clock.advance(61)
        expired = await c.get(url, headers={"Authorization": f"Bearer {token}"})
        assert expired.status_code == 401
        assert expired.json() == {"error": "invalid_token", "error_description": expired.json()["error_description"]}
        assert "expired" in expired.json()["error_description"]
        cf = await c.get("/cf/v3/apps", headers={"Authorization": f"Bearer {token}"})
        assert cf.status_code == 401
        assert cf.json()["errors"][0]["code"] == 1000
        assert cf.json()["errors"][0]["title"] == "CF-InvalidAuthToken"
    assert emu.counters.unauthorized >= 6


async def test_revoke_and_opaque_tokens(emu: Emulator, client: httpx.AsyncClient, token: str) -> None:
    url = "/accounts/accounts/v1/globalAccount"
    assert (await client.get(url)).status_code == 200
    emu.revoke_tokens(token)
    assert (await client.get(url)).status_code == 401
    async with emu.client() as c:
        r = await c.post(
            "/uaa/oauth/token",
            data={"grant_type": "client_credentials", "token_format": "opaque"},
            auth=(CIS_ID, CIS_SECRET),
        )
        opaque = r.json()["access_token"]
        assert "." not in opaque
        assert (await c.get(url, headers={"Authorization": f"Bearer {opaque}"})).status_code == 200
        emu.revoke_tokens()
        assert (await c.get(url, headers={"Authorization": f"Bearer {opaque}"})).status_code == 401
