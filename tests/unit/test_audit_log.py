from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import ApiError, AuditLogRecord, PaginationError, Session
from scp_async._audit_log import iterate_records
from scp_async._pagination import DEFAULT_MAX_PAGES

from .helpers import AUDIT_URL, TOKEN_URL, audit_key_dict, token_json

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
RECORDS = f"{AUDIT_URL}/auditlog/v2/auditlogrecords"
# Opaque handles contain characters that must be percent-encoded in a query string.
HANDLE = "eyJwYWdlIjoyfQ==+/&x=1 %41"


def _record(n: int, message: Any = None) -> dict[str, Any]:
    return {
        "message_uuid": f"uuid-{n}",
        "time": "2024-05-01T10:00:00.123Z",
        "tenant": "t-1",
        "user": "alice",
        "category": "audit.security-events",
        "message": message if message is not None else json.dumps({"uuid": f"m-{n}", "data": "plain"}),
    }


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query, keep_blank_values=True)


async def _collect(session: Session, **kwargs: Any) -> list[AuditLogRecord]:
    return [r async for r in session.audit_log(audit_key_dict()).records(**kwargs)]


def test_records_follow_paging_handles(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    pages = iter(
        [
            httpx.Response(200, json=[_record(1), _record(2)], headers={"Paging": f"handle={HANDLE}"}),
            httpx.Response(200, json=[_record(3)], headers={"Paging": "handle=second"}),
            httpx.Response(200, json=[_record(4)]),
        ]
    )
    httpx_mock.add_callback(
        lambda request: next(pages), url=re.compile(re.escape(RECORDS) + r"(\?.*)?$"), is_reusable=True
    )

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            return await _collect(
                session,
                time_from=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                time_to=dt.datetime(2024, 5, 2, 8, 30, 15, 999),  # naive: taken as UTC
                category="audit.security-events",
            )

    records = run(main)
    assert [r.message_uuid for r in records] == ["uuid-1", "uuid-2", "uuid-3", "uuid-4"]
    first, second, third = (r for r in httpx_mock.get_requests() if r.url.path.endswith("auditlogrecords"))
    window = {"time_from": ["2024-05-01T10:00:00"], "time_to": ["2024-05-02T08:30:15"],
              "category": ["audit.security-events"]}  # fmt: skip
    assert _query(first) == window
    assert _query(second) == {**window, "handle": [HANDLE]}
    assert "%2B" in str(second.url)
    assert "%2F" in str(second.url)
    assert "%26x%3D1" in str(second.url)
    assert _query(third) == {**window, "handle": ["second"]}


@pytest.mark.parametrize(
    "last",
    [
        httpx.Response(204),
        httpx.Response(200, json=None),
        httpx.Response(200, content=b""),
        httpx.Response(200, json=[]),
    ],
)
def test_empty_pages_end_iteration(make_session: Callable[..., Session], httpx_mock: HTTPXMock, last: Any) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_callback(lambda request: last, url=RECORDS)

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            return await _collect(session)

    assert anyio.run(main) == []


def test_204_with_paging_header_stops(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=RECORDS, status_code=204, headers={"Paging": "handle=more"})

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            return await _collect(session)

    assert anyio.run(main) == []
    assert len(httpx_mock.get_requests(url=RECORDS)) == 1


def test_repeated_handle_does_not_loop_forever(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    numbers = iter(range(1, 100))
    httpx_mock.add_callback(
        lambda request: httpx.Response(200, json=[_record(next(numbers))], headers={"Paging": "handle=same"}),
        url=re.compile(re.escape(RECORDS) + r"(\?.*)?$"),
        is_reusable=True,
    )

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            return await _collect(session)

    # The first page names the handle, the second repeats it: its records are the last ones.
    assert [r.message_uuid for r in anyio.run(main)] == ["uuid-1", "uuid-2"]
    assert len(httpx_mock.get_requests(url=re.compile(re.escape(RECORDS)))) == 2


def _fresh_handles(httpx_mock: HTTPXMock, records: Callable[[int], list[dict[str, Any]]]) -> None:
    """A server that announces a new handle on every page, with `records(n)` on the n-th page."""
    counter = iter(range(1, 1_000_000))

    def page(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        return httpx.Response(200, json=records(n), headers={"Paging": f"handle=h{n}"})

    httpx_mock.add_callback(page, url=re.compile(re.escape(RECORDS) + r"(\?.*)?$"), is_reusable=True)


def test_an_empty_page_ends_the_chain_whatever_handle_it_announces(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    _fresh_handles(httpx_mock, lambda n: [_record(n)] if n <= 2 else [])

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            with anyio.fail_after(10):
                return await _collect(session)

    assert [r.message_uuid for r in anyio.run(main)] == ["uuid-1", "uuid-2"]
    assert len(httpx_mock.get_requests(url=re.compile(re.escape(RECORDS)))) == 3


def test_a_repeated_page_under_a_fresh_handle_ends_the_chain_without_duplicates(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    _fresh_handles(httpx_mock, lambda n: [_record(1), _record(2)] if n >= 2 else [_record(0)])

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            with anyio.fail_after(10):
                return await _collect(session)

    assert [r.message_uuid for r in anyio.run(main)] == ["uuid-0", "uuid-1", "uuid-2"]
    assert len(httpx_mock.get_requests(url=re.compile(re.escape(RECORDS)))) == 3
    assert "same page of records twice" in caplog.text


def test_endless_fresh_pages_stop_at_the_page_ceiling(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    _fresh_handles(httpx_mock, lambda n: [_record(n)])
    seen: list[str | None] = []

    async def main() -> None:
        async with make_session() as session:
            context = session.audit_log(audit_key_dict()).context

            async def read() -> None:
                async for record in iterate_records(context, max_pages=3):
                    seen.append(record.message_uuid)

            with pytest.raises(PaginationError, match=r"after 3; stopped there.*narrow it") as caught:
                await read()
            assert caught.value.max_pages == 3

    anyio.run(main)
    assert seen == ["uuid-1", "uuid-2", "uuid-3"]
    assert len(httpx_mock.get_requests(url=re.compile(re.escape(RECORDS)))) == 3


def test_the_page_ceiling_defaults_to_paginate_s() -> None:
    import inspect

    assert inspect.signature(iterate_records).parameters["max_pages"].default == DEFAULT_MAX_PAGES
    with pytest.raises(ValueError, match="max_pages"):
        iterate_records(None, max_pages=0).__anext__().send(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'[{"message_uuid": "x"', b'{"records": []}'],
)
def test_malformed_pages_raise_api_error(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=RECORDS, content=body)

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(ApiError, match="audit log page"):
                await _collect(session)

    anyio.run(main)


def test_null_items_are_skipped(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=RECORDS, json=[None, _record(1), 5])

    async def main() -> list[AuditLogRecord]:
        async with make_session() as session:
            return await _collect(session)

    assert [r.message_uuid for r in anyio.run(main)] == ["uuid-1"]


def test_message_shapes() -> None:
    nested = AuditLogRecord.from_json(
        _record(1, json.dumps({"uuid": "m", "data": json.dumps({"attribute": "a", "new": "v"})}))
    )
    assert isinstance(nested.message, str)
    assert nested.message_object == {"uuid": "m", "data": '{"attribute": "a", "new": "v"}'}
    assert nested.data == {"attribute": "a", "new": "v"}
    assert nested.timestamp == dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)

    as_object = AuditLogRecord.from_json(_record(2, {"uuid": "m", "data": {"k": 1}}))
    assert as_object.message_object == {"uuid": "m", "data": {"k": 1}}
    assert as_object.data == {"k": 1}

    text = AuditLogRecord.from_json(_record(3, "free text, not JSON"))
    assert (text.message, text.message_object, text.data) == ("free text, not JSON", None, None)

    broken = AuditLogRecord.from_json({"message": '{"truncated": ', "time": "yesterday", "user": None})
    assert (broken.message_object, broken.timestamp, broken.user) == (None, None, None)

    weird = AuditLogRecord.from_json({"message": 42})
    assert (weird.message, weird.message_object) == (None, None)
    assert weird.raw == {"message": 42}
