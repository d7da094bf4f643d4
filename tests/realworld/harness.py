"""Serve a recorded response body to the typed facade method of its operation, and check the parsed model.

The body is answered by an ``httpx.MockTransport`` given to ``Session(transport=...)``, so the request goes
through everything a real call goes through (token request, auth header, retries, error mapping,
the generated parser). The transport checks that the facade asked for the operation's own path.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import inspect
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import httpx

from scp_async import Session

UAA = "https://uaa.example.test"
TOKEN_PATH = "/oauth/token"
CF_API = "https://api.cf.example.test"
BASE_URLS = {
    "accounts": "https://accounts.example.test",
    "entitlements": "https://entitlements.example.test",
    "provisioning": "https://provisioning.example.test",
    "saas_provisioning": "https://saas.example.test",
    "events": "https://events.example.test",
    "service_manager": "https://sm.example.test",
    "xsuaa": "https://xsuaa-api.example.test",
    "resource_consumption": "https://uas.example.test",
    "audit_log": "https://auditlog.example.test",
    "cf_v3": CF_API,
    "multiapps": "https://deploy-service.cf.example.test",
}
CIS_APIS = {"accounts", "entitlements", "provisioning", "saas_provisioning", "events"}


@dataclass(frozen=True)
class Body:
    """One response body: where it comes from and which operation answers it."""

    id: str
    api: str
    operation: str
    path: Path
    status: int = 200
    docs_example: bool = False


def load_manifest(directory: Path, manifest: str = "manifest.json") -> list[Body]:
    entries = json.loads((directory / manifest).read_text(encoding="utf-8"))["payloads"]
    return [
        Body(
            e["id"],
            e["api"],
            e["operation"],
            directory / e["file"],
            int(e.get("status", 200)),
            docs_example="docs example" in str(e.get("kind", "")).lower(),
        )
        for e in entries
    ]


def _uaa() -> dict[str, str]:
    return {"clientid": "sb-realworld", "clientsecret": "realworld-secret", "url": UAA}


def _cis_key() -> dict[str, Any]:
    endpoints = {f"{api}_service_url": BASE_URLS[api] for api in ("accounts", "entitlements", "provisioning", "events")}
    endpoints["saas_registry_service_url"] = BASE_URLS["saas_provisioning"]
    return {"endpoints": endpoints, "grant_type": "client_credentials", "uaa": _uaa()}


def _operation(api: str, operation_id: str) -> tuple[str, str, str]:
    """(method, path template, Python name) of an operation, from the generated index."""
    index = importlib.import_module(f"scp_async_clients.{api}._operations")
    for op in index.OPERATIONS:
        if op.operation_id == operation_id:
            return op.method, op.path, op.module.rsplit(".", 1)[1]
    raise LookupError(f"{api} has no operation {operation_id}")


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({[^}]+})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _argument(api: str, annotation: str) -> Any:
    """A value of a parameter's declared type (the mock answers whatever the value)."""
    first = annotation.split("|")[0].strip()
    if first == "UUID":
        return uuid.UUID("00000000-0000-4000-8000-000000000001")
    if first == "int":
        return 1
    if first == "float":
        return 1.0
    if first == "bool":
        return True
    if first.startswith("list["):
        return []
    if first == "str":
        return "x"
    model = getattr(importlib.import_module(f"scp_async_clients.{api}.models"), first)
    if issubclass(model, enum.Enum):
        return next(iter(model))
    raise TypeError(f"no sample value for a parameter of type {annotation}")


class Server:
    """The mock transport: answers the token endpoint, CF's root document, and one body at one path."""

    def __init__(self) -> None:
        self.pattern: re.Pattern[str] | None = None
        self.method = "GET"
        self.body = b""
        self.status = 200
        self.served: list[str] = []
        self.unexpected: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
        if self.pattern is None and path in ("", "/"):
            return httpx.Response(200, json={"links": {"uaa": {"href": UAA}, "login": {"href": UAA}}})
        if self.pattern is not None and request.method == self.method and self.pattern.search(path):
            self.served.append(path)
            return httpx.Response(self.status, content=self.body, headers={"Content-Type": "application/json"})
        self.unexpected.append(f"{request.method} {request.url}")
        return httpx.Response(599, json={"error": "unexpected request"})


async def namespace(session: Session, api: str) -> Any:
    if api in CIS_APIS:
        return getattr(session.cloud_management(_cis_key()), api)
    if api == "service_manager":
        return session.service_manager({**_uaa(), "sm_url": BASE_URLS[api]})
    if api == "xsuaa":
        return session.xsuaa({**_uaa(), "apiurl": BASE_URLS[api]})
    if api == "resource_consumption":
        return session.resource_consumption({**_uaa(), "target_url": BASE_URLS[api]})
    if api == "audit_log":
        return session.audit_log({"url": BASE_URLS[api], "uaa": _uaa()})
    cf = await session.cloud_foundry(CF_API, username="user", password="pass")
    return cf.multiapps if api == "multiapps" else cf


async def call_with_body(body: Body) -> Any:
    """Call the typed facade method of `body.operation` with the body served; returns the parsed result."""
    method_name, template, python_name = _operation(body.api, body.operation)
    server = Server()
    async with Session(transport=httpx.MockTransport(server)) as session:
        api = await namespace(session, body.api)
        server.pattern = _path_pattern(template)
        server.method = method_name
        server.body = body.path.read_bytes()
        server.status = body.status
        method: Callable[..., Any] = getattr(api, python_name)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for parameter in inspect.signature(method).parameters.values():
            if parameter.default is not inspect.Parameter.empty:
                continue
            value = _argument(body.api, str(parameter.annotation))
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[parameter.name] = value
            else:
                args.append(value)
        result = await method(*args, **kwargs)
    assert not server.unexpected, server.unexpected
    assert len(server.served) == 1, f"{template} was requested {len(server.served)} times"
    return result


# -- checking a parsed model against its declared types -----------------------------------------------------

_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_SCALARS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "None": lambda v: v is None,
    "Unset": lambda v: type(v).__name__ == "Unset",
    "Any": lambda v: True,
    "datetime.datetime": lambda v: isinstance(v, datetime.datetime) and v.tzinfo is not None,
    "datetime.date": lambda v: isinstance(v, datetime.date) and not isinstance(v, datetime.datetime),
    "UUID": lambda v: isinstance(v, uuid.UUID),
    "File": lambda v: type(v).__name__ == "File",
}


def _split_top(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == separator and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _is_placeholder_guid(value: Any) -> bool:
    """A documentation placeholder where a GUID belongs (`quota-guid`, a GUID with an `s` in it)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return True
    return False


def _matches(value: Any, annotation: str, where: str, problems: list[str], placeholders: bool) -> bool:
    """Whether `value` is of the declared type; records problems found further down."""
    for option in _split_top(annotation, "|"):
        if option == "UUID" and placeholders and _is_placeholder_guid(value):
            return True
        if option in _SCALARS:
            if _SCALARS[option](value):
                return True
        elif option.startswith("list[") and isinstance(value, list):
            inner = option[5:-1]
            found: list[str] = []
            if all(_matches(item, inner, f"{where}[{i}]", found, placeholders) for i, item in enumerate(value)):
                problems.extend(found)
                return True
        elif option.startswith("dict[") and isinstance(value, dict):
            _key, inner = _split_top(option[5:-1], ",")
            found = []
            if all(_matches(item, inner, f"{where}.{k}", found, placeholders) for k, item in value.items()):
                problems.extend(found)
                return True
        elif type(value).__name__ == option:
            if attrs.has(type(value)):
                problems.extend(check_model(value, where, placeholders=placeholders))
            return True
    return False


def check_model(model: Any, where: str = "$", *, placeholders: bool = False) -> list[str]:
    """Every field of an attrs model holds a value of its declared type (no raw dict where a model is due)."""
    problems: list[str] = []
    for field in attrs.fields(type(model)):
        value = getattr(model, field.name)
        if field.name == "additional_properties":
            for key, item in value.items():
                problems.extend(check_value(item, f"{where}.{key}", placeholders=placeholders))
            continue
        if not _matches(value, str(field.type), f"{where}.{field.name}", problems, placeholders):
            shown = type(value).__name__
            problems.append(f"{where}.{field.name}: declared {field.type}, got {shown} {str(value)[:60]!r}")
        elif isinstance(value, str) and _ISO_DATE_TIME.match(value):
            problems.append(f"{where}.{field.name}: a date-time declared as a string ({value!r})")
    return problems


def check_value(value: Any, where: str = "$", *, placeholders: bool = False) -> list[str]:
    """Check a parsed result of any kind: a model, a list of models, a map of models, or None.

    With `placeholders`, a declared UUID may hold a documentation placeholder (kept as sent).
    """
    if attrs.has(type(value)):
        return check_model(value, where, placeholders=placeholders)
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in check_value(item, f"{where}[{i}]", placeholders=placeholders)
        ]
    if isinstance(value, Mapping):
        return [p for k, item in value.items() for p in check_value(item, f"{where}.{k}", placeholders=placeholders)]
    return []


def leaves(value: Any) -> list[Any]:
    """Every scalar reachable from a parsed result (for counting dates and UUIDs)."""
    if attrs.has(type(value)):
        return [leaf for f in attrs.fields(type(value)) for leaf in leaves(getattr(value, f.name))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in leaves(item)]
    return [value]
