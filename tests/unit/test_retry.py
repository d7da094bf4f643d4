from __future__ import annotations

import httpx
import pytest

from scp_async import RetryPolicy
from scp_async._retry import parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),  # NOW is 22:13:20 GMT
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Reset": str(int((NOW + 12) * 1000))}, 12.0),  # epoch milliseconds
        ({"X-RateLimit-Reset": str(int(NOW + 5))}, 5.0),  # epoch seconds
        ({"X-RateLimit-Reset": "3"}, 3.0),  # relative seconds
        ({"X-RateLimit-Reset": "later"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW) == expected


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "get"])
@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_idempotent_methods_retry_statuses(method: str, status: int) -> None:
    assert RetryPolicy().retries_status(method, status)


@pytest.mark.parametrize(("method", "status"), [("POST", 503), ("PATCH", 429), ("GET", 500), ("GET", 404)])
def test_statuses_not_retried(method: str, status: int) -> None:
    assert not RetryPolicy().retries_status(method, status)


_request = httpx.Request("POST", "https://x")


@pytest.mark.parametrize(
    ("exc", "post", "get"),
    [
        (httpx.ConnectError("refused", request=_request), True, True),
        (httpx.ConnectTimeout("slow", request=_request), True, True),
        (httpx.PoolTimeout("busy", request=_request), True, True),
        (httpx.ReadTimeout("slow", request=_request), False, True),
        (httpx.ReadError("reset", request=_request), False, True),
        (httpx.RemoteProtocolError("eof", request=_request), False, True),
        (httpx.UnsupportedProtocol("ftp", request=_request), False, False),
    ],
)
def test_transport_errors(exc: Exception, post: bool, get: bool) -> None:
    policy = RetryPolicy()
    assert policy.retries_exception("POST", exc) is post
    assert policy.retries_exception("PATCH", exc) is post
    assert policy.retries_exception("GET", exc) is get


def test_full_jitter_backoff_is_capped() -> None:
    top = RetryPolicy(initial_backoff=0.5, max_backoff=8.0, random=lambda: 1.0)
    assert [top.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    bottom = RetryPolicy(random=lambda: 0.0)
    assert bottom.backoff(3) == 0.0
    half = RetryPolicy(random=lambda: 0.5)
    assert half.backoff(2) == 0.5
