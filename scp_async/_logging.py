"""Redacting helpers for the ``scp_async`` stdlib logger.

Everything this package logs goes through :func:`redact_url` / :func:`redact_headers` first;
:class:`RedactingFilter` is a second line of defence that users may also attach to their own
handlers (for example to tame the request lines ``httpx`` logs at INFO).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import httpx

__all__ = [
    "REDACTED",
    "SENSITIVE_NAMES",
    "RedactingFilter",
    "is_sensitive_name",
    "logger",
    "redact_exception",
    "redact_headers",
    "redact_request",
    "redact_text",
    "redact_url",
    "request_secrets",
    "scrub_response",
]

logger = logging.getLogger("scp_async")

REDACTED = "[REDACTED]"

#: Lower-case names (query parameters, header names, JSON fields) whose values are never shown.
SENSITIVE_NAMES = frozenset(
    {
        "access_token",
        "assertion",
        "authorization",
        "client_secret",
        "clientsecret",
        "code",
        "cookie",
        "id_token",
        "key",
        "password",
        "proxy-authorization",
        "refresh_token",
        "secret",
        "set-cookie",
        "sig",
        "signature",
        "token",
        "x-csrf-token",
    }
)

# Substrings catch vendor variants such as ``x-amz-security-token`` or ``sas_key``.
_SENSITIVE_PARTS = ("secret", "password", "token", "passwd", "credential", "private")


def is_sensitive_name(name: str) -> bool:
    """Whether values stored under ``name`` must be hidden from logs and messages."""
    lowered = name.lower()
    return lowered in SENSITIVE_NAMES or any(part in lowered for part in _SENSITIVE_PARTS)


def redact_url(url: object) -> str:
    """Return ``url`` as text with user info and sensitive query values replaced."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact_text(text)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_sensitive_name(name) for name, _ in pairs):
            query = urlencode([(n, REDACTED if is_sensitive_name(n) else v) for n, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RedactedUrl:
    """``url`` for a log argument: redacted when a line is written, not when the call is made."""

    __slots__ = ("_url",)

    def __init__(self, url: object) -> None:
        self._url = url

    def __str__(self) -> str:
        return redact_url(self._url)

    __repr__ = __str__


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return a copy of ``headers`` fit for a log line."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: REDACTED if is_sensitive_name(name) else value for name, value in items}


# Bearer/Basic credentials, JWTs, and `name=value` / `"name": "value"` pairs with sensitive names.
_TEXT_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)(\"?[a-z_-]*(?:secret|password|token|passwd)[a-z_-]*\"?\s*[:=]\s*\"?)([^\"&\s,}]+)",
    ),
)


def redact_text(text: str) -> str:
    """Best-effort scrubbing of credentials that ended up inside free text."""
    text = _TEXT_PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _TEXT_PATTERNS[1].sub(REDACTED, text)
    return _TEXT_PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs credentials from a record's rendered message.

    The package's own records never contain secrets; this filter exists for records from
    libraries underneath (``httpx``, ``httpcore``) when users attach it to their handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


# -- requests and responses kept by errors -------------------------------------------------

# Shorter values (the public `cf` client's empty secret, "cf") would only garble the text around them.
_MIN_SECRET_CHARS = 4
# Headers that describe the original bytes on the wire, untrue of a decoded, scrubbed copy.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def request_secrets(request: httpx.Request | None) -> set[str]:
    """The credentials ``request`` carries: sensitive header values (and the secret inside a Basic
    header), sensitive form and JSON fields, sensitive query parameters."""
    found: set[str] = set()
    if request is None:
        return found
    for name, value in request.headers.multi_items():
        if not is_sensitive_name(name):
            continue
        found.add(value)
        scheme, _, credential = value.partition(" ")
        found.add(credential)
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            found.update((password, f"{user}:{password}"))
    for name, value in parse_qsl(request.url.query.decode("ascii", "replace"), keep_blank_values=True):
        if is_sensitive_name(name):
            found.add(value)
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = b""
    if body:
        text = body.decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "")
        if "json" in content_type:
            with contextlib.suppress(ValueError, RecursionError):
                _sensitive_json_values(json.loads(text), found, depth=0)
        elif "x-www-form-urlencoded" in content_type:
            found.update(value for name, value in parse_qsl(text, keep_blank_values=True) if is_sensitive_name(name))
    # The same secret as it would come back percent-encoded or inside a JSON string.
    variants = {form(value) for value in found for form in (quote, quote_plus, _json_escaped)}
    return {value for value in found | variants if len(value) >= _MIN_SECRET_CHARS}


def _json_escaped(value: str) -> str:
    return json.dumps(value)[1:-1]


def _sensitive_json_values(value: Any, found: set[str], *, depth: int) -> None:
    if depth > 64:
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            if isinstance(item, str) and is_sensitive_name(str(name)):
                found.add(item)
            else:
                _sensitive_json_values(item, found, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _sensitive_json_values(item, found, depth=depth + 1)


def _scrub(data: bytes, secrets: Iterable[str]) -> bytes:
    # Longest first, so a secret is replaced whole before any shorter part of it.
    for secret in sorted(secrets, key=len, reverse=True):
        data = data.replace(secret.encode("utf-8", "replace"), REDACTED.encode())
    return data


def redact_request(request: httpx.Request, secrets: Iterable[str] | None = None) -> httpx.Request:
    """A copy of ``request`` fit to be kept by an error: sensitive headers, query values and body
    fields replaced (``secrets``, by default its own, are removed wherever they appear)."""
    known = request_secrets(request) if secrets is None else set(secrets)
    headers = [
        (name, REDACTED if is_sensitive_name(name) else _scrub(value.encode(), known).decode("utf-8", "replace"))
        for name, value in request.headers.multi_items()
        if name.lower() not in _WIRE_HEADERS
    ]
    try:
        body = request.content
    except httpx.RequestNotRead:  # a streamed upload: nothing was kept
        body = b""
    return httpx.Request(request.method, redact_url(request.url), headers=headers, content=_scrub(body, known))


def redact_exception(exc: httpx.RequestError) -> None:
    """Replace the request an httpx exception holds by :func:`redact_request`'s copy, and scrub its
    message (some transports put the full URL, query included, into it)."""
    exc.args = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in exc.args)
    try:
        request = exc.request
    except RuntimeError:  # raised without a request (mock transports)
        return
    exc.request = redact_request(request)


def scrub_response(response: httpx.Response) -> httpx.Response:
    """A copy of an (error) response without the credentials of the request(s) behind it.

    The copy's body is the decoded body with every credential the requests carried removed (servers
    echo requests into error pages), its request is :func:`redact_request`'s, and so is every
    request of its ``history`` (the 401 answered before a token renewal).
    """
    chain = [response, *response.history]
    secrets: set[str] = set()
    for item in chain:
        secrets |= request_secrets(item._request)
    return _scrubbed_copy(response, secrets)


def _scrubbed_copy(response: httpx.Response, secrets: set[str]) -> httpx.Response:
    try:
        body = response.content
    except httpx.ResponseNotRead:
        body = b""
    headers = [
        (name, REDACTED if is_sensitive_name(name) else _scrub(value.encode(), secrets).decode("utf-8", "replace"))
        for name, value in response.headers.multi_items()
        if name.lower() not in _WIRE_HEADERS
    ]
    request = response._request
    extensions = {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        content=_scrub(body, secrets),
        request=redact_request(request, secrets) if request is not None else None,
        extensions=extensions,
    )
    copy.history = [_scrubbed_copy(item, secrets) for item in response.history]
    return copy
