"""examples/ and the README's Python snippets type-check under `mypy --strict` and pyright strict.

Users copy these; a snippet that fails a strict checker as written is a bug in the docs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYRIGHT = REPO / "scripts" / "node_modules" / ".bin" / "pyright"
# A snippet that is a fragment (uses names defined elsewhere) says so on its first line.
FRAGMENT = "# fragment"
# The README's pytest snippet imports the user's own code; this stands in for it.
MY_AUTOMATION = """from typing import Any

from scp_async import Session


async def count_subaccounts(session: Session, key: Any) -> int:
    cis = session.cloud_management(key)
    return len((await cis.accounts.get_subaccounts()).value or [])
"""


def readme_snippets() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block for block in re.findall(r"```python\n(.*?)```", text, flags=re.S) if not block.startswith(FRAGMENT)]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The examples, plus each README snippet as a module of its own."""
    directory = tmp_path_factory.mktemp("snippets")
    (directory / "my_automation.py").write_text(MY_AUTOMATION, encoding="utf-8")
    files = sorted((REPO / "examples").glob("*.py"))
    for number, block in enumerate(readme_snippets(), start=1):
        path = directory / f"readme_snippet_{number}.py"
        path.write_text(block, encoding="utf-8")
        files.append(path)
    return files


def test_readme_has_python_snippets() -> None:
    assert len(readme_snippets()) >= 2


def test_mypy_strict(sources: list[Path]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-version",
            "3.11",
            "--follow-imports=silent",
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={
            "MYPYPATH": f"{REPO}:{REPO / 'generated'}:{REPO / 'examples'}:{sources[-1].parent}",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_pyright_strict(sources: list[Path], tmp_path: Path) -> None:
    if not PYRIGHT.exists():
        pytest.fail(f"{PYRIGHT} missing: run `cd scripts && npm ci` (make install does)")
    assert shutil.which("node") is not None
    config = tmp_path / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "pythonVersion": "3.11",
                "venvPath": str(REPO),
                "venv": ".venv",
                "extraPaths": [str(REPO), str(REPO / "generated"), str(REPO / "examples"), str(sources[-1].parent)],
                # Generated code is checked by its generator's tests; its types still flow into these files.
                "reportMissingTypeStubs": False,
            }
        )
    )
    result = subprocess.run(
        [str(PYRIGHT), "--project", str(config), "--outputjson", *map(str, sources)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    report = json.loads(result.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    shown = "\n".join(f"{Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}" for d in errors[:60])
    assert not errors, f"{len(errors)} pyright errors:\n{shown}"
