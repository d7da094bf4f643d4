"""User code is type-checked against the facade and the generated namespaces: ``mypy --strict`` accepts a
correct program and reports wrong argument types and wrong uses of return values."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
from __future__ import annotations

import datetime

from scp_async import NotFound, ServiceKey, Session
from scp_async_clients.accounts.models import CreateSubaccountRequestPayload, UpdateSubaccountRequestPayload
from scp_async_clients.accounts.types import Unset


async def main(key: ServiceKey, audit_key: dict[str, object]) -> tuple[datetime.datetime, int]:
    async with Session(max_retries=2) as session:
        cis = session.cloud_management(key)
        ga = await cis.accounts.get_global_account()
        created: datetime.datetime = ga.created_date
        expiry = ga.expiry_date
        if not isinstance(expiry, Unset):
            created = min(created, expiry)
        listed = await cis.accounts.with_options(timeout=5.0).get_subaccounts(label_selector="env=dev")
        names = [s.display_name for s in listed.value or []]
        new = await cis.accounts.create_subaccount(
            body=CreateSubaccountRequestPayload(display_name=names[0] if names else "x", region="eu10")
        )
        try:
            await cis.accounts.update_subaccount(new.guid, body=UpdateSubaccountRequestPayload(display_name="y"))
        except NotFound as exc:
            print(exc.error_code, exc.correlation_id)
        raw = await cis.accounts.with_raw_response.get_subaccount(new.guid)
        status: int = raw.status_code
        async for record in session.audit_log(audit_key).records(time_from=created, category="audit.configuration"):
            print(record.message_uuid, record.timestamp)
        return created, status
"""

BAD = """\
from __future__ import annotations

import datetime

from scp_async import Session
from scp_async_clients.accounts.models import CreateSubaccountRequestPayload


async def main(key: dict[str, object]) -> int:
    async with Session() as session:
        cis = session.cloud_management(key)
        await cis.accounts.get_subaccount(42)
        await cis.accounts.create_subaccount(body={"displayName": "x", "region": "eu10"})
        ga = await cis.accounts.get_global_account()
        year: int = ga.expiry_date.year
        when: datetime.date = ga.display_name
        print(year, when)
        return ga.display_name
"""


def mypy_strict(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    # cwd=ROOT: the project's [tool.mypy] applies (mypy_path = generated, strict). The cache is the test
    # session's own (independent of concurrent runs), shared by these checks: the first one analyses the
    # facade and the generated packages, the others only their own file.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, mypy_cache: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    work = tmp_path_factory.mktemp("typing")
    results = {}
    for name, text in (("good", GOOD), ("bad", BAD)):
        path = work / f"{name}_user_code.py"
        path.write_text(text, encoding="utf-8")
        results[name] = mypy_strict(path, mypy_cache)
    return results


def test_a_correct_program_passes(checked: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = checked["good"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


def _errors(result: subprocess.CompletedProcess[str]) -> dict[int, str]:
    found = {}
    for line in result.stdout.splitlines():
        match = re.match(r".*bad_user_code\.py:(\d+): error: (.*)$", line)
        if match:
            found[int(match.group(1))] = match.group(2)
    return found


def test_wrong_argument_and_return_types_are_reported(checked: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = checked["bad"]
    assert result.returncode == 1, result.stdout + result.stderr
    errors = _errors(result)
    lines = {n: BAD.splitlines()[n - 1].strip() for n in errors}
    expected = {
        "await cis.accounts.get_subaccount(42)": (
            'Argument 1 to "get_subaccount" of "AccountsApi" has incompatible type "int"; '
            'expected "UUID | str"  [arg-type]'
        ),
        'await cis.accounts.create_subaccount(body={"displayName": "x", "region": "eu10"})': (
            'Argument "body" to "create_subaccount" of "AccountsApi" has incompatible type "dict[str, str]"; '
            'expected "CreateSubaccountRequestPayload"  [arg-type]'
        ),
        "year: int = ga.expiry_date.year": 'Item "Unset" of "datetime | Unset" has no attribute "year"  [union-attr]',
        "when: datetime.date = ga.display_name": (
            'Incompatible types in assignment (expression has type "str", variable has type "date")  [assignment]'
        ),
        "return ga.display_name": 'Incompatible return value type (got "str", expected "int")  [return-value]',
    }
    assert {lines[n]: message for n, message in errors.items()} == expected
    assert f"Found {len(expected)} errors in 1 file" in result.stdout
