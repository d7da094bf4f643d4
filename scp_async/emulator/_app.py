"""The ASGI application: routing by API prefix, auth, fault injection, validation, handlers."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ._auth import TokenError, TokenService
from ._clock import Clock
from ._config import API_PREFIXES, UAA_HOST_LABEL, UAA_PREFIX, EmulatorConfig, FaultConfig
from ._faults import Counters, FaultInjector
from ._http import (
    ApiError,
    ConnectionDropped,
    Handler,
    Request,
    Response,
    TokenInfo,
    dumps,
    error_response,
    json_response,
)
from ._openapi import Router, Spec
from ._state import State

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_UPLOAD_TYPES = ("multipart/", "application/octet-stream", "application/zip", "application/x-yaml")


@dataclass(frozen=True)
class Route:
    api: str
    method: str
    template: str
    handler: Handler
    extra_query: tuple[str, ...] = ()
    auth: bool = True
    #: Skip the spec's body schema (the handler validates); for specs that misdescribe a body.
    validate_body: bool = True


class Context:
    """What handler modules get: the state, the token service, the config and the clock."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.state = app.state
        self.config = app.config
        self.clock = app.clock
        self.tokens = app.tokens


class _TooLarge(Exception):
    pass


class EmulatorApp:
    """The emulator as one ASGI 3 application (serve it with uvicorn or call it via httpx.ASGITransport)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock: Clock = self.config.clock
        self.counters = Counters()
        self.state = State(self.config, self.clock)
        self.tokens = TokenService(self.config, self.clock, self.counters)
        #: Listening port -> identity zone, for the UAA sockets of a served emulator (each zone's own origin).
        self.uaa_ports: dict[int, str] = {}
        self.faults = FaultInjector(self.config, self.clock, self.counters)
        self._specs: dict[str, Spec | None] = {}
        self._routers: dict[str, Router] = {}
        self._build_lock = threading.Lock()
        self._prefix_to_api = {p.strip("/"): api for api, p in API_PREFIXES.items()}
        self._routes: dict[str, list[Route]] = {api: [] for api in API_PREFIXES}
        from . import _cf, _cis, _mta, _reports, _sm

        ctx = Context(self)
        for module in (_cis, _sm, _reports, _cf, _mta):
            for route in module.routes(ctx):
                self._routes[route.api].append(route)

    # -- public helpers ------------------------------------------------------------------------------
    def spec(self, api: str) -> Spec | None:
        """The loaded spec of ``api`` (None when ``specs/<api>.json`` does not exist)."""
        if api not in self._specs:
            with self._build_lock:
                if api not in self._specs:
                    path = self.config.resolved_specs_dir() / f"{api}.json"
                    try:
                        self._specs[api] = Spec.load(api, path) if path.is_file() else None
                    except (OSError, ValueError):
                        self._specs[api] = None
        return self._specs[api]

    def router(self, api: str) -> Router:
        router = self._routers.get(api)
        if router is None:
            spec = self.spec(api)
            with self._build_lock:
                router = self._routers.get(api)
                if router is None:
                    router = Router()
                    if spec is not None:
                        for op in spec.operations():
                            router.add(api, op.method, op.template, op=op)
                    for r in self._routes[api]:
                        router.add(
                            api,
                            r.method,
                            r.template,
                            handler=r.handler,
                            extra_query=frozenset(r.extra_query),
                            auth=r.auth,
                            validate_body=r.validate_body,
                        )
                    self._routers[api] = router
        return router

    def set_faults(self, faults: FaultConfig | None = None, *, route: str | None = None) -> None:
        self.faults.configure(faults, route=route)

    def uaa_url(self, zone: str, root_url: str) -> str:
        """The UAA origin of identity ``zone`` as seen from ``root_url``: its own socket when serving, else the
        host ``<zone>.authentication.<API host>`` (which this app routes to the UAA, e.g. in-process)."""
        from ._keys import uaa_origin

        return uaa_origin(root_url, zone, self.tokens.origins)

    def cf_uaa_url(self, root_url: str) -> str:
        """The UAA the CF API links to (the zone of the public ``cf`` client)."""
        cf = self.config.clients.get("cf")
        return self.uaa_url(cf.identityzone if cf else "emulator", root_url)

    # -- ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        root = f"{scope.get('scheme', 'http')}://{host}"
        path: str = scope["path"]
        method: str = scope["method"]
        zone = self._uaa_zone(scope, host)
        if zone is not None:
            await self._uaa(zone, method, path, root, headers, scope, receive, send)
            return
        first, _, rest = path[1:].partition("/")
        api = self._prefix_to_api.get(first)
        ctype = headers.get("content-type", "")
        limit = self.config.max_upload_bytes if ctype.startswith(_UPLOAD_TYPES) else self.config.max_body_bytes
        try:
            body = await _read_body(receive, limit, headers)
        except _TooLarge:
            resp = error_response(api or "uaa", 413, f"Request body larger than {limit} bytes")
            await _send(send, resp)
            return
        query = _parse_query(scope.get("query_string", b""))
        if api is None:
            resp = self._outside_apis(method, first, "/" + rest, root, headers, query, body)
            await _send(send, resp)
            return
        req = Request(method, api, "/" + rest, query, headers, body, f"{root}/{first}", root)
        await self._dispatch(req, send)

    def _uaa_zone(self, scope: Scope, host: str) -> str | None:
        """The identity zone whose UAA origin a request reached, or None for the API origin."""
        if self.uaa_ports:
            server = scope.get("server")
            if server:
                zone = self.uaa_ports.get(server[1])
                if zone is not None:
                    return zone
        if UAA_HOST_LABEL in host:
            return host.partition(UAA_HOST_LABEL)[0] or None
        return None

    async def _uaa(
        self,
        zone: str,
        method: str,
        path: str,
        root: str,
        headers: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        try:
            body = await _read_body(receive, self.config.max_body_bytes, headers)
        except _TooLarge:
            await _send(
                send, error_response("uaa", 413, f"Request body larger than {self.config.max_body_bytes} bytes")
            )
            return
        query = _parse_query(scope.get("query_string", b""))
        req = Request(method, "uaa", path, query, headers, body, root, root)
        await _send(send, self._uaa_request(req, zone))

    def _uaa_request(self, req: Request, zone: str | None) -> Response:
        """One request to a UAA origin (``req.base_url``); ``zone`` None on the legacy ``<root>/uaa`` path."""
        path = req.path.rstrip("/") or "/"
        method = req.method
        counters = self.counters
        if path == "/oauth/token":
            counters.requests[f"uaa {method} /oauth/token"] += 1
            route = f"uaa {method} /oauth/token"
            decision = self.faults.decide("uaa", route, zone or "-", zone or "-", injected=False)
            if decision.status:
                return self._refuse(req.api, decision)
            resp = self.tokens.token_endpoint(req, zone)
        elif path == "/token_keys":
            counters.requests[f"uaa {method} /token_keys"] += 1
            resp = self.tokens.token_keys(req)
        elif path == "/.well-known/openid-configuration" and method == "GET":
            resp = self.tokens.openid_configuration(req.base_url)
        elif path == "/" and method == "GET":
            resp = json_response({"app": {"version": "emulator"}, "links": {"uaa": req.base_url}, "zone_name": zone})
        else:
            resp = error_response("uaa", 404, "Not found", code="not_found")
        counters.statuses[resp.status] += 1
        return resp

    def _refuse(self, api: str, decision: Any) -> Response:
        if decision.status == 429:
            self.counters.rate_limited += 1
        self.counters.statuses[decision.status] += 1
        if decision.body is not None:
            return Response(decision.status, decision.body, list(decision.headers))
        return error_response(api, decision.status, decision.message, code=decision.code, headers=decision.headers)

    def _outside_apis(
        self, method: str, first: str, rest: str, root: str, headers: dict[str, str], query: Any, body: bytes
    ) -> Response:
        if first == UAA_PREFIX.strip("/"):
            req = Request(method, "uaa", rest or "/", query, headers, body, root + UAA_PREFIX, root)
            return self._uaa_request(req, None)
        if first == "" and method == "GET":
            return json_response(self.index(root))
        return error_response("uaa", 404, f"No API is mounted at /{first}", code="not_found")

    def index(self, root: str) -> dict[str, Any]:
        zones = sorted({c.identityzone for c in self.config.clients.values()})
        return {
            "emulator": "scp-async BTP emulator",
            "uaa": self.cf_uaa_url(root),
            "uaa_zones": {zone: self.uaa_url(zone, root) for zone in zones},
            "apis": {api: root + prefix for api, prefix in API_PREFIXES.items()},
        }

    async def _dispatch(self, req: Request, send: Send) -> None:
        api = req.api
        discovery = self._discovery(req)
        if discovery is not None:
            await _send(send, discovery)
            return
        router = self.router(api)
        rm, params, known = router.match(req.method, req.path)
        counters = self.counters
        if rm is None:
            status = 405 if known else 404
            resp = error_response(
                api, status, "Method not allowed" if known else f"Unknown path {req.path}", target=req.path
            )
            counters.statuses[status] += 1
            await _send(send, resp)
            return
        counters.requests[rm.route_id] += 1
        req.path_params = params
        if rm.auth:
            try:
                req.token = self.tokens.verify(req.headers.get("authorization"))
            except TokenError as exc:
                counters.unauthorized += 1
                counters.statuses[401] += 1
                await _send(send, _unauthorized(api, str(exc)))
                return
        token = req.token
        decision = self.faults.decide(
            api,
            rm.route_id,
            _caller(token),
            token.zone if token else "-",
            f"{token.zone}/{token.client_id}" if token else "-",
        )
        if decision.delay > 0:
            await _sleep(decision.delay)
        if decision.status:
            await _send(send, self._refuse(api, decision))
            return
        resp = self._handle(req, rm)
        if decision.headers:
            resp.headers.extend(decision.headers)
        counters.statuses[resp.status] += 1
        if decision.drop:
            await _send_partial(send, resp)
            raise ConnectionDropped(f"{rm.route_id}: connection dropped by fault injection")
        await _send(send, resp)

    def _handle(self, req: Request, rm: Any) -> Response:
        api = req.api
        op = rm.op
        try:
            if op is not None:
                problem = op.validate(
                    req.query, req.headers, req.body, rm.extra_query, rm.validate_body, path=req.path_params
                )
                if problem is not None:
                    return error_response(api, 400, problem[0], target=problem[1])
            if rm.handler is not None:
                with self.state.lock:
                    self.state.settle()
                    return rm.handler(req)  # type: ignore[no-any-return]
            if op is None:  # pragma: no cover - routes always have one of the two
                return error_response(api, 404, "Not found")
            if req.body.strip() and op.body_schema is None and "json" in req.headers.get("content-type", ""):
                json.loads(req.body)  # malformed JSON is still a 400 where the spec declares no body schema
            body = op.synthesized(req)
            if not body:
                return Response(op.success_status)
            media = op.success_media or "application/json"
            if media == "*/*":
                media = "application/json"
            return Response(op.success_status, body, [(b"content-type", media.encode())])
        except ApiError as exc:
            return error_response(api, exc.status, exc.message, code=exc.code, target=exc.target, headers=exc.headers)
        except (ValueError, RecursionError):
            return error_response(api, 400, "Malformed JSON in request body")

    # -- discovery ------------------------------------------------------------------------------------
    def _discovery(self, req: Request) -> Response | None:
        if req.method != "GET":
            return None
        path = req.path.rstrip("/") or "/"
        prefix = API_PREFIXES[req.api]
        if path not in _DISCOVERY_PATHS:
            return None
        spec = self.spec(req.api)
        if spec is None:
            return error_response(req.api, 404, f"No OpenAPI document for {req.api}")
        docs = f"{prefix}/v3/api-docs"
        if path in ("/v3/api-docs", "/v2/api-docs", "/openapi.json"):
            return Response(200, spec.rendered(req.base_url), [(b"content-type", b"application/json")])
        if path == "/v3/api-docs/swagger-config":
            return json_response(
                {
                    "configUrl": f"{prefix}/v3/api-docs/swagger-config",
                    "url": docs,
                    "urls": [{"name": req.api, "url": docs}],
                    "validatorUrl": "",
                    "oauth2RedirectUrl": f"{req.base_url}/swagger-ui/oauth2-redirect.html",
                }
            )
        if path == "/swagger-resources":
            version = str(spec.doc.get("openapi") or spec.doc.get("swagger") or "3.0.1")
            return json_response([{"name": req.api, "url": docs, "swaggerVersion": version, "location": docs}])
        if path == "/swagger-resources/configuration/ui":
            return json_response({"deepLinking": True, "validatorUrl": ""})
        if path == "/swagger-ui/swagger-initializer.js":
            js = (
                "window.onload = function() {\n  window.ui = SwaggerUIBundle({\n"
                f'    url: "{docs}",\n    dom_id: "#swagger-ui",\n    deepLinking: true\n  }});\n}};\n'
            )
            return Response(200, js.encode(), [(b"content-type", b"application/javascript")])
        html = (
            '<!DOCTYPE html><html><head><title>Swagger UI</title></head><body><div id="swagger-ui"></div>'
            f'<script src="{prefix}/swagger-ui/swagger-initializer.js"></script></body></html>'
        )
        return Response(200, html.encode(), [(b"content-type", b"text/html")])


_DISCOVERY_PATHS = frozenset(
    {
        "/v3/api-docs",
        "/v3/api-docs/swagger-config",
        "/v2/api-docs",
        "/openapi.json",
        "/swagger-resources",
        "/swagger-resources/configuration/ui",
        "/swagger-ui/index.html",
        "/swagger-ui.html",
        "/swagger-ui/swagger-initializer.js",
    }
)


def _caller(token: TokenInfo | None) -> str:
    """Who a rate limit counts: the user of a user token, else the OAuth client (as SAP's APIs identify callers)."""
    if token is None:
        return "-"
    return f"{token.zone}/{token.user_name or token.client_id}"


def _unauthorized(api: str, message: str) -> Response:
    www = [(b"www-authenticate", f'Bearer error="invalid_token", error_description="{message}"'.encode())]
    if api == "cf_v3":
        return error_response("cf_v3", 401, "Invalid Auth Token", code="CF-InvalidAuthToken", headers=www)
    return json_response({"error": "invalid_token", "error_description": message}, 401, www)


def _parse_query(raw: bytes) -> dict[str, list[str]]:
    if not raw:
        return {}
    return urllib.parse.parse_qs(raw.decode("latin-1"), keep_blank_values=True, errors="replace")


async def _sleep(seconds: float) -> None:
    # The served emulator runs on asyncio (or uvloop): its own sleep, without anyio's look-up of the
    # running library on every delayed request. In-process it may run under trio: anyio's then.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import anyio

        await anyio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


async def _read_body(receive: Receive, limit: int, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length")
    if (declared is None or declared == "0") and "transfer-encoding" not in headers:
        return b""  # HTTP/1.1: no length and no chunks is no body (most requests here: GETs); nothing to wait for
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, resp: Response) -> None:
    headers = resp.headers
    headers.append((b"content-length", str(len(resp.body)).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body})


async def _send_partial(send: Send, resp: Response) -> None:
    body = resp.body or dumps({"partial": True})
    headers = [*resp.headers, (b"content-length", str(len(body) + 64).encode())]
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
