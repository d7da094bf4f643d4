"""Running the emulator: in-process (ASGI transport) or as a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._app import EmulatorApp
from ._config import API_PREFIXES, IN_PROCESS_ROOT, EmulatorConfig, FaultConfig
from ._faults import Counters
from ._http import quiet_dropped_connections
from ._keys import service_keys, uaa_origin, write_service_keys
from ._tls import CA_FILE, TlsFiles, write_tls_files

if TYPE_CHECKING:
    import httpx
    import uvicorn

    from ._state import State

__all__ = ["IN_PROCESS_ROOT", "Emulator", "create_app", "run_server"]


def _config_with(config: EmulatorConfig | None, options: dict[str, Any]) -> EmulatorConfig:
    cfg = config or EmulatorConfig()
    return dataclasses.replace(cfg, **options) if options else cfg


class Emulator:
    """One emulated BTP landscape.

    In-process: ``Emulator().client("accounts")`` gives an ``httpx.AsyncClient`` wired to the ASGI app (no
    sockets). Over loopback: ``with Emulator.serve() as emu: emu.base_url("accounts")``. Options are the
    fields of :class:`EmulatorConfig` (``Emulator(subaccounts=200, token_ttl=5)``).

    Each identity zone's UAA has its own origin, as on BTP: served, its own port on the same host
    (``emu.uaa_url``); in-process, the host ``<zone>.authentication.btp-emulator.local``. With ``tls=True``
    every port speaks HTTPS with a certificate from a throw-away CA (``emu.tls_ca_file``).
    """

    def __init__(self, config: EmulatorConfig | None = None, **options: Any) -> None:
        self.config = _config_with(config, options)
        self.app = EmulatorApp(self.config)
        self.root_url = IN_PROCESS_ROOT
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._tls: TlsFiles | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None

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
            return self.uaa_url
        return self.root_url + API_PREFIXES[api]

    @property
    def zones(self) -> list[str]:
        """The identity zones (subdomains) of the configured OAuth clients."""
        return sorted({c.identityzone for c in self.config.clients.values()})

    def uaa_url_for(self, zone: str) -> str:
        """The UAA origin of one identity zone (token endpoint: ``<origin>/oauth/token``)."""
        return uaa_origin(self.root_url, zone, self.app.tokens.origins)

    @property
    def uaa_url(self) -> str:
        """The UAA origin of the ``cf`` client's zone (``emulator`` unless configured otherwise)."""
        cf = self.config.clients.get("cf")
        return self.uaa_url_for(cf.identityzone if cf else "emulator")

    @property
    def tls_ca_file(self) -> Path | None:
        """The CA certificate to trust when serving with ``tls=True`` (None otherwise)."""
        return self._tls.ca if self._tls else None

    @property
    def cf_api_url(self) -> str:
        return self.base_url("cf_v3")

    def urls(self) -> dict[str, str]:
        return {"uaa": self.uaa_url, **{api: self.base_url(api) for api in API_PREFIXES}}

    def service_keys(self) -> dict[str, dict[str, Any]]:
        return service_keys(self.root_url, self.config, self.app.tokens.origins)

    def write_service_keys(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """The keys as files plus ``VCAP_SERVICES.json``, ``default-env.json`` and ``bindings/`` (see
        :func:`write_service_keys`); with TLS also the CA certificate (``emulator-ca.pem``)."""
        written = write_service_keys(directory, self.root_url, self.config, self.app.tokens.origins)
        if self._tls is not None:
            target = Path(directory) / CA_FILE
            if target.resolve() != self._tls.ca.resolve():  # the CLI writes the TLS files next to the keys
                shutil.copyfile(self._tls.ca, target)
            written["tls_ca"] = target
        return written

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
        origin = self.uaa_url_for(creds.identityzone)
        return str(
            self.app.tokens.issue(creds.client_id, user_name=user, grant_type=grant, origin=origin)["access_token"]
        )

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
    def start(self, host: str = "127.0.0.1", port: int = 0, *, uaa_port: int = 0, timeout: float = 10.0) -> str:
        """Serve on ``host:port`` in a background thread (port 0 picks a free port); return the root URL.

        Each identity zone's UAA gets its own port: ``uaa_port`` for the first zone, the next ports for the
        others (0 picks free ports).
        """
        if self._server is not None:
            return self.root_url
        import uvicorn

        sockets, uaa_ports = self._bind_all(host, port, uaa_port)
        tls = self._tls_files(host) if self.config.tls else None
        config = self._uvicorn_config(tls)
        server = uvicorn.Server(config)
        self._server = server
        self._sockets = sockets
        self._route(host, sockets[0].getsockname()[1], uaa_ports)

        def serve() -> None:
            # A loop of its own, from uvicorn's factory: the caller's event loop policy stays untouched.
            with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
                runner.run(server.serve(sockets=sockets))

        thread = threading.Thread(target=serve, name="btp-emulator", daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator's HTTP server did not start")
            time.sleep(0.005)
        return self.root_url

    def _bind_all(self, host: str, port: int, uaa_port: int) -> tuple[list[socket.socket], dict[int, str]]:
        """The API socket, then one socket per identity zone's UAA (and which zone each port serves)."""
        sockets = [_bind(host, port)]
        uaa_ports: dict[int, str] = {}
        try:
            for i, zone in enumerate(self.zones):
                sock = _bind(host, uaa_port + i if uaa_port else 0)
                sockets.append(sock)
                uaa_ports[sock.getsockname()[1]] = zone
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        return sockets, uaa_ports

    def _uvicorn_config(self, tls: TlsFiles | None) -> uvicorn.Config:
        import uvicorn

        logging.getLogger("uvicorn.error").addFilter(quiet_dropped_connections)
        return uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="auto",  # httptools (the emulator extra) parses HTTP in C: about twice the requests per core
            # uvloop (the emulator extra, not on Windows) when installed: a fan-out of 200 calls at 50 ms
            # costs the emulator about half the CPU per request of asyncio's own loop.
            loop="auto",
            timeout_keep_alive=30,
            # No proxy sits in front of an emulator: X-Forwarded-* from a client is nothing to trust, and
            # uvicorn's middleware reading them costs about 3 % of the emulator's CPU per request.
            proxy_headers=False,
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
        )

    def _route(self, host: str, port: int, uaa_ports: dict[int, str]) -> None:
        scheme = "https" if self.config.tls else "http"
        shown = f"[{host}]" if ":" in host else host
        self.root_url = f"{scheme}://{shown}:{port}"
        self.app.uaa_ports = uaa_ports
        self.app.tokens.origins = {zone: f"{scheme}://{shown}:{p}" for p, zone in uaa_ports.items()}

    def _tls_files(self, host: str, directory: str | os.PathLike[str] | None = None) -> TlsFiles:
        if self._tls is None:
            if directory is None:
                self._tls_dir = tempfile.TemporaryDirectory(prefix="btp-emulator-tls-")
                directory = self._tls_dir.name
            self._tls = write_tls_files(directory, (host,))
        return self._tls

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        self.root_url = IN_PROCESS_ROOT
        self.app.uaa_ports = {}
        self.app.tokens.origins = {}
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
            self._tls = None

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
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()  # a port in use is reported to the caller; the socket is not left to the garbage collector
        raise
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
    uaa_port: int | None = None,
    write_keys: str | os.PathLike[str] | None = None,
    print_fn: Any = print,
    **options: Any,
) -> None:
    """Serve in the foreground until interrupted (the ``scp-async emulator`` command). The UAA listens on
    ``uaa_port`` (default: ``port + 1``, or a free port when ``port`` is 0); with TLS the certificate files go
    next to the keys (``write_keys``) or into a temporary directory."""
    import uvicorn

    emu = Emulator(config, **options)
    if uaa_port is None:
        uaa_port = port + 1 if port else 0
    sockets, uaa_ports = emu._bind_all(host, port, uaa_port)
    tls = emu._tls_files(host, write_keys) if emu.config.tls else None
    emu._route(host, sockets[0].getsockname()[1], uaa_ports)
    print_fn(f"BTP emulator listening on {emu.root_url}")
    for zone in emu.zones:
        print_fn(f"  {'uaa (' + zone + ')':<22} {emu.uaa_url_for(zone)}/oauth/token")
    for api in API_PREFIXES:
        print_fn(f"  {api:<22} {emu.base_url(api)}")
    if write_keys is not None:
        emu.write_service_keys(write_keys)
        print_fn(
            f"Service keys written to {Path(write_keys).resolve()}: <name>.json, VCAP_SERVICES.json, "
            "default-env.json, bindings/ (SERVICE_BINDING_ROOT)"
        )
    if tls is not None:
        print_fn(f"TLS: trust {tls.ca} (NODE_EXTRA_CA_CERTS for Node.js, SSL_CERT_FILE for Python)")
    user, password = next(iter(emu.config.users.items()))
    print_fn(f"CF login: {emu.cf_api_url} as {user} / {password} (client 'cf')")
    # This process is the emulator's alone: the seeded landscape (hundreds of thousands of objects for
    # thousands of subaccounts) leaves the collector's view, whose full passes over it paused every
    # request for half a second now and then.
    gc.freeze()
    uvicorn.Server(emu._uvicorn_config(tls)).run(sockets=sockets)
