"""SAP's own libraries work against the emulator unchanged.

``@sap/xssec`` and PyPI ``sap-xssec`` validate emulator tokens through its JWKS (over TLS, as they insist),
``@sap-cloud-sdk/connectivity`` fetches a client-credentials token from a binding the emulator wrote and calls an
API with it, and ``@sap/xsenv`` reads the written ``VCAP_SERVICES``, operator tree and ``default-env.json``.

The Node.js libraries are pinned in ``scripts/package-lock.json`` (``npm ci`` in ``scripts/``, part of ``make
install``); their tests skip when Node.js or the installed packages are missing locally and fail under CI.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_async.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "scripts" / "node_modules"
SCRIPTS = Path(__file__).resolve().parent / "node"
USER, PASSWORD = "admin@example.com", "emulator-password"


def _node() -> str:
    node = shutil.which("node")
    missing = (
        "Node.js is not installed"
        if node is None
        else None
        if (NODE_MODULES / "@sap" / "xssec").is_dir()
        else "scripts/node_modules lacks the pinned SAP packages (run `cd scripts && npm ci`)"
    )
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


def _run_node(script: str, *args: str, stdin: Any = None, env: dict[str, str] | None = None) -> Any:
    node = _node()
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "NODE_PATH": str(NODE_MODULES),
        **(env or {}),
    }
    proc = subprocess.run(
        [node, str(SCRIPTS / script), *args],
        input=json.dumps(stdin) if stdin is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])  # the libraries may log to stdout before it


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.fixture(scope="module")
def tls_emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    with Emulator.serve(subaccounts=3, tls=True) as emu:
        keys = tmp_path_factory.mktemp("keys")
        emu.write_service_keys(keys)
        yield emu, keys


def _fetch_token(emu: Emulator, creds: dict[str, Any], *, user: bool = False) -> str:
    data = {"grant_type": "password", "username": USER, "password": PASSWORD} if user else {}
    data.setdefault("grant_type", "client_credentials")
    assert emu.tls_ca_file is not None
    with httpx.Client(verify=ssl.create_default_context(cafile=emu.tls_ca_file)) as c:
        r = c.post(creds["url"] + "/oauth/token", data=data, auth=(creds["clientid"], creds["clientsecret"]))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    claims = _claims(token)
    claims["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_node_xssec_validates_tokens_through_the_jwks(tls_emu: tuple[Emulator, Path]) -> None:
    emu, keys = tls_emu
    xsuaa = json.loads((keys / "xsuaa.json").read_text())
    assert xsuaa["url"].startswith("https://127.0.0.1:")
    assert "/" not in xsuaa["url"].split("://")[1]  # a bare origin
    client = _fetch_token(emu, xsuaa)
    user = _fetch_token(emu, xsuaa, user=True)
    out = _run_node(
        "xssec_validate.js",
        stdin={"credentials": xsuaa, "tokens": {"client": client, "user": user, "tampered": _tampered(user)}},
        env={"NODE_EXTRA_CA_CERTS": str(keys / "emulator-ca.pem")},
    )
    assert out["client"]["ok"], out["client"]
    assert out["client"]["clientId"] == xsuaa["clientid"]
    assert out["client"]["grantType"] == "client_credentials"
    assert out["client"]["zoneId"] == xsuaa["zoneid"]
    assert out["user"]["ok"], out["user"]
    assert out["user"]["subaccountId"] == xsuaa["subaccountid"]
    assert out["user"]["subdomain"] == xsuaa["identityzone"]
    assert out["user"]["email"] == USER
    assert out["user"]["logonName"] == USER
    assert not out["tampered"]["ok"]
    assert out["tampered"]["error"] == "InvalidTokenSignatureError"


def test_python_sap_xssec_validates_a_token_through_the_jwks(
    tls_emu: tuple[Emulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sap.xssec

    emu, keys = tls_emu
    xsuaa = json.loads((keys / "xsuaa.json").read_text())
    monkeypatch.setenv("SSL_CERT_FILE", str(keys / "emulator-ca.pem"))  # sap-xssec fetches keys with httpx.get
    ctx = sap.xssec.create_security_context(_fetch_token(emu, xsuaa, user=True), xsuaa)
    assert ctx.get_subaccount_id() == xsuaa["subaccountid"]
    assert ctx.get_subdomain() == xsuaa["identityzone"]
    assert ctx.get_zone_id() == xsuaa["zoneid"]
    assert ctx.get_email() == USER
    assert ctx.get_logon_name() == USER
    assert ctx.get_clientid() == xsuaa["clientid"]
    with pytest.raises(RuntimeError):  # no key verifies a forged token (and the key has no verificationkey)
        sap.xssec.create_security_context(_tampered(_fetch_token(emu, xsuaa)), xsuaa)


def test_cloud_sdk_fetches_a_token_from_the_written_binding_and_calls_an_api(tls_emu: tuple[Emulator, Path]) -> None:
    emu, keys = tls_emu
    out = _run_node(
        "connectivity_token.js",
        env={
            "VCAP_SERVICES": (keys / "VCAP_SERVICES.json").read_text(),
            "NODE_EXTRA_CA_CERTS": str(keys / "emulator-ca.pem"),
        },
    )
    assert out["status"] == 200
    assert out["globalAccount"] == emu.state.global_account["guid"]
    xsuaa = json.loads((keys / "xsuaa.json").read_text())
    cis = json.loads((keys / "cis.json").read_text())
    assert _claims(out["xsuaaToken"])["cid"] == xsuaa["clientid"]
    assert _claims(out["cisToken"])["cid"] == cis["uaa"]["clientid"]
    assert _claims(out["cisToken"])["iss"] == cis["uaa"]["url"] + "/oauth/token"


def test_xsenv_reads_every_written_layout_to_the_same_credentials(tls_emu: tuple[Emulator, Path]) -> None:
    _, keys = tls_emu
    expected = {name: json.loads((keys / f"{name}.json").read_text()) for name in ("cis", "audit_log", "xsuaa")}
    expected["service_manager"] = json.loads((keys / "service_manager.json").read_text())
    expected["resource_consumption"] = json.loads((keys / "resource_consumption.json").read_text())
    out = _run_node("xsenv_read.js", str(keys))
    assert set(out) == {"vcap_services_file", "service_binding_root", "default_env"}
    for way, found in out.items():
        assert found == expected, way
