"""The README's pytest-plugin snippet runs as written in a user's project: pytest-asyncio strict, anyio alone,
pytest-asyncio auto."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AUTOMATION = """from typing import Any

from scp_async import Session


async def count_subaccounts(session: Session, key: Any) -> int:
    cis = session.cloud_management(key)
    return len((await cis.accounts.get_subaccounts()).value or [])
"""


def _snippet() -> tuple[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "pytest_plugin" in b)
    conftest, test = block.split("# test_my_automation.py\n")
    return conftest, test


# Plugins are named, not auto-loaded: the run sees only what the case is about (and starts in a second).
ASYNCIO = ["-p", "pytest_asyncio.plugin"]
ANYIO = ["-p", "anyio.pytest_plugin"]


@pytest.mark.parametrize(
    ("options", "runs"),
    [
        ([*ASYNCIO, *ANYIO], 2),  # pytest-asyncio's default strict mode: the plugin hands the test to anyio
        (ANYIO, 2),  # anyio alone (asyncio and trio)
        ([*ASYNCIO, *ANYIO, "--asyncio-mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"], 1),
    ],
)
def test_snippet_runs_as_written(tmp_path: Path, options: list[str], runs: int) -> None:
    conftest, test = _snippet()
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_my_automation.py").write_text(test)
    (tmp_path / "my_automation.py").write_text(AUTOMATION)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO), str(REPO / "generated")]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{runs} passed" in result.stdout
