"""Per-call options on every typed method: `timeout=`, `deadline=`, `max_retries=`, `extra_headers=`,
`extra_query=`.

They reach the one request they were given for (and no other), are checked before anything is sent, and a
call that names none of them goes through the session exactly as before (no copy of the context).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import ApiTimeoutError, ServerError, Session
from scp_async._session import ApiContext

from .helpers import ACCOUNTS_URL, TOKEN_URL, Sleeps, cis_key_dict, token_json

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
SUBACCOUNT_URL = f"{ACCOUNTS_URL}/accounts/v1/subaccounts/sa-1"
SUBACCOUNT = {
    "guid": "sa-1",
    "technicalName": "sa-1",
    "displayName": "Dev",
    "globalAccountGUID": "ga",
    "parentGUID": "ga",
    "region": "eu10",
    "subdomain": "dev",
    "betaEnabled": False,
    "createdDate": 1700000000000,
    "usedForProduction": "UNSET",
    "state": "OK",
    "stateMessage": "",
}


def _token(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(), is_reusable=True)


def test_each_option_reaches_only_the_call_it_was_given_for(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    _token(httpx_mock)
    httpx_mock.add_response(url=SUBACCOUNT_URL, json=SUBACCOUNT, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            got = await accounts.get_subaccount("sa-1", timeout=5, extra_headers={"X-Trace": "t-1"})
            assert got.display_name == "Dev"
            raw = await accounts.with_raw_response.get_subaccount("sa-1", timeout=7.5)
            assert raw.status_code == 200
            await accounts.get_subaccount("sa-1")

    run(main)
    first, second, third = httpx_mock.get_requests(url=SUBACCOUNT_URL)
    assert first.extensions["timeout"] == httpx.Timeout(5).as_dict()
    assert first.headers["X-Trace"] == "t-1"
    assert first.headers["Authorization"].startswith("Bearer ")  # the session's auth still applies
    assert second.extensions["timeout"] == httpx.Timeout(7.5).as_dict()
    assert "X-Trace" not in second.headers
    assert third.extensions["timeout"] == httpx.Timeout(60.0, connect=10.0).as_dict()  # the session's default


def test_extra_headers_join_the_operations_own_query_and_headers(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    _token(httpx_mock)
    httpx_mock.add_response(url=f"{SUBACCOUNT_URL}?derivedAuthorizations=any", json=SUBACCOUNT)

    async def main() -> None:
        from scp_async_clients.accounts.models import GetSubaccountDerivedAuthorizations

        async with make_session(headers={"X-Session": "s"}) as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            await accounts.get_subaccount(
                "sa-1",
                derived_authorizations=GetSubaccountDerivedAuthorizations("any"),
                extra_headers={"X-Call": "c", "X-Session": "overridden"},
            )

    run(main)
    (request,) = httpx_mock.get_requests(url=f"{SUBACCOUNT_URL}?derivedAuthorizations=any")
    assert request.headers["X-Call"] == "c"
    assert request.headers["X-Session"] == "overridden"


def test_extra_query_joins_the_operations_own_parameters_and_wins(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    # What the spec lacks (CF's created_ats[gt]=..., a parameter newer than the spec) goes with the call.
    _token(httpx_mock)
    url = f"{SUBACCOUNT_URL}?derivedAuthorizations=none&x-new=1&flags=a&flags=b&on=true"
    httpx_mock.add_response(url=url, json=SUBACCOUNT)

    async def main() -> None:
        from scp_async_clients.accounts.models import GetSubaccountDerivedAuthorizations

        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            await accounts.get_subaccount(
                "sa-1",
                derived_authorizations=GetSubaccountDerivedAuthorizations("any"),
                extra_query={"derivedAuthorizations": "none", "x-new": 1, "flags": ["a", "b"], "on": True},
            )

    run(main)
    assert len(httpx_mock.get_requests(url=url)) == 1


def test_max_retries_zero_makes_one_attempt(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    _token(httpx_mock)
    httpx_mock.add_response(url=SUBACCOUNT_URL, status_code=503, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            with pytest.raises(ServerError):
                await accounts.get_subaccount("sa-1", max_retries=0)

    run(main)
    assert len(httpx_mock.get_requests(url=SUBACCOUNT_URL)) == 1
    assert sleeps.delays == []


def test_deadline_bounds_the_one_call(run: Runner, httpx_mock: HTTPXMock) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return httpx.Response(200, json=SUBACCOUNT)

    _token(httpx_mock)
    httpx_mock.add_callback(slow, url=SUBACCOUNT_URL)

    async def main() -> None:
        async with Session(deadline=60) as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            started = time.monotonic()
            with pytest.raises(ApiTimeoutError, match=r"deadline of 0\.2 s"):
                await accounts.get_subaccount("sa-1", deadline=0.2)
            assert time.monotonic() - started < 2

    run(main)


class _NeverSent:
    """A context that fails the test if a request is sent (the checks must come first)."""

    base_url = "https://never.example"

    async def request(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a request was sent")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"timeout": "5"}, TypeError, "get_subaccount(): timeout must be float or httpx.Timeout or None, not str"),
        ({"timeout": True}, TypeError, "get_subaccount(): timeout must be float or httpx.Timeout or None, not bool"),
        ({"deadline": "1"}, TypeError, "get_subaccount(): deadline must be float or None, not str"),
        ({"deadline": 0}, ValueError, "get_subaccount(): deadline must be a positive number of seconds or None"),
        ({"max_retries": 1.5}, TypeError, "get_subaccount(): max_retries must be int, not float"),
        ({"max_retries": False}, TypeError, "get_subaccount(): max_retries must be int, not bool"),
        ({"max_retries": -1}, ValueError, "get_subaccount(): max_retries must be >= 0"),
        ({"extra_headers": [("a", "b")]}, TypeError, "get_subaccount(): extra_headers must be a mapping of str to str"),
        ({"extra_headers": {"X-N": 1}}, TypeError, "get_subaccount(): extra_headers must be a mapping of str to str"),
        (
            {"extra_query": [("a", "b")]},
            TypeError,
            "get_subaccount(): extra_query must be a mapping of str to str, int",
        ),
        ({"extra_query": {"a": None}}, TypeError, "get_subaccount(): extra_query must be a mapping of str to str, int"),
        ({"extra_query": {"a": [{}]}}, TypeError, "get_subaccount(): extra_query must be a mapping of str to str, int"),
    ],
)
def test_wrong_options_are_refused_before_sending(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    from scp_async_clients.accounts._namespace import AccountsApi

    accounts = AccountsApi(_NeverSent())  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(error) as raised:
            await accounts.get_subaccount("sa-1", **options)
        assert str(raised.value).startswith(message)
        assert "X-N" not in str(raised.value)  # values are never shown (a header may hold a secret)

    anyio.run(main)


def test_a_call_without_options_copies_nothing_and_passes_nothing_extra(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _token(httpx_mock)
    httpx_mock.add_response(url=SUBACCOUNT_URL, json=SUBACCOUNT, is_reusable=True)
    seen: list[dict[str, Any]] = []
    request = ApiContext.request

    async def spy(self: ApiContext, method: str, path: str, **kwargs: Any) -> httpx.Response:
        seen.append(kwargs)
        return await request(self, method, path, **kwargs)

    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("with_options was called")

    monkeypatch.setattr(ApiContext, "request", spy)
    monkeypatch.setattr(ApiContext, "with_options", no_copy)
    monkeypatch.setattr(Session, "with_options", no_copy)

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            await accounts.get_subaccount("sa-1")
            await accounts.get_subaccount("sa-1", max_retries=1, timeout=None)

    run(main)
    assert set(seen[0]) <= {"params", "headers", "json", "content", "files", "data"}
    assert seen[1]["max_retries"] == 1
    assert seen[1]["timeout"] is None
