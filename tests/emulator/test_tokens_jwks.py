"""Tokens like XSUAA's: RS256 JWTs verifiable through ``<uaa>/token_keys``, each zone's UAA at its own origin,
bad credentials and forged tokens answered 401 (never 500), and the bindings written the ways SAP delivers them."""

from __future__ import annotations

import base64
import json
import ssl
import stat
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scp_async.emulator import Credentials, Emulator, EmulatorConfig, ManualClock

CIS_ID, CIS_SECRET = "sb-cis-emulator!b1", "cis-emulator-secret"
USER, PASSWORD = "admin@example.com", "emulator-password"
UAA = "http://emulator.authentication.btp-emulator.local"  # the in-process UAA origin of zone "emulator"


def _part(token: str, i: int) -> dict[str, Any]:
    text = token.split(".")[i]
    return dict(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))


def _verify(token: str, pem: str) -> None:
    """RS256 verification with the PEM the JWKS lists (cryptography, not the emulator's JOSE library)."""
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key.verify(raw, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.verify(raw, signing_input.encode() + b"x", padding.PKCS1v15(), hashes.SHA256())


async def _token(c: httpx.AsyncClient, base: str = UAA, *, user: bool = False, **extra: str) -> httpx.Response:
    data = {"grant_type": "password", "username": USER, "password": PASSWORD} if user else {}
    data.setdefault("grant_type", "client_credentials")
    data.update(extra)
    return await c.post(base + "/oauth/token", data=data, auth=(CIS_ID, CIS_SECRET))


async def test_client_token_is_an_rs256_jwt_verifiable_through_the_jwks(emu: Emulator, clock: ManualClock) -> None:
    async with emu.client() as c:
        r = await _token(c)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        header = _part(token, 0)
        assert header["alg"] == "RS256"
        assert header["jku"] == UAA + "/token_keys"
        jwks = (await c.get(header["jku"])).json()
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    assert jwks["keys"][0]["value"].startswith("-----BEGIN PUBLIC KEY-----")  # UAA lists the PEM too
    _verify(token, jwks["keys"][0]["value"])
    claims = _part(token, 1)
    zid = emu.service_keys()["cis"]["uaa"]["zoneid"]
    assert str(uuid.UUID(zid)) == zid
    assert claims["iss"] == UAA + "/oauth/token"
    assert claims["zid"] == zid
    assert claims["ext_attr"] == {"enhancer": "XSUAA", "subaccountid": zid, "zdn": "emulator"}
    assert claims["cid"] == claims["azp"] == claims["client_id"] == claims["sub"] == CIS_ID
    assert claims["grant_type"] == "client_credentials"
    assert claims["authorities"] == claims["scope"]
    assert "cis-emulator!b1.read" in claims["scope"]
    assert CIS_ID in claims["aud"]
    assert claims["exp"] - claims["iat"] == 43199
    assert claims["iat"] == int(clock.now())


async def test_user_token_carries_the_user(emu: Emulator) -> None:
    async with emu.client() as c:
        r = await _token(c, user=True)
        cf = await c.post(
            UAA + "/oauth/token",
            data={"grant_type": "password", "username": USER, "password": PASSWORD, "login_hint": '{"origin":"ldap"}'},
            auth=("cf", ""),
        )
    claims = _part(r.json()["access_token"], 1)
    assert claims["grant_type"] == "password"
    assert claims["user_name"] == claims["email"] == USER
    assert claims["origin"] == "sap.default"
    assert claims["sub"] == claims["user_id"]
    assert str(uuid.UUID(claims["user_id"])) == claims["user_id"]
    assert _part(cf.json()["access_token"], 1)["origin"] == "ldap"


async def test_the_token_is_accepted_by_the_apis_and_expires(emu: Emulator, clock: ManualClock) -> None:
    async with emu.client() as c:
        token = (await _token(c)).json()["access_token"]
        ok = await c.get("/accounts/accounts/v1/globalAccount", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        clock.advance(43_200)
        expired = await c.get("/accounts/accounts/v1/globalAccount", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401
    assert "expired" in expired.json()["error_description"]


async def test_forged_foreign_and_non_ascii_tokens_are_401(emu: Emulator) -> None:
    token = emu.issue_token("cis")
    header, payload, signature = token.split(".")
    claims = _part(token, 1)
    claims["client_id"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    foreign = Emulator(subaccounts=1, seed=7).issue_token("cis")  # signed with another emulator's key
    candidates = [
        f"{header}.{forged_payload}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
        foreign,
        f"{header}.{payload}.{signature[:-1]}é",
        "ü.ö.ä",
        "not-a-jwt",
    ]
    async with emu.client() as c:
        for bad in candidates:
            r = await c.get(
                "/accounts/accounts/v1/globalAccount", headers=[(b"authorization", b"Bearer " + bad.encode())]
            )
            assert r.status_code == 401, (bad, r.text)
            assert r.json()["error"] == "invalid_token"


async def test_non_ascii_secrets_are_401_not_500(emu: Emulator) -> None:
    async with emu.client() as c:
        basic = base64.b64encode(f"{CIS_ID}:sécret".encode()).decode()
        r1 = await c.post(
            UAA + "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        r2 = await c.post(
            UAA + "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CIS_ID, "client_secret": "пароль"},
        )
        r3 = await c.post(
            UAA + "/oauth/token",
            data={"grant_type": "password", "username": USER, "password": "mot de passe à moi"},
            auth=("cf", ""),
        )
        r4 = await c.post(
            UAA + "/oauth/token",
            content=b"grant_type=client_credentials&client_secret=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
        )
        r5 = await c.post(
            UAA + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=[(b"authorization", b"Basic \xc3\xa9\xff")],
        )
    assert [r.status_code for r in (r1, r2, r3, r4, r5)] == [401, 401, 401, 400, 401]


async def test_revoking_everything_rotates_the_signing_key(emu: Emulator) -> None:
    async with emu.client() as c:
        old = (await _token(c)).json()["access_token"]
        old_kid = (await c.get(UAA + "/token_keys")).json()["keys"][0]["kid"]
        emu.revoke_tokens()
        new = (await _token(c)).json()["access_token"]
        keys = (await c.get(UAA + "/token_keys")).json()["keys"]
        auth = {"Authorization": f"Bearer {old}"}
        assert (await c.get("/accounts/accounts/v1/globalAccount", headers=auth)).status_code == 401
        auth = {"Authorization": f"Bearer {new}"}
        assert (await c.get("/accounts/accounts/v1/globalAccount", headers=auth)).status_code == 200
    assert [k["kid"] for k in keys] == [_part(new, 0)["kid"]] != [old_kid]


async def test_jwks_zone_check_and_discovery(emu: Emulator) -> None:
    zid = emu.service_keys()["cis"]["uaa"]["zoneid"]
    async with emu.client() as c:
        known = await c.get(UAA + "/token_keys", params={"zid": zid})
        unknown = await c.get(UAA + "/token_keys", params={"zid": str(uuid.uuid4())})
        oidc = (await c.get(UAA + "/.well-known/openid-configuration")).json()
        legacy = await _token(c, base="/uaa")  # the API origin's /uaa path still answers
    assert known.status_code == 200
    assert unknown.status_code == 400
    assert oidc["jwks_uri"] == UAA + "/token_keys"
    assert oidc["token_endpoint"] == UAA + "/oauth/token"
    assert legacy.status_code == 200


async def test_each_zone_has_its_own_origin_and_clients_only_in_their_zone() -> None:
    clients = {**EmulatorConfig().clients, "tenant": Credentials("sb-tenant!b9", "tenant-secret", "t!b9", "acme")}
    emu = Emulator(subaccounts=1, clients=clients)
    acme = emu.service_keys()  # keys for default clients only; the tenant client is reached by its zone
    assert emu.uaa_url_for("acme") == "http://acme.authentication.btp-emulator.local"
    async with emu.client() as c:
        own = await c.post(
            emu.uaa_url_for("acme") + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sb-tenant!b9", "tenant-secret"),
        )
        wrong_zone = await c.post(
            UAA + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("sb-tenant!b9", "tenant-secret")
        )
    assert own.status_code == 200
    claims = _part(own.json()["access_token"], 1)
    assert claims["ext_attr"]["zdn"] == "acme"
    assert claims["zid"] != acme["cis"]["uaa"]["zoneid"]
    assert claims["iss"] == "http://acme.authentication.btp-emulator.local/oauth/token"
    assert wrong_zone.status_code == 401


def test_served_keys_have_bare_origins_that_new_url_resolves(tmp_path: Path) -> None:
    with Emulator.serve(subaccounts=2) as emu:
        keys = emu.service_keys()
        xsuaa = keys["xsuaa"]
        origin = xsuaa["url"]
        assert urllib.parse.urlsplit(origin).path == ""
        assert origin != emu.root_url  # its own port
        assert xsuaa["uaadomain"] == origin.split("://")[1]
        assert keys["cf"]["uaa_url"] == keys["cis"]["uaa"]["url"] == keys["service_manager"]["url"] == origin
        token_url = urllib.parse.urljoin(origin + "/some/path", "/oauth/token")  # what new URL(...) does
        with httpx.Client() as c:
            r = c.post(token_url, data={"grant_type": "client_credentials"}, auth=(CIS_ID, CIS_SECRET))
            assert r.status_code == 200
            assert _part(r.json()["access_token"], 0)["jku"] == origin + "/token_keys"
            assert c.get(emu.cf_api_url).json()["links"]["uaa"]["href"] == origin
            assert c.post(emu.root_url + "/oauth/token").status_code == 404  # the API origin is not the UAA


def test_tls_serves_https_with_the_written_ca(tmp_path: Path) -> None:
    with Emulator.serve(subaccounts=1, tls=True) as emu:
        paths = emu.write_service_keys(tmp_path)
        ca = paths["tls_ca"]
        assert emu.root_url.startswith("https://")
        assert emu.uaa_url.startswith("https://")
        with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as c:
            assert c.get(emu.uaa_url + "/token_keys").status_code == 200
            assert c.get(emu.cf_api_url).status_code == 200
        with httpx.Client() as c, pytest.raises(httpx.ConnectError):  # not trusted without the CA
            c.get(emu.uaa_url + "/token_keys")


def test_bindings_are_written_as_sap_delivers_them(tmp_path: Path) -> None:
    emu = Emulator(subaccounts=1)
    paths = emu.write_service_keys(tmp_path)
    keys = emu.service_keys()
    vcap = json.loads(paths["VCAP_SERVICES"].read_text())
    assert json.loads(paths["default-env"].read_text()) == {"VCAP_SERVICES": vcap}
    assert set(vcap) == {"cis", "auditlog-management", "service-manager", "uas", "xsuaa"}
    cis = vcap["cis"][0]
    assert (cis["label"], cis["plan"], cis["name"]) == ("cis", "central", "cis-central")
    assert cis["credentials"] == keys["cis"]
    assert vcap["xsuaa"][0]["tags"] == ["xsuaa"]
    binding = tmp_path / "bindings" / "cis-central"
    metadata = json.loads((binding / ".metadata").read_text())
    assert {p["name"]: p["format"] for p in metadata["credentialProperties"]} == {
        "endpoints": "json",
        "grant_type": "text",
        "sap.cloud.service": "text",
        "uaa": "json",
    }
    assert json.loads((binding / "uaa").read_text()) == keys["cis"]["uaa"]
    assert (binding / "grant_type").read_text() == "client_credentials"
    assert (binding / "type").read_text() == "cis"
    assert json.loads((binding / "tags").read_text()) == ["cis"]
    for file in binding.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    emu.write_service_keys(tmp_path)  # rewriting swaps the tree whole, leaving nothing behind
    assert sorted(p.name for p in (tmp_path / "bindings").iterdir()) == sorted(e[0]["name"] for e in vcap.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
