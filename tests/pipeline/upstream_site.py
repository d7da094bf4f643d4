"""A real HTTP server on 127.0.0.1 that publishes the upstream reference documents the way SAP's
services publish theirs: some behind springdoc, some behind springfox, some only through a swagger-ui
page, one only at a well-known path, and CF V3 as a tree of files that refer to each other."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

Routes = dict[str, tuple[str, bytes]]

JSON = "application/json"
YAML = "application/yaml"
HTML = "text/html"
JS = "application/javascript"
REDIRECT = "redirect"  # a route (REDIRECT, b"<location>") answers 302 with that Location


def _json(value: object) -> tuple[str, bytes]:
    return JSON, json.dumps(value).encode()


def springdoc(routes: Routes, prefix: str, document: Path, media: str = JSON) -> None:
    routes[f"{prefix}/v3/api-docs/swagger-config"] = _json({"url": f"{prefix}/v3/api-docs", "validatorUrl": ""})
    routes[f"{prefix}/v3/api-docs"] = (media, document.read_bytes())


def springdoc_groups(routes: Routes, prefix: str, documents: dict[str, Path]) -> None:
    routes[f"{prefix}/v3/api-docs/swagger-config"] = _json(
        {"urls": [{"name": name, "url": f"{prefix}/v3/api-docs/{name}"} for name in documents]}
    )
    for name, path in documents.items():
        routes[f"{prefix}/v3/api-docs/{name}"] = (YAML, path.read_bytes())


def springfox(routes: Routes, prefix: str, document: Path) -> None:
    routes[f"{prefix}/swagger-resources"] = _json(
        [{"name": "default", "url": f"{prefix}/v2/api-docs", "swaggerVersion": "2.0"}]
    )
    routes[f"{prefix}/v2/api-docs"] = (JSON, document.read_bytes())


def initializer(routes: Routes, prefix: str, relative_url: str) -> None:
    script = (
        "window.onload = function() {\n"
        "  window.ui = SwaggerUIBundle({\n"
        f'    url: "{relative_url}",\n'
        '    dom_id: "#swagger-ui",\n'
        "    deepLinking: true,\n"
        "  });\n"
        "};\n"
    )
    routes[f"{prefix}/swagger-ui/swagger-initializer.js"] = (JS, script.encode())


def ui_page_with_config(routes: Routes, prefix: str, document: Path) -> None:
    page = (
        "<!DOCTYPE html><html><head><title>Swagger UI</title></head><body><div id='swagger-ui'></div>"
        "<script>window.onload = () => { SwaggerUIBundle({"
        f"configUrl: '{prefix}/api-config.json', dom_id: '#swagger-ui'"
        "}); };</script></body></html>"
    )
    routes[f"{prefix}/swagger-ui.html"] = (HTML, page.encode())
    routes[f"{prefix}/api-config.json"] = _json({"url": "spec/openapi.json"})
    routes[f"{prefix}/spec/openapi.json"] = (JSON, document.read_bytes())


def tree(routes: Routes, prefix: str, root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            routes[f"{prefix}/{path.relative_to(root).as_posix()}"] = (YAML, path.read_bytes())


def upstream_routes(upstream: Path) -> Routes:
    """One prefix per API, each published in a different discovery style."""
    routes: Routes = {}
    springdoc(routes, "/accounts", upstream / "cis-accounts/swagger.json")
    springfox(routes, "/entitlements", upstream / "cis-entitlements/swagger.json")
    initializer(routes, "/provisioning", "../docs/openapi.json")
    routes["/provisioning/docs/openapi.json"] = (JSON, (upstream / "cis-provisioning/swagger.json").read_bytes())
    ui_page_with_config(routes, "/saas", upstream / "cis-saas-provisioning/swagger.json")
    routes["/sm/v3/api-docs"] = (JSON, (upstream / "cis-service-manager/swagger.json").read_bytes())
    springfox(routes, "/events", upstream / "cis-events/APIEventsService.json")
    initializer(routes, "/cf", "/cf/spec/openapi.yaml")
    tree(routes, "/cf/spec", upstream / "cf-v3/latest")
    springdoc_groups(
        routes,
        "/deploy",
        {
            "mtarest": upstream / "multiapps-controller/mtarest.yaml",
            "mtarest_v2": upstream / "multiapps-controller/mtarest_v2.yaml",
        },
    )
    springdoc(routes, "/xsuaa", upstream / "xsuaa/swagger.json")
    return routes


BASE_PATHS = {
    "accounts": "/accounts",
    "entitlements": "/entitlements",
    "provisioning": "/provisioning",
    "saas_provisioning": "/saas",
    "service_manager": "/sm",
    "events": "/events",
    "cf_v3": "/cf",
    "multiapps": "/deploy",
    "xsuaa": "/xsuaa",
}


@dataclass
class Site:
    routes: Routes
    url: str = ""
    requests: list[str] = field(default_factory=list)
    authorizations: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization header)
    required_token: str | None = None  # when set, requests without this bearer token get 401

    def base_url(self, api: str) -> str:
        return self.url + BASE_PATHS[api]

    def base_url_args(self, apis: list[str] | None = None) -> list[str]:
        args = []
        for api in apis or list(BASE_PATHS):
            args += ["--base-url", f"{api}={self.base_url(api)}"]
        return args


@contextmanager
def serve(routes: Routes) -> Iterator[Site]:
    site = Site(routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            site.requests.append(path)
            site.authorizations.append((path, self.headers.get("Authorization")))
            found = site.routes.get(path)
            if site.required_token and self.headers.get("Authorization") != f"Bearer {site.required_token}":
                found = None
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            media, body = found
            if media == REDIRECT:
                self.send_response(302)
                self.send_header("Location", body.decode())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
