"""Every example in examples/ runs against the emulator and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "01_global_account.py": "50 subaccounts",
    "02_subaccount_lifecycle.py": "ready: OK",
    "03_audit_log.py": "audit.security-events",
    "04_cloud_foundry.py": "apps created since 2020",
    "05_deploy_mta.py": ": FINISHED",
    "06_service_manager.py": "bound example-binding",
    "07_events_and_usage.py": "usage rows over",
    "08_errors_and_options.py": "404 ",
    "09_test_your_automation.py": "security events; the emulator answered 429",
    "10_credentials_and_xsuaa.py": "role collections",
    "11_fan_out_at_scale.py": "120 ok, 0 failed",
}


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("[0-9]*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_against_the_emulator(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SCP_ASYNC_KEYS_DIR"}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert EXPECTED[name] in result.stdout, result.stdout
    assert "Traceback" not in result.stderr
