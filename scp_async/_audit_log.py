"""Audit log records: the ``Paging: handle=...`` chain and a record type that takes ``message`` as sent.

The service returns records in chunks of 500 and announces the next chunk in a ``Paging`` response
header; ``message`` arrives as a JSON string from some deployments and as an object from others.

The chain ends by the same rules as :func:`~scp_async.paginate`, whatever the server announces: on an
empty page, on a handle or a page of records seen before (not yielded again), and at ``max_pages`` pages,
where :class:`~scp_async.PaginationError` is raised instead of following handles forever.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from ._errors import ApiError, ScpAsyncError
from ._logging import logger
from ._pagination import DEFAULT_MAX_PAGES, PaginationError

if TYPE_CHECKING:
    from ._session import ApiContext

__all__ = ["AUDIT_LOG_RECORDS_PATH", "AuditLogRecord", "iterate_records"]

AUDIT_LOG_RECORDS_PATH = "/auditlog/v2/auditlogrecords"


def _format_time(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return jsonlib.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class AuditLogRecord:
    """One audit log record.

    ``message`` is what the service sent (a JSON string or an object); ``message_object`` is
    it as a mapping when it is one, and ``data`` the decoded ``message.data``.
    """

    message_uuid: str | None
    time: str | None
    category: str | None
    user: str | None
    tenant: str | None
    message: str | Mapping[str, Any] | None
    message_object: Mapping[str, Any] | None = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> AuditLogRecord:
        """Build a record from one element of the service's JSON array."""
        message = item.get("message")
        parsed = _maybe_json(message)

        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value)

        return cls(
            message_uuid=text("message_uuid"),
            time=text("time"),
            category=text("category"),
            user=text("user"),
            tenant=text("tenant"),
            message=message if isinstance(message, (str, Mapping)) else None,
            message_object=parsed if isinstance(parsed, Mapping) else None,
            raw=item,
        )

    @property
    def data(self) -> Any:
        """``message.data``, decoded when it is JSON text; ``None`` if absent."""
        if self.message_object is None:
            return None
        return _maybe_json(self.message_object.get("data"))

    @property
    def timestamp(self) -> datetime | None:
        """:attr:`time` as an aware UTC datetime, when it parses."""
        if not self.time:
            return None
        try:
            parsed = datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _RecordsPaginationError(PaginationError):
    # PaginationError's hint names paginate(); the audit log's remedy is a narrower window.
    def __init__(self, max_pages: int) -> None:
        self.operation = "audit log records"
        self.max_pages = max_pages
        ScpAsyncError.__init__(
            self,
            f"audit log records: the server still announced more pages after {max_pages}; stopped there. "
            "If the window really holds that many records, narrow it (time_from/time_to) or raise max_pages",
        )


async def iterate_records(
    api: ApiContext,
    *,
    time_from: datetime | str | None = None,
    time_to: datetime | str | None = None,
    category: str | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[AuditLogRecord]:
    """Iterate over the records of a time window, page by page (see :meth:`AuditLog.records`)."""
    if max_pages < 1:
        raise ValueError(f"max_pages must be at least 1, not {max_pages}")
    base: dict[str, str] = {}
    if time_from is not None:
        base["time_from"] = _format_time(time_from)
    if time_to is not None:
        base["time_to"] = _format_time(time_to)
    if category is not None:
        base["category"] = category
    params = dict(base)
    handles: set[str] = set()
    pages: set[int] = set()
    fetched = 0
    while True:
        if fetched == max_pages:
            raise _RecordsPaginationError(max_pages)
        response = await api.request("GET", AUDIT_LOG_RECORDS_PATH, params=params)
        fetched += 1
        if response.status_code == 204:
            return
        items = _records_of(response)
        if not items:  # an empty page ends the chain, whatever handle comes with it
            return
        fingerprint = hash(tuple(_identity(item) for item in items))
        if fingerprint in pages:
            logger.warning("audit log returned the same page of records twice; stopping")
            return
        pages.add(fingerprint)
        for item in items:
            yield AuditLogRecord.from_json(item)
        handle = _paging_handle(response.headers.get("paging"))
        if handle is None:
            return
        if handle in handles:  # a server bug would otherwise loop forever
            logger.warning("audit log returned a paging handle twice; stopping")
            return
        handles.add(handle)
        params = {**base, "handle": handle}


def _identity(item: Mapping[str, Any]) -> str:
    identity = item.get("message_uuid")
    if isinstance(identity, str) and identity:
        return identity
    return jsonlib.dumps(item, sort_keys=True, default=repr)


def _records_of(response: httpx.Response) -> list[Mapping[str, Any]]:
    if not response.content.strip():
        return []
    try:
        body = response.json()
    except (ValueError, RecursionError):
        raise ApiError(response, message="audit log page is not valid JSON") from None
    if body is None:
        return []
    if not isinstance(body, list):
        raise ApiError(response, message=f"audit log page is a JSON {type(body).__name__}, expected an array")
    return [item for item in body if isinstance(item, Mapping)]


def _paging_handle(header: str | None) -> str | None:
    if not header:
        return None
    value = header.strip()
    prefix = "handle="
    if value[: len(prefix)].lower() == prefix:
        value = value[len(prefix) :]
    return value or None
