"""The pytest plugin users enable to test their own automation against the emulator."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import json

import anyio
import pytest

from scp_async import ServiceKey, Session


async def count_subaccounts(session: Session, key: dict) -> int:  # "their" automation
    cis = session.cloud_management(key)
    return len((await cis.accounts.get_subaccounts()).value)


@pytest.mark.btp_emulator(subaccounts=7)
def test_in_process(btp_session, btp_keys, btp_emulator):
    async def main():
        async with btp_session as session:
            return await count_subaccounts(session, btp_keys["cis"])

    assert anyio.run(main) == 7
    assert btp_emulator.counters.tokens_issued == 1


def test_over_loopback(btp_server, btp_keys_dir):
    key = ServiceKey.from_file(btp_keys_dir / "cis.json")
    assert key.endpoints["accounts_service_url"].startswith("http://127.0.0.1:")

    async def main():
        async with Session() as session:
            return await count_subaccounts(session, key)

    assert anyio.run(main) == 50
    assert json.loads((btp_keys_dir / "cf.json").read_text())["username"]
"""


def test_fixtures_drive_user_automation(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makeconftest('pytest_plugins = ["scp_async.emulator.pytest_plugin"]\n')
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
