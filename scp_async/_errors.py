"""The exception tree of scp-async.

::

    ScpAsyncError
    ├── ServiceKeyError (also ValueError)   a service key is unreadable, incomplete or of the wrong kind
    ├── ApiConnectionError                  no usable HTTP response (DNS, TLS, reset, ...)
    │   ├── ApiTimeoutError                 ... because a timeout expired
    │   └── ResponseTooLargeError           ... because the body outgrew ``max_response_size``
    ├── InvalidResponseError                a 2xx body that does not match the API's spec
    ├── UnexpectedStatusError               a typed call answered with a 1xx-3xx status its spec does not list
    └── ApiError                            an HTTP response with status >= 400
        ├── AuthenticationError             the token endpoint refused to issue a token
        ├── BadRequest                      400
        ├── Unauthorized                    401
        ├── Forbidden                       403
        ├── NotFound                        404
        ├── Conflict                        409
        ├── RateLimited                     429 (``retry_after`` when the server said)
        └── ServerError                     5xx

Other statuses raise plain :class:`ApiError`. Building an error never raises, whatever the body:
HTML error pages, truncated or absurdly nested JSON, bytes that are not text and ``null`` degrade to
a short text excerpt.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._logging import redact_text, redact_url, scrub_response

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "ErrorDetail",
    "Forbidden",
    "InvalidResponseError",
    "NotFound",
    "RateLimited",
    "ResponseTooLargeError",
    "ScpAsyncError",
    "ServerError",
    "ServiceKeyError",
    "Unauthorized",
    "UnexpectedStatusError",
    "error_for_response",
]

_EXCERPT_CHARS = 200
# Only the start of a body is searched for a message, so huge error pages cost no more than small ones.
_SCAN_CHARS = 64 * 1024
_CORRELATION_HEADERS = ("x-correlationid", "x-correlation-id", "x-vcap-request-id")


class ScpAsyncError(Exception):
    """Base class of every exception raised by scp-async."""


class ServiceKeyError(ScpAsyncError, ValueError):
    """A service key could not be used.

    ``source`` names where the key came from (a file path, ``env:NAME``, ...), ``field`` the
    offending field in dotted form (``uaa.clientsecret``) and ``hint`` what to do about it.
    """

    def __init__(self, source: str, problem: str, *, field: str | None = None, hint: str | None = None):
        self.source = source
        self.field = field
        self.problem = problem
        self.hint = hint
        where = f"{source}: {field}" if field else source
        text = f"{where}: {problem}"
        if hint:
            text = f"{text}. {hint}"
        super().__init__(text)


class ApiConnectionError(ScpAsyncError):
    """The request did not produce an HTTP response."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None):
        self.method = method
        self.url = redact_url(url) if url is not None else None
        target = f" ({method} {self.url})" if method and self.url else ""
        super().__init__(f"{message}{target}")


class ApiTimeoutError(ApiConnectionError):
    """A connect, read, write or pool timeout expired."""


class ResponseTooLargeError(ApiConnectionError):
    """The response body grew past ``limit`` bytes (counted after decompression); reading stopped there.

    ``status_code`` is the status of the oversized response.
    """

    def __init__(self, limit: int, *, status_code: int, method: str | None = None, url: str | None = None):
        self.limit = limit
        self.status_code = status_code
        super().__init__(
            f"the {status_code} response body is larger than max_response_size={limit} bytes (decoded)",
            method=method,
            url=url,
        )


class InvalidResponseError(ScpAsyncError):
    """A successful response whose body does not match the spec (missing field, ``null`` object, ...).

    ``operation_id`` names the operation; ``cause`` is the parser's own exception; ``path`` is the JSON
    path of the field (``$.resources[3].guid``), ``expected`` what the spec declares there and ``got``
    what came, when the parser could tell (``None`` otherwise).
    """

    def __init__(
        self,
        operation_id: str,
        cause: BaseException,
        *,
        path: str | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        self.operation_id = operation_id
        self.cause = cause
        # The body decoder's errors carry where and what; plain parser errors only a message.
        self.path = path if path is not None else _text(getattr(cause, "path", None))
        self.expected = expected if expected is not None else _text(getattr(cause, "expected", None))
        self.got = got if got is not None else _text(getattr(cause, "got", None))
        if isinstance(cause, KeyError) and self.path is None:
            self.path = str(cause.args[0]) if cause.args else None
            problem = f"required field {self.path!r} is missing"
        elif self.path is not None and (self.expected is not None or self.got is not None):
            problem = f"at {self.path}: expected {self.expected or '?'}, got {self.got or '?'}"
        else:
            problem = f"{type(cause).__name__}: {cause}"
        problem = redact_text(problem)[:_EXCERPT_CHARS]
        super().__init__(f"{operation_id}: the response body does not match the API's spec ({problem})")


class UnexpectedStatusError(ScpAsyncError):
    """A typed call got a non-error status its spec does not list (a GET answered 204 or 302, ...).

    The body was not parsed, since its shape is unknown; ``response`` holds it (with the
    ``Authorization`` header redacted). ``expected`` are the statuses the spec lists.
    """

    def __init__(self, operation_id: str, response: httpx.Response, expected: Sequence[int]) -> None:
        self.operation_id = operation_id
        response = scrub_response(response)
        self.response = response
        self.status_code = response.status_code
        self.expected = tuple(expected)
        request = response._request
        self.method = request.method if request is not None else ""
        self.url = redact_url(request.url) if request is not None else ""
        listed = ", ".join(map(str, self.expected)) or "none"
        super().__init__(
            f"{operation_id}: {self.method} {self.url} answered {self.status_code}, which the spec does not "
            f"list for this operation (listed: {listed})"
        )


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of a Cloud Foundry V3 ``errors`` array."""

    code: int | str | None
    title: str | None
    detail: str | None


class ApiError(ScpAsyncError):
    """An API answered with an error status.

    Attributes are parsed best-effort from the SAP (``{"error": {...}}``), OAuth
    (``error``/``error_description``) and Cloud Foundry V3 (``errors: [...]``) error shapes.
    ``response`` is a decoded copy of the response without the credentials of the request(s) behind
    it: its request, its ``history`` and any echo of them in the body are redacted.
    """

    status_code: int
    method: str
    url: str
    response: httpx.Response
    error_code: str | None
    message: str
    target: str | None
    correlation_id: str | None
    errors: list[ErrorDetail]

    def __init__(self, response: httpx.Response, *, message: str | None = None):
        # A copy without the credentials of the request(s) behind it, echoes in the body included.
        response = scrub_response(response)
        request = response._request  # absent when a Response was built by hand
        self.response = response
        self.status_code = response.status_code
        self.method = request.method if request is not None else ""
        self.url = redact_url(request.url) if request is not None else ""
        parsed = _parse_body(response)
        self.error_code = parsed.code
        self.message = message or parsed.message or response.reason_phrase or "HTTP error"
        self.target = parsed.target
        self.errors = parsed.errors
        self.correlation_id = _header_correlation_id(response) or parsed.correlation_id
        super().__init__(self._describe())

    @property
    def status(self) -> int:
        """Alias of :attr:`status_code`."""
        return self.status_code

    def _describe(self) -> str:
        head = f"{self.status_code} {self.response.reason_phrase}".strip()
        if self.method:
            head = f"{head} for {self.method} {self.url}"
        parts = [head, self.message]
        if self.error_code:
            parts.append(f"code={self.error_code}")
        if self.target:
            parts.append(f"target={self.target}")
        if self.correlation_id:
            parts.append(f"correlation_id={self.correlation_id}")
        return redact_text(" | ".join(parts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class AuthenticationError(ApiError):
    """The OAuth token endpoint refused the request (``error``/``error_description`` from UAA)."""


class BadRequest(ApiError):
    """HTTP 400."""


class Unauthorized(ApiError):
    """HTTP 401 (the request was retried once with a fresh token first)."""


class Forbidden(ApiError):
    """HTTP 403."""


class NotFound(ApiError):
    """HTTP 404."""


class Conflict(ApiError):
    """HTTP 409."""


class RateLimited(ApiError):
    """HTTP 429; ``retry_after`` is the delay in seconds the server asked for, if known."""

    def __init__(self, response: httpx.Response, *, message: str | None = None, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(response, message=message)


class ServerError(ApiError):
    """HTTP 5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def error_for_response(response: httpx.Response, *, retry_after: float | None = None) -> ApiError:
    """Build (not raise) the most specific :class:`ApiError` for an error ``response``."""
    status = response.status_code
    if status == 429:
        return RateLimited(response, retry_after=retry_after)
    if status >= 500:
        return ServerError(response)
    return _BY_STATUS.get(status, ApiError)(response)


@dataclass
class _Parsed:
    code: str | None = None
    message: str | None = None
    target: str | None = None
    correlation_id: str | None = None
    errors: list[ErrorDetail] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _excerpt(text: str) -> str | None:
    collapsed = " ".join(text.split())
    if not collapsed:
        return None
    if len(collapsed) > _EXCERPT_CHARS:
        collapsed = collapsed[: _EXCERPT_CHARS - 1] + "…"
    return collapsed


def _parse_body(response: httpx.Response) -> _Parsed:
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        return _Parsed()
    try:
        text = raw.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return _Parsed(message=_excerpt(_strip_html(text[:_SCAN_CHARS])))
    if isinstance(body, Mapping):
        # Whatever the shape, building the error must not fail; the excerpt below is the fallback.
        with contextlib.suppress(Exception):
            return _parse_mapping(body)
    return _Parsed(message=_excerpt(text[:_SCAN_CHARS]) if body is not None else None)


def _parse_mapping(body: Mapping[str, Any]) -> _Parsed:
    raw_errors = body.get("errors")
    if isinstance(raw_errors, Sequence) and not isinstance(raw_errors, str):
        details = [
            ErrorDetail(code=e.get("code"), title=_text(e.get("title")), detail=_text(e.get("detail")))
            for e in raw_errors
            if isinstance(e, Mapping)
        ]
        if details:
            first = details[0]
            return _Parsed(
                code=first.title or _text(first.code),
                message="; ".join(d.detail or d.title or "" for d in details).strip("; ") or None,
                errors=details,
            )
    nested = body.get("error")
    if isinstance(nested, Mapping):
        return _Parsed(
            code=_text(nested.get("code")),
            message=_text(nested.get("message")) or _text(nested.get("description")),
            target=_text(nested.get("target")),
            correlation_id=_text(nested.get("correlationID") or nested.get("correlationId")),
        )
    if isinstance(nested, str):  # OAuth 2.0 / UAA, and Service Manager's {"error", "description"}
        message = _text(body.get("error_description")) or _text(body.get("description"))
        return _Parsed(code=nested, message=message or nested)
    return _Parsed(
        code=_text(body.get("code")),
        message=_text(body.get("message")) or _text(body.get("description")),
        target=_text(body.get("target")),
        correlation_id=_text(body.get("correlationID") or body.get("correlationId")),
    )


def _strip_html(text: str) -> str:
    if "<" not in text:
        return text
    title = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
    if title and title.group(1).strip():
        return title.group(1)
    return re.sub(r"(?s)<[^>]*>", " ", text)


def _header_correlation_id(response: httpx.Response) -> str | None:
    for name in _CORRELATION_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None
