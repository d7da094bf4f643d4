"""pytest fixtures for testing your own BTP automation against the emulator, offline.

Enable them in your ``conftest.py``::

    pytest_plugins = ["scp_async.emulator.pytest_plugin"]

Fixtures (a fresh emulator per test; size and faults with ``@pytest.mark.btp_emulator(subaccounts=5, ...)``,
whose keywords are :class:`~scp_async.emulator.EmulatorConfig` fields):

- ``btp_emulator``: an in-process :class:`~scp_async.emulator.Emulator` (no sockets).
- ``btp_keys``: its service keys by name (``cis``, ``audit_log``, ``service_manager``, ``cf``, ...).
- ``btp_session``: a :class:`~scp_async.Session` wired to it; use it as ``async with btp_session as session:``.
- ``btp_server``: the emulator serving on 127.0.0.1 instead, for code that opens its own connections.
- ``btp_keys_dir``: a directory with ``btp_server``'s keys as files (``cis.json``, ...), ``VCAP_SERVICES.json``,
  ``default-env.json`` and ``bindings/`` (a ``SERVICE_BINDING_ROOT``); with ``@pytest.mark.btp_emulator(tls=True)``
  also ``emulator-ca.pem`` to trust (``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .._session import Session
from ._server import Emulator

MARKER = "btp_emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(**options): options of the test's BTP emulator (EmulatorConfig)")


_FIXTURES = frozenset({"btp_emulator", "btp_keys", "btp_session", "btp_server", "btp_keys_dir"})
_RUNNERS = frozenset({"asyncio", "anyio", "trio"})


def _asyncio_auto_mode(config: pytest.Config) -> bool:
    mode = config.getoption("asyncio_mode", None)
    if mode is None:
        try:
            mode = config.getini("asyncio_mode")
        except ValueError:  # pytest-asyncio is not installed
            return False
    return str(mode) == "auto"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> None:
    """Async tests that use these fixtures need no marker of their own: pytest-asyncio's auto mode runs
    them; otherwise they get ``@pytest.mark.anyio`` (anyio's pytest plugin, installed with anyio, runs them
    on each backend it finds: asyncio, and trio when installed; an ``anyio_backend`` fixture of your own
    picks one). A test that names its runner (``asyncio``, ``anyio``, ``trio`` marker) keeps it."""
    if not (inspect.iscoroutinefunction(obj) and collector.istestfunction(obj, name)):
        return
    if _asyncio_auto_mode(collector.config):
        return
    own = {mark.name for mark in getattr(obj, "pytestmark", [])}
    inherited = {mark.name for mark in collector.iter_markers()}
    if (own | inherited) & _RUNNERS:
        return
    if MARKER in own or _FIXTURES & set(inspect.signature(obj).parameters):
        pytest.mark.anyio(obj)


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def btp_emulator(request: pytest.FixtureRequest) -> Emulator:
    return Emulator(**_options(request))


@pytest.fixture
def btp_keys(btp_emulator: Emulator) -> dict[str, dict[str, Any]]:
    return btp_emulator.service_keys()


@pytest.fixture
def btp_session(btp_emulator: Emulator) -> Session:
    return Session(transport=btp_emulator.transport())


@pytest.fixture
def btp_server(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator.serve(**_options(request)) as emulator:
        yield emulator


@pytest.fixture
def btp_keys_dir(btp_server: Emulator, tmp_path: Path) -> Path:
    directory = tmp_path / "btp-keys"
    btp_server.write_service_keys(directory)
    return directory
