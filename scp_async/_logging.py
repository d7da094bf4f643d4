"""Redacting helpers for the ``scp_async`` stdlib logger.

Everything this package logs goes through :func:`redact_url` / :func:`redact_headers` first;
:class:`RedactingFilter` is a second line of defence that users may also attach to their own
handlers (for example to tame the request lines ``httpx`` logs at INFO).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SENSITIVE_NAMES",
    "RedactingFilter",
    "is_sensitive_name",
    "logger",
    "redact_headers",
    "redact_text",
    "redact_url",
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
