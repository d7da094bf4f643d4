"""Running the emulator: in-process (ASGI transport) or as a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._app import EmulatorApp
from ._config import API_PREFIXES, UAA_PREFIX, EmulatorConfig, FaultConfig
from ._faults import Counters
from ._keys import service_keys, write_service_keys

if TYPE_CHECKING:
    import httpx
    import uvicorn

    from ._state import State

IN_PROCESS_ROOT = "http://btp-emulator.local"


def _config_with(config: EmulatorConfig | None, options: dict[str, Any]) -> EmulatorConfig:
    cfg = config or EmulatorConfig()
    return dataclasses.replace(cfg, **options) if options else cfg


class Emulator:
    """One emulated BTP landscape.

    In-process: ``Emulator().client("accounts")`` gives an ``httpx.AsyncClient`` wired to the ASGI app (no
    sockets). Over loopback: ``with Emulator.serve() as emu: emu.base_url("accounts")``. Options are the
    fields of :class:`EmulatorConfig` (``Emulator(subaccounts=200, token_ttl=5)``).
    """

    def __init__(self, config: EmulatorConfig | None = None, **options: Any) -> None:
        self.config = _config_with(config, options)
        self.app = EmulatorApp(self.config)
        self.root_url = IN_PROCESS_ROOT
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- introspection ---------------------------------------------------------------------------------
    @property
    def counters(self) -> Counters:
        return self.app.counters

    @property
    def state(self) -> State:
        return self.app.state

    def base_url(self, api: str) -> str:
        """Base URL of one API (``accounts``, ``cf_v3``, ... or ``uaa``)."""
        if api == "uaa":
            return self.root_url + UAA_PREFIX
        return self.root_url + API_PREFIXES[api]

    @property
    def uaa_url(self) -> str:
        return self.root_url + UAA_PREFIX

    @property
    def cf_api_url(self) -> str:
        return self.base_url("cf_v3")

    def urls(self) -> dict[str, str]:
        return {"uaa": self.uaa_url, **{api: self.base_url(api) for api in API_PREFIXES}}

    def service_keys(self) -> dict[str, dict[str, Any]]:
        return service_keys(self.root_url, self.config)

    def write_service_keys(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        return write_service_keys(directory, self.root_url, self.config)

    # -- control ------------------------------------------------------------------------------------------
    def set_faults(self, faults: FaultConfig | None = None, *, route: str | None = None) -> None:
        """Change fault injection at run time (see :meth:`FaultInjector.configure`)."""
        self.app.set_faults(faults, route=route)

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of tokens issued from now on."""
        self.app.tokens.token_ttl = float(seconds)

    def revoke_tokens(self, token: str | None = None) -> None:
        self.app.tokens.revoke(token)

    def issue_token(self, key: str = "cis", *, user: str | None = None) -> str:
        """An access token for the client of ``config.clients[key]`` (password grant when ``user`` is given)."""
        creds = self.config.clients[key]
        grant = "password" if user else "client_credentials"
        return str(self.app.tokens.issue(creds.client_id, user_name=user, grant_type=grant)["access_token"])

    # -- clients --------------------------------------------------------------------------------------------
    def transport(self) -> httpx.ASGITransport:
        import httpx

        return httpx.ASGITransport(app=self.app)

    def client(self, api: str | None = None, *, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for one API (in-process unless the emulator is serving)."""
        import httpx

        base = self.base_url(api) if api else self.root_url
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._server is None:
            kwargs.setdefault("transport", self.transport())
        return httpx.AsyncClient(base_url=base, headers=headers, **kwargs)

    # -- serving over loopback -------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0) -> str:
        """Serve on ``host:port`` in a background thread (port 0 picks a free port); return the root URL."""
        if self._server is not None:
            return self.root_url
        import uvicorn

        sock = _bind(host, port)
        actual_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            loop="asyncio",
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="btp-emulator", daemon=True
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator's HTTP server did not start")
            time.sleep(0.005)
        self.root_url = f"http://{host}:{actual_port}"
        self._socket = sock
        return self.root_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None
        sock = self._socket
        if sock is not None:
            sock.close()
            self._socket = None
        self.root_url = IN_PROCESS_ROOT

    @classmethod
    @contextlib.contextmanager
    def serve(
        cls, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> Iterator[Emulator]:
        """``with Emulator.serve(subaccounts=10) as emu: ...`` — a real HTTP server for the block."""
        emu = cls(config, **options)
        emu.start(host, port)
        try:
            yield emu
        finally:
            emu.stop()


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP, and
    # without it every response pays Nagle + delayed-ACK (~40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def create_app(config: EmulatorConfig | None = None, **options: Any) -> EmulatorApp:
    """The bare ASGI application (for ``uvicorn scp_async.emulator:create_app --factory`` or tests)."""
    return EmulatorApp(_config_with(config, options))


def run_server(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    write_keys: str | os.PathLike[str] | None = None,
    print_fn: Any = print,
    **options: Any,
) -> None:
    """Serve in the foreground until interrupted (the ``scp-async emulator`` command)."""
    import uvicorn

    emu = Emulator(config, **options)
    sock = _bind(host, port)
    emu.root_url = f"http://{host}:{sock.getsockname()[1]}"
    print_fn(f"BTP emulator listening on {emu.root_url}")
    print_fn(f"  {'uaa':<22} {emu.uaa_url}/oauth/token")
    for api in API_PREFIXES:
        print_fn(f"  {api:<22} {emu.base_url(api)}")
    if write_keys is not None:
        paths = emu.write_service_keys(write_keys)
        print_fn(
            f"Service keys written to {Path(write_keys).resolve()}: {', '.join(sorted(p.name for p in paths.values()))}"
        )
    user, password = next(iter(emu.config.users.items()))
    print_fn(f"CF login: {emu.cf_api_url} as {user} / {password} (client 'cf')")
    config_ = uvicorn.Config(emu.app, log_level="warning", access_log=False, lifespan="off", http="h11", loop="asyncio")
    uvicorn.Server(config_).run(sockets=[sock])
