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


def test_every_public_name_has_a_home() -> None:
    # Names load on first use from the module _EXPORTS names; a name missing there would raise
    # AttributeError at runtime while type checkers (which read the TYPE_CHECKING imports) see it.
    assert set(scp_async._EXPORTS) | {"__version__"} == set(scp_async.__all__)
    assert set(scp_async.__all__) <= set(dir(scp_async))
    namespace: dict[str, object] = {}
    exec("from scp_async import *", namespace)
    assert set(scp_async.__all__) <= set(namespace)


def test_a_generated_operation_does_not_load_the_facade() -> None:
    # Generated code shares scp_async's UNSET and decoding helpers: importing an operation (a script, the
    # CLI's start) must not pay for authlib, anyio and the transport (issue 2: <= 150 ms above httpx, attrs).
    code = (
        "import sys, scp_async_clients.cf_v3.api.apps.get_app\n"
        "print(sorted(m for m in sys.modules if m.startswith(('authlib', 'anyio', 'aiohttp', 'httpcore',"
        " 'scp_async._session', 'scp_async._oauth'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
