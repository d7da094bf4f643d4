from __future__ import annotations

import subprocess
import sys

import scp_async


def test_import_is_light_and_silent() -> None:
    code = (
        "import sys, scp_async\n"
        "heavy = [m for m in sys.modules if m.startswith(('scp_async_clients', 'scp_async.emulator',"
        " 'authlib.integrations', 'starlette', 'uvicorn'))]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""


def test_public_names_are_exported_and_documented() -> None:
    assert len(scp_async.__all__) == len(set(scp_async.__all__))
    for name in scp_async.__all__:
        obj = getattr(scp_async, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, name
