from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from scp_async._cli import main
from scp_async.emulator import Emulator, FaultConfig


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fan_out_every_subaccount_with_429s(
    capsys: pytest.CaptureFixture[str], served: Emulator, keys_dir: Path
) -> None:
    # a token bucket: the concurrent calls beyond its burst are answered 429 (deterministic, unlike a rate)
    served.set_faults(FaultConfig(rate_limit=5.0, burst=2, retry_after=0.2), route="accounts")
    try:
        code, out, err = run(
            capsys, "fan-out", "accounts", "get_subaccount_labels", "--keys-dir", str(keys_dir), "--limit", "4"
        )
    finally:
        served.set_faults(FaultConfig())
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["subaccount"] for line in lines) == sorted(served.state.subaccounts)
    assert all(line["ok"] for line in lines)
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"ok {len(lines)}, failed 0, retries ")
    retries = int(summary.split("retries ")[1].split(",")[0])
    throttled = int(summary.split("429s ")[1].split(",")[0])
    assert retries >= 1
    assert throttled >= 1


def test_fan_out_failures_are_lines_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "fan-out",
        "accounts",
        "get_subaccount",
        "--emulator",
        "--no-progress",
        "--subaccount",
        "nope-1",
        "--subaccount",
        "nope-2",
    )
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["ok"] for line in lines] == [False, False]
    assert "NotFound" in lines[0]["error"]
    assert "ok 0, failed 2" in err


def test_fan_out_needs_a_subaccount_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fan-out", "accounts", "get_global_account", "--emulator")
    assert code == 2
    assert "no subaccount parameter" in err


def test_inventory_and_diff(
    capsys: pytest.CaptureFixture[str], served: Emulator, keys_dir: Path, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    code, _, err = run(capsys, "inventory", "--keys-dir", str(keys_dir), "-o", str(old))
    assert code == 0, err
    document = json.loads(old.read_text())
    assert set(document["subaccounts"]) == set(served.state.subaccounts)
    assert len(document["directories"]) == 2
    assert document["entitlements"]["assigned"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    guid = sorted(served.state.subaccounts)[0]
    code, _, err = run(
        capsys,
        "call",
        "accounts",
        "create_subaccount_labels",
        "--keys-dir",
        str(keys_dir),
        f"subaccount_guid={guid}",
        "--body",
        '{"labels": {"drift": ["yes"]}}',
    )
    assert code == 0, err
    code, _, err = run(capsys, "inventory", "--keys-dir", str(keys_dir), "-o", str(new))
    assert code == 0, err
    code, out, err = run(capsys, "inventory", "diff", str(old), str(new))
    assert code == 1
    assert f'+ /subaccounts/{guid}/labels/drift: ["yes"]' in out.splitlines()
    code, out, _ = run(capsys, "inventory", "diff", str(new), str(new))
    assert code == 0
    assert out == ""
    code, out, _ = run(capsys, "inventory", "diff", str(old), str(new), "-o", "json")
    changes = json.loads(out)
    assert {"path": f"/subaccounts/{guid}/labels/drift", "value": ["yes"]} in changes["added"]


def test_inventory_diff_rejects_other_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text("{}")
    code, _, err = run(capsys, "inventory", "diff", str(other), str(other))
    assert code == 1
    assert err.startswith("scp-async: error: ")
    assert "not an inventory" in err


def test_emulator_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "emulator", "--port", str(port))
    assert code == 1
    assert err.count("\n") == 1
    assert f"--port {port} is in use (try --port 0)" in err


def test_emulator_uaa_port_in_use_names_that_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "emulator", "--port", "0", "--uaa-port", str(port))
    assert code == 1
    assert f"--uaa-port {port} is in use (try --uaa-port 0)" in err


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["emulator", "--port", "70000"], 2, "70000 is not in the range"),
        (["emulator", "--rate-429", "2"], 2, "--rate-429"),
    ],
)
def test_emulator_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, expected: str) -> None:
    got, _, err = run(capsys, *argv)
    assert got == code
    assert err.count("\n") == 1
    assert expected in err


def test_emulator_unwritable_keys_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "emulator", "--port", "0", "--write-keys", str(blocker / "keys"))
    assert code == 1
    assert err.count("\n") == 1
    assert "--write-keys" in err


def test_emulator_extra_missing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, _, err = run(capsys, "emulator", "--port", "0")
    assert code == 1
    assert "scp-async[emulator]" in err
