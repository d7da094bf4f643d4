from __future__ import annotations

import enum
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import scp_async
from scp_async._cli import main
from scp_async._cli._common import convert, find_operation
from scp_async.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"scp-async {scp_async.__version__}"


def test_call_in_process_emulator_prints_stable_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "accounts", "get_global_account", "--emulator", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    expected = Emulator().state.global_account
    assert data["guid"] == expected["guid"]
    assert data["displayName"] == expected["displayName"]
    assert out == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # sorted keys: stable


def test_call_converts_arguments_from_the_signature(capsys: pytest.CaptureFixture[str]) -> None:
    emulator = Emulator(subaccounts=4)
    guid = next(iter(emulator.state.subaccounts))
    # operationId spelling, the spec's parameter name and a bool from text
    code, out, err = run(
        capsys,
        "call",
        "accounts",
        "getSubaccount",
        "--emulator",
        "--emulator-subaccounts",
        "4",
        f"subaccountGUID={guid}",
    )
    assert code == 0, err
    assert json.loads(out)["guid"] == guid
    code, out, err = run(capsys, "call", "accounts", "get_global_account", "--emulator", "expand=true")
    assert code == 0, err
    assert "subaccounts" in json.loads(out)


class Colour(enum.Enum):
    RED = "red"


def test_convert_types() -> None:
    assert convert("12", int | None) == 12
    assert convert("no", bool) is False
    assert convert("Red", Colour) is Colour.RED
    assert convert("a,b", list[str]) == ["a", "b"]
    assert convert("[1, 2]", list[int]) == [1, 2]
    value = uuid.uuid4()
    assert convert(str(value), uuid.UUID | str) == value
    with pytest.raises(ValueError, match="expected an integer"):
        convert("x", int)
    with pytest.raises(ValueError, match="expected one of red"):
        convert("blue", Colour)


def test_all_pages_through_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "cf", "list_apps", "--emulator", "--all", "per_page=7", "-o", "jsonl")
    assert code == 0, err
    apps = [json.loads(line) for line in out.splitlines()]
    code, out, err = run(capsys, "call", "cf", "list_apps", "--emulator", "per_page=5000")
    assert code == 0, err
    one_page = json.loads(out)
    assert one_page["pagination"]["total_results"] == len(apps) > 7
    assert sorted(a["guid"] for a in apps) == sorted(a["guid"] for a in one_page["resources"])


def test_body_from_file_and_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = tmp_path / "sub.json"
    body.write_text(json.dumps({"displayName": "from-cli", "region": "eu10", "subdomain": "from-cli-1"}))
    code, out, err = run(capsys, "call", "accounts", "create_subaccount", "--emulator", "--body", f"@{body}")
    assert code == 0, err
    created = json.loads(out)
    assert (created["displayName"], created["region"]) == ("from-cli", "eu10")


def test_help_lists_operations_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", "accounts", "--help")
    assert code == 0
    assert "get_global_account" in out
    assert "create_subaccount" in out
    code, out, _ = run(capsys, "call", "accounts", "get_subaccounts", "--help")
    assert code == 0
    assert "GET /accounts/v1/subaccounts" in out
    assert "label_selector=" in out
    assert "directory_guid=" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["call", "nope", "x", "--emulator"], "unknown API 'nope'"),
        (["call", "accounts", "get_nothing", "--emulator"], "accounts has no operation 'get_nothing'"),
        (["call", "accounts", "get_subaccounts", "--emulator", "bogus=1"], "no parameter 'bogus'"),
        (["call", "accounts", "get_subaccount", "--emulator"], "needs subaccount_guid="),
        (["call", "cf", "list_apps", "--emulator", "per_page=many"], "per_page: expected an integer"),
        (["call", "accounts", "create_subaccount", "--emulator", "--body", "{"], "--body: not JSON"),
        (["call", "accounts", "get_global_account"], "say where to call"),
        (["call", "accounts", "get_global_account", "--bogus-option"], "No such option"),
    ],
)
def test_bad_command_lines_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str
) -> None:
    monkeypatch.delenv("SCP_ASYNC_KEYS_DIR", raising=False)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("scp-async: error: ")
    assert expected in err


def test_api_errors_are_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "accounts", "get_subaccount", "--emulator", "subaccount_guid=missing")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "NotFound" in err


def test_keys_dir_against_a_served_emulator(
    capsys: pytest.CaptureFixture[str], served: Emulator, keys_dir: Path
) -> None:
    code, out, err = run(capsys, "call", "accounts", "get_subaccounts", "--keys-dir", str(keys_dir), "-o", "jsonl")
    assert code == 0, err
    assert len(out.splitlines()) == len(served.state.subaccounts)
    code, out, err = run(capsys, "call", "cf", "list_organizations", "--keys-dir", str(keys_dir))
    assert code == 0, err
    assert json.loads(out)["resources"]


def test_secrets_never_printed(capsys: pytest.CaptureFixture[str], served: Emulator, tmp_path: Path) -> None:
    key = json.loads((served.service_keys())["cis"] and json.dumps(served.service_keys()["cis"]))
    key["uaa"]["clientsecret"] = "s3cret-value-that-must-not-leak"
    path = tmp_path / "cis.json"
    path.write_text(json.dumps(key))
    code, out, err = run(capsys, "-vv", "call", "accounts", "get_global_account", "--key", str(path))
    assert code == 1
    assert "s3cret-value-that-must-not-leak" not in out + err
    assert err.strip().splitlines()[-1].startswith("scp-async: error: ")


def test_curl_any_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "curl", "cf", "/v3/organizations", "--emulator")
    assert code == 0, err
    assert json.loads(out)["resources"]
    code, out, err = run(capsys, "curl", "accounts", "/accounts/v1/nothing-here", "--emulator")
    assert code == 1
    assert "HTTP 404" in err
    code, out, err = run(
        capsys, "curl", "cf", "/v3/organizations", "--emulator", "-X", "POST", "-d", '{"name": "curl-org"}'
    )
    assert code == 0, err
    assert json.loads(out)["name"] == "curl-org"


def test_find_operation_accepts_every_spelling() -> None:
    assert find_operation("accounts", "get-global-account").operation_id == "getGlobalAccount"
    assert find_operation("accounts", "getGlobalAccount").name == "get_global_account"


def test_completion_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0
    assert "_SCP_ASYNC_COMPLETE" in out


def test_the_installed_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scp_async", "call", "accounts", "get_global_account", "--emulator", "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "displayName: Emulated Global Account" in result.stdout


def test_a_group_without_its_command_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "accounts")
    assert code == 2
    assert out == ""
    assert "Operations:" in err
    assert "get_global_account" in err
    assert len(err.splitlines()) > 10
