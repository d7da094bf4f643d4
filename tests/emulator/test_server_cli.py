from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest

from scp_async._cli import cli
from scp_async._cli.emulator import parse as parse_emulator_args
from scp_async.emulator import API_PREFIXES, Emulator, write_service_keys

REPO = Path(__file__).resolve().parents[2]


def test_serve_on_a_free_port(served: Emulator) -> None:
    assert served.root_url.startswith("http://127.0.0.1:")
    assert not served.root_url.endswith(":0")
    with httpx.Client() as c:
        index = c.get(served.root_url + "/").json()
        assert index["apis"]["cf_v3"] == served.cf_api_url
        token = c.post(
            served.uaa_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("sb-cis-emulator!b1", "cis-emulator-secret"),
        ).json()["access_token"]
        r = c.get(
            served.base_url("accounts") + "/accounts/v1/globalAccount", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200


def test_service_keys_point_at_the_server_and_are_private(served: Emulator, tmp_path: Path) -> None:
    paths = served.write_service_keys(tmp_path / "keys")
    assert set(paths) >= {"cis", "audit_log", "service_manager", "resource_consumption", "cf"}
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in (tmp_path / "keys").iterdir() if p.name.startswith(".")]  # no temp files left
    cis = json.loads(paths["cis"].read_text())
    assert cis["endpoints"]["accounts_service_url"] == served.base_url("accounts")
    assert cis["endpoints"]["saas_registry_service_url"] == served.base_url("saas_provisioning")
    assert cis["uaa"]["url"] == served.uaa_url
    audit = json.loads(paths["audit_log"].read_text())
    assert audit["url"] == served.base_url("audit_log")
    sm = json.loads(paths["service_manager"].read_text())
    assert sm["sm_url"] == served.base_url("service_manager")
    assert sm["url"] == served.uaa_url
    cf = json.loads(paths["cf"].read_text())
    with httpx.Client() as c:
        for key in (cis["uaa"], audit["uaa"], {"clientid": sm["clientid"], "clientsecret": sm["clientsecret"]}):
            r = c.post(
                served.uaa_url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(key["clientid"], key["clientsecret"]),
            )
            assert r.status_code == 200
        r = c.post(
            served.uaa_url + "/oauth/token",
            data={"grant_type": "password", "username": cf["username"], "password": cf["password"]},
            auth=("cf", ""),
        )
        assert r.status_code == 200
    # rewriting replaces the files atomically
    write_service_keys(tmp_path / "keys", "http://127.0.0.1:1")
    assert json.loads(paths["cis"].read_text())["uaa"]["url"] == "http://127.0.0.1:1/uaa"


def test_parser_has_a_subcommand_registry() -> None:
    assert "emulator" in cli.list_commands(click.Context(cli))
    args = parse_emulator_args(
        ["--port", "0", "--subaccounts", "500", "--seed", "3", "--token-ttl", "5", "--write-keys", "k"]
    )
    assert (args["port"], args["subaccounts"], args["seed"], args["token_ttl"], str(args["write_keys"])) == (
        0,
        500,
        3,
        5.0,
        "k",
    )


def test_cli_starts_prints_urls_and_writes_keys(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "scp_async", "emulator", "--port", "0", "--write-keys", str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("CF login"):
                break
        text = "".join(lines)
        for api in API_PREFIXES:
            assert api in text
        root = text.split("listening on ", 1)[1].split()[0]
        cis = json.loads((tmp_path / "cis.json").read_text())
        assert cis["endpoints"]["accounts_service_url"] == root + "/accounts"
        for _ in range(200):
            try:
                assert httpx.get(root + "/cf/v2/info").status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("CLI server did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_import_scp_async_does_not_import_the_emulator() -> None:
    code = (
        "import sys, scp_async; "
        "bad = [m for m in sys.modules if m.startswith(('scp_async.emulator', 'uvicorn', 'starlette'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_emulator_import_stays_light() -> None:
    code = (
        "import sys, scp_async.emulator; "
        "print(sorted(m for m in sys.modules if m.startswith(('uvicorn', 'starlette'))))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert r.stdout.strip() == "[]", r.stderr


def test_large_seed(clock: object) -> None:
    emu = Emulator(subaccounts=2000)
    assert len(emu.state.subaccounts) == 2000
    assert len(emu.state.audit_records) == 40_000
    assert len(emu.state.cf_orgs) > 1000


def test_the_served_landscape_is_out_of_the_collectors_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scp-async emulator` owns its process: the seeded state is frozen before serving, so full collections
    (which walked it all, pausing every request) see only what requests make."""
    import gc

    import uvicorn

    from scp_async.emulator import run_server

    seen: list[int] = []

    def run(self: uvicorn.Server, sockets: list[socket.socket]) -> None:
        seen.append(gc.get_freeze_count())
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    try:
        run_server(port=0, print_fn=lambda *_: None, subaccounts=50)
    finally:
        gc.unfreeze()
    assert seen
    assert seen[0] > 10_000
