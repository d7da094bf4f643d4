"""Request/response primitives and the error formats of the emulated APIs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson as _orjson

#: Types orjson serializes and the standard library refuses, refused here too (then left to the standard library).
_ORJSON_STRICT = _orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS | _orjson.OPT_PASSTHROUGH_SUBCLASS

Headers = list[tuple[bytes, bytes]]

#: Error body styles: SAP CIS-style ``{"error": {code, message, target, correlationID}}``, Service
#: Manager's ``{"error", "description"}``, CF V3 ``{"errors": [...]}`` and UAA's OAuth errors.
ERROR_STYLE: dict[str, str] = {
    "accounts": "sap",
    "entitlements": "sap",
    "provisioning": "sap",
    "saas_provisioning": "sap",
    "events": "sap",
    "resource_consumption": "sap",
    "audit_log": "sap",
    "xsuaa": "sap",
    "multiapps": "sap",
    "service_manager": "sm",
    "cf_v3": "cf",
    "uaa": "uaa",
}

_JSON_CT = (b"content-type", b"application/json")

# CF V3 error codes and titles by HTTP status (as cloud_controller_ng reports them).
_CF_ERRORS: dict[int, tuple[int, str]] = {
    400: (10005, "CF-BadQueryParameter"),
    401: (1000, "CF-InvalidAuthToken"),
    403: (10003, "CF-NotAuthorized"),
    404: (10010, "CF-ResourceNotFound"),
    405: (10000, "CF-NotFound"),
    409: (10008, "CF-UnprocessableEntity"),
    413: (10008, "CF-UnprocessableEntity"),
    415: (10008, "CF-UnprocessableEntity"),
    422: (10008, "CF-UnprocessableEntity"),
    429: (10013, "CF-RateLimitExceeded"),
    500: (10001, "CF-ServerError"),
    502: (10001, "CF-ServerError"),
    503: (10015, "CF-ServiceUnavailable"),
    504: (10001, "CF-ServerError"),
}


class ConnectionDropped(Exception):
    """Raised by the ASGI app to drop a connection mid-response (fault injection)."""


def quiet_dropped_connections(record: logging.LogRecord) -> bool:
    """A logging filter for the server's error log: a connection dropped on purpose is no error, so its
    traceback is not printed (``Counters.faults["drop"]`` counts them); every other record passes."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, ConnectionDropped)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: Headers = field(default_factory=list)

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return self


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON, by orjson ten times faster than the standard library: a
    page of 50 CF apps is 90 KB, and encoding it was a third of the emulator's time. The same JSON, byte
    for byte but for the spelling of some floats (``1e16`` for ``1e+16``). What orjson refuses or would
    write differently (a non-string key, an integer past 64 bits, a subclass of a JSON type, a date or
    dataclass, which the standard library refuses too) goes to the standard library."""
    try:
        return _orjson.dumps(data, option=_ORJSON_STRICT)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: Headers | None = None) -> Response:
    hdrs: Headers = [_JSON_CT]
    if headers:
        hdrs.extend(headers)
    return Response(status, dumps(data), hdrs)


def empty_response(status: int = 204, headers: Headers | None = None) -> Response:
    return Response(status, b"", list(headers or []))


class ApiError(Exception):
    """Raised by handlers; rendered in the API's own error format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | int | None = None,
        target: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.target = target
        self.headers = headers or []


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def error_response(
    api: str,
    status: int,
    message: str,
    *,
    code: str | int | None = None,
    target: str | None = None,
    headers: Headers | None = None,
) -> Response:
    """Render an error in ``api``'s own format."""
    style = ERROR_STYLE.get(api, "sap")
    hdrs: Headers = list(headers or [])
    body: dict[str, Any]
    if style == "cf":
        cf_code, title = _CF_ERRORS.get(status, (10001, "CF-ServerError"))
        if isinstance(code, str) and code.startswith("CF-"):
            title = code
        elif isinstance(code, int):
            cf_code = code
        body = {"errors": [{"code": cf_code, "title": title, "detail": message}]}
        hdrs.append((b"x-vcap-request-id", new_correlation_id().encode()))
    elif style == "uaa":
        body = {"error": str(code or "invalid_request"), "error_description": message}
    elif style == "sm":
        body = {"error": str(code or _sm_error_name(status)), "description": message}
    else:
        correlation = new_correlation_id()
        err: dict[str, Any] = {
            "code": code if code is not None else status * 100 + 1,
            "message": message,
            "correlationID": correlation,
        }
        if target is not None:
            err["target"] = target
        body = {"error": err}
        hdrs.append((b"x-correlationid", correlation.encode()))
    return json_response(body, status, hdrs)


def _sm_error_name(status: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        413: "PayloadTooLarge",
        415: "UnsupportedMediaType",
        429: "TooManyRequests",
    }.get(status, "InternalServerError" if status >= 500 else "Error")


@dataclass(slots=True)
class TokenInfo:
    """The verified claims of a bearer token."""

    jti: str
    client_id: str
    zone: str
    exp: float
    user_name: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(slots=True)
class Request:
    """What a handler sees: one parsed HTTP request addressed to one API."""

    method: str
    api: str
    path: str  # the path inside the API (after its prefix)
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # scheme://host[:port]/<prefix>
    root_url: str  # scheme://host[:port]
    path_params: list[str] = field(default_factory=list)
    token: TokenInfo | None = None
    _json: Any = None
    _json_loaded: bool = False

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def q_csv(self, name: str) -> list[str]:
        """A list sent as one comma-separated value, as Cloud Controller reads its filters: of a key given
        more than once only the last counts (Rack's query parser keeps the last), and `name=` is the empty
        list (a filter that matches nothing), not a missing filter."""
        values = self.query.get(name)
        return [v for v in values[-1].split(",") if v != ""] if values else []

    def q_list(self, name: str) -> list[str]:
        """All values of a query parameter, comma-separated values split."""
        out: list[str] = []
        for value in self.query.get(name, ()):
            out.extend(v for v in value.split(",") if v != "")
        return out

    def q_int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"Invalid value for query parameter '{name}': {raw!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ApiError(400, f"Query parameter '{name}' out of range: {value}")
        return value

    def q_bool(self, name: str, default: bool = False) -> bool:
        raw = self.q(name)
        if raw is None:
            return default
        return raw.lower() == "true"

    def json(self) -> Any:
        if not self._json_loaded:
            self._json_loaded = True
            self._json = parse_json(self.body) if self.body.strip() else None
        return self._json

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return data


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"Malformed JSON in request body: {type(exc).__name__}") from None


Handler = Callable[[Request], Response]
