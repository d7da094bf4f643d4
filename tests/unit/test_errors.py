from __future__ import annotations

from typing import Any

import httpx
import pytest

from scp_async import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ScpAsyncError,
    ServerError,
    ServiceKeyError,
    Unauthorized,
)
from scp_async._errors import error_for_response


def _response(
    status: int, body: Any = None, *, content: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example/v1/things?x=1&access_token=leak-me")
    if content is not None:
        return httpx.Response(status, content=content, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, ApiError),
        (422, ApiError),
    ],
)
def test_status_mapping(status: int, cls: type[ApiError]) -> None:
    error = error_for_response(_response(status, {}))
    assert type(error) is cls
    assert isinstance(error, ScpAsyncError)
    assert error.status_code == error.status == status


def test_tree() -> None:
    assert issubclass(ApiTimeoutError, ApiConnectionError)
    assert not issubclass(ApiConnectionError, ApiError)
    assert issubclass(ServiceKeyError, ValueError)
    assert issubclass(ServiceKeyError, ScpAsyncError)


def test_sap_error_shape() -> None:
    body = {"error": {"code": 11004, "message": "Subaccount not found", "target": "/subaccounts/1",
                      "correlationID": "corr-body"}}  # fmt: skip
    error = error_for_response(_response(404, body))
    assert (error.error_code, error.message, error.target) == ("11004", "Subaccount not found", "/subaccounts/1")
    assert error.correlation_id == "corr-body"
    assert error.method == "GET"
    assert "leak-me" not in error.url
    assert error.url.endswith("?x=1&access_token=[REDACTED]")
    assert "Subaccount not found" in str(error)
    assert "leak-me" not in str(error)


def test_header_correlation_id_wins_and_fallbacks() -> None:
    body = {"error": {"code": "x", "message": "m", "correlationID": "from-body"}}
    assert error_for_response(_response(400, body, headers={"X-CorrelationID": "h1"})).correlation_id == "h1"
    assert error_for_response(_response(400, body, headers={"x-correlationid": "h2"})).correlation_id == "h2"
    assert error_for_response(_response(400, {}, headers={"X-Vcap-Request-Id": "v1"})).correlation_id == "v1"


def test_flat_and_oauth_shapes() -> None:
    flat = error_for_response(_response(409, {"code": "CONFLICT", "message": "exists"}))
    assert (flat.error_code, flat.message) == ("CONFLICT", "exists")
    oauth = error_for_response(_response(401, {"error": "invalid_token", "error_description": "expired"}))
    assert (oauth.error_code, oauth.message) == ("invalid_token", "expired")


def test_cf_v3_errors() -> None:
    body = {"errors": [{"code": 10008, "title": "CF-UnprocessableEntity", "detail": "name taken"},
                       {"code": 10010, "title": "CF-ResourceNotFound", "detail": "no space"}]}  # fmt: skip
    error = error_for_response(_response(422, body))
    assert error.error_code == "CF-UnprocessableEntity"
    assert [e.code for e in error.errors] == [10008, 10010]
    assert error.errors[1].detail == "no space"
    assert error.message == "name taken; no space"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<html><head><title>502 Bad Gateway</title></head><body><h1>oops</h1></body></html>", "502 Bad Gateway"),
        (b"<html><body><h1>Service   Unavailable</h1></body></html>", "Service Unavailable"),
        (b'{"error": {"code": "x", "message": "trunc', '{"error": {"code": "x", "message": "trunc'),
        (b"null", "Bad Gateway"),
        (b"", "Bad Gateway"),
        (b"\xff\xfe garbage \x00", "garbage"),
        (b'{"error": null, "message": null}', "Bad Gateway"),
        (b'{"errors": [null, 3]}', "Bad Gateway"),
        (b"[1, 2]", "[1, 2]"),
    ],
)
def test_bodies_that_are_not_what_was_declared(content: bytes, expected: str) -> None:
    error = error_for_response(_response(502, content=content))
    assert isinstance(error, ServerError)
    assert expected in error.message
    assert len(error.message) <= 200


def test_long_text_is_excerpted() -> None:
    error = error_for_response(_response(500, content=b"x" * 5000))
    assert len(error.message) == 200
    assert error.message.endswith("…")


def test_rate_limited_keeps_retry_after() -> None:
    error = error_for_response(_response(429, {}), retry_after=120.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 120.0


def test_error_without_request_still_builds() -> None:
    error = ApiError(httpx.Response(500, content=b"boom"))
    assert (error.method, error.url, error.message) == ("", "", "boom")
