from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import (
    ApiConnectionError,
    ApiContext,
    ApiTimeoutError,
    CloudFoundry,
    NotFound,
    RateLimited,
    ScpAsyncError,
    ServerError,
    ServiceKeyError,
    Session,
)

from .helpers import (
    ACCOUNTS_URL,
    PASSWORD,
    SM_URL,
    TOKEN_URL,
    Sleeps,
    audit_key_dict,
    cis_key_dict,
    form,
    sm_key_dict,
    token_json,
)

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
URL = "https://api.example/v1/things"


def _run(make_session: Callable[..., Session], body: Callable[[Session], Awaitable[Any]], **kwargs: Any) -> Any:
    async def main() -> Any:
        async with make_session(**kwargs) as session:
            return await body(session)

    return anyio.run(main)


# -- retries -------------------------------------------------------------------------------


def test_get_retries_gateway_errors_with_backoff(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, status_code=503)
    httpx_mock.add_response(url=URL, status_code=502)
    httpx_mock.add_response(url=URL, json={"ok": True})

    async def main() -> None:
        async with make_session() as session:
            response = await session.request("GET", URL)
            assert response.json() == {"ok": True}

    run(main)
    assert sleeps.delays == [0.5, 1.0]


def test_retries_are_bounded_then_the_error_is_raised(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, status_code=504, is_reusable=True)
    with pytest.raises(ServerError):
        _run(make_session, lambda s: s.request("GET", URL))
    assert len(httpx_mock.get_requests()) == 6  # 1 + max_retries (5)
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_is_not_retried_on_status(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, method: str
) -> None:
    httpx_mock.add_response(url=URL, status_code=503)
    with pytest.raises(ServerError):
        _run(make_session, lambda s: s.request(method, URL, json={"a": 1}))
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("exc", "attempts"),
    [(httpx.ConnectError("refused"), 2), (httpx.ConnectTimeout("slow"), 2), (httpx.PoolTimeout("busy"), 2),
     (httpx.ReadTimeout("slow"), 1), (httpx.ReadError("reset"), 1), (httpx.RemoteProtocolError("eof"), 1)],
)  # fmt: skip
def test_post_retried_only_if_never_sent(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, exc: Exception, attempts: int
) -> None:
    httpx_mock.add_exception(exc, url=URL)
    if attempts == 2:
        httpx_mock.add_response(url=URL, status_code=201, json={})
        response = _run(make_session, lambda s: s.request("POST", URL, json={"a": 1}))
        assert response.status_code == 201
    else:
        with pytest.raises(ApiConnectionError) as info:
            _run(make_session, lambda s: s.request("POST", URL, json={"a": 1}))
        assert isinstance(info.value, ApiTimeoutError) is isinstance(exc, httpx.TimeoutException)
        assert info.value.__cause__ is exc
    assert len(httpx_mock.get_requests()) == attempts


def test_get_retries_read_errors_then_raises_connection_error(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadError("reset"), url=URL, is_reusable=True)
    with pytest.raises(ApiConnectionError, match=r"ReadError: reset \(GET https://api.example/v1/things\)"):
        _run(make_session, lambda s: s.request("GET", URL))
    assert len(httpx_mock.get_requests()) == 6


def test_retry_after_is_honoured(make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=URL, status_code=503, headers={"X-RateLimit-Reset": str((1_700_000_000 + 3) * 1000)})
    httpx_mock.add_response(url=URL, json={})
    _run(make_session, lambda s: s.request("GET", URL))
    assert sleeps.delays == [7.0, 3.0]


def test_too_long_retry_after_raises_rate_limited_without_sleeping(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "3600"}, json={"message": "slow down"})
    with pytest.raises(RateLimited) as info:
        _run(make_session, lambda s: s.request("GET", URL))
    assert info.value.retry_after == 3600.0
    assert info.value.message == "slow down"
    assert sleeps.delays == []


def test_per_call_and_view_options(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=503, is_reusable=True)

    async def body(session: Session) -> None:
        with pytest.raises(ServerError):
            await session.request("GET", URL, max_retries=0)
        assert len(httpx_mock.get_requests()) == 1
        view = session.with_options(max_retries=1, timeout=httpx.Timeout(2.0, connect=1.0), headers={"X-A": "1"})
        assert view.http_client is session.http_client
        assert view.tokens is session.tokens
        with pytest.raises(ServerError):
            await view.request("GET", URL)
        assert len(httpx_mock.get_requests()) == 3
        last = httpx_mock.get_requests()[-1]
        assert last.extensions["timeout"] == {"connect": 1.0, "read": 2.0, "write": 2.0, "pool": 2.0}
        assert last.headers["X-A"] == "1"
        assert session.options.retry.max_retries == 5  # the parent is unchanged

    _run(make_session, body)


def test_default_timeouts(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL)
    _run(make_session, lambda s: s.request("GET", URL))
    assert httpx_mock.get_requests()[0].extensions["timeout"] == {
        "connect": 10.0,
        "read": 60.0,
        "write": 60.0,
        "pool": 60.0,
    }


def test_negative_max_retries_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Session(max_retries=-1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            lambda: {"transport": httpx.AsyncClient()},
            r"transport must be an httpx.AsyncBaseTransport .* not AsyncClient \(a client goes as http_client=\)",
        ),
        (lambda: {"transport": httpx.HTTPTransport()}, r"an httpx.AsyncBaseTransport .* not HTTPTransport$"),
        (lambda: {"http_client": httpx.Client()}, r"http_client must be an httpx.AsyncClient, not Client$"),
        (
            lambda: {"http_client": httpx.AsyncHTTPTransport()},
            r"not AsyncHTTPTransport \(a transport goes as transport=",
        ),
        (
            lambda: {"http_client": httpx.AsyncClient(), "transport": httpx.AsyncHTTPTransport()},
            "pass http_client= or transport=, not both",
        ),
    ],
)
def test_a_client_or_transport_of_the_wrong_kind_is_refused_at_once(
    arguments: Callable[[], dict[str, Any]], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Session(**arguments())


def test_closed_session_refuses_requests(make_session: Callable[..., Session]) -> None:
    async def main() -> None:
        session = make_session()
        await session.aclose()
        await session.aclose()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            await session.request("GET", URL)

    anyio.run(main)


def test_logging_shows_method_url_status_and_retries_but_no_secrets(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scp_async")
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={})

    async def body(session: Session) -> None:
        await session.cloud_management(cis_key_dict()).accounts.request(
            "GET", "/x", params={"client_secret": "qs-secret", "page": "2"}
        )

    _run(make_session, body)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "scp_async")
    assert f"GET {ACCOUNTS_URL}/x?client_secret=[REDACTED]&page=2 -> 503" in text
    assert "retry 1/5" in text
    assert "-> 200 in " in text
    assert "(retries: 1)" in text
    assert "token POST" in text
    assert "qs-secret" not in text
    assert "Bearer" not in text


# -- error mapping and API objects -----------------------------------------------------------


def test_error_mapping_through_api(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(
        url=f"{SM_URL}/v1/service_instances/nope",
        status_code=404,
        json={"error": "NotFound", "description": "instance not found"},
        headers={"X-Correlationid": "c-1"},
    )

    async def body(session: Session) -> None:
        sm = session.service_manager(sm_key_dict())
        assert sm.base_url == SM_URL
        with pytest.raises(NotFound) as info:
            await sm.request("GET", "v1/service_instances/nope")
        assert info.value.correlation_id == "c-1"
        assert info.value.error_code == "NotFound"

    _run(make_session, body)


def test_non_raising_request(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=404)
    response = _run(make_session, lambda s: s.request("GET", URL, raise_for_status=False))
    assert response.status_code == 404


def test_cloud_management_endpoints(make_session: Callable[..., Session]) -> None:
    async def body(session: Session) -> None:
        cis = session.cloud_management(cis_key_dict())
        assert cis.accounts.base_url == ACCOUNTS_URL
        assert cis.api("entitlements").base_url == cis.entitlements.base_url
        assert cis.provisioning.context.auth is cis.accounts.context.auth
        for api in (cis.saas_provisioning, cis.events):
            assert isinstance(api.context, ApiContext)
        assert cis.accounts.context.url("/a/b") == f"{ACCOUNTS_URL}/a/b"
        assert cis.accounts.context.url("https://other/x") == "https://other/x"
        with pytest.raises(ServiceKeyError, match=r"no endpoint 'metering'.*accounts_service_url"):
            cis.api("metering")
        with pytest.raises(ServiceKeyError, match="expected a Cloud Management"):
            session.cloud_management(audit_key_dict())
        slower = cis.with_options(timeout=300)
        assert slower.accounts.context.session.options.timeout.read == 300
        assert cis.accounts.context.session.options.timeout.read == 60

    _run(make_session, body)


def test_httpx_client_seam_routes_through_the_session(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    """Generated clients get an ``httpx.AsyncClient``; it must reuse auth, retries and errors."""
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/subaccounts?state=OK", status_code=503)
    httpx_mock.add_response(
        url=f"{ACCOUNTS_URL}/accounts/v1/subaccounts?state=OK",
        content=b'{"value": []}',
        headers={"Content-Type": "application/json"},
    )
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/subaccounts", method="POST", status_code=409,
                            json={"error": {"code": 1, "message": "dup"}})  # fmt: skip

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            async with accounts.context.httpx_client() as client:
                response = await client.get("/accounts/v1/subaccounts", params={"state": "OK"})
                assert response.json() == {"value": []}
                from scp_async import Conflict

                with pytest.raises(Conflict):
                    await client.post("/accounts/v1/subaccounts", json={"displayName": "x"})
            # Closing the generated client's httpx client leaves the session usable.
            assert not session.http_client.is_closed

    run(main)
    post = httpx_mock.get_requests(method="POST", url=f"{ACCOUNTS_URL}/accounts/v1/subaccounts")[0]
    assert json.loads(post.content) == {"displayName": "x"}
    assert post.headers["Authorization"].startswith("Bearer ")
    assert len(sleeps.delays) == 1


# -- Cloud Foundry ---------------------------------------------------------------------------

CF_API = "https://api.cf.eu10.hana.ondemand.com"
CF_UAA = "https://uaa.cf.eu10.hana.ondemand.com"


def test_cloud_foundry_password_login_discovers_uaa(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=f"{CF_API}/",
        json={"links": {"uaa": {"href": CF_UAA}, "login": {"href": "https://login.cf.eu10.hana.ondemand.com"}}},
    )
    httpx_mock.add_response(url=f"{CF_UAA}/oauth/token", json=token_json("cf-token"))
    httpx_mock.add_response(url=f"{CF_API}/v3/organizations", json={"resources": []})

    async def main() -> None:
        async with make_session() as session:
            cf = await session.cloud_foundry(CF_API, username="me@example.com", password=PASSWORD, origin="sap.ids")
            assert isinstance(cf, CloudFoundry)
            assert (cf.uaa_url, cf.login_url) == (CF_UAA, "https://login.cf.eu10.hana.ondemand.com")
            response = await cf.request("GET", "/v3/organizations")
            assert response.request.headers["Authorization"] == "Bearer cf-token"
            assert PASSWORD not in repr(cf) + repr(cf.context.auth)

    run(main)
    token_request = httpx_mock.get_requests(url=f"{CF_UAA}/oauth/token")[0]
    assert form(token_request)["login_hint"] == '{"origin":"sap.ids"}'
    assert token_request.headers["Authorization"] == "Basic Y2Y6"  # "cf:"
    assert "Authorization" not in httpx_mock.get_requests(url=f"{CF_API}/")[0].headers


def test_cloud_foundry_falls_back_to_v2_info(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CF_API}/", status_code=404, text="<html>nope</html>")
    httpx_mock.add_response(url=f"{CF_API}/v2/info", json={"token_endpoint": CF_UAA, "authorization_endpoint": "L"})
    cf = _run(make_session, lambda s: s.cloud_foundry(CF_API, username="u", password="p"))
    assert (cf.uaa_url, cf.login_url) == (CF_UAA, "L")


def test_cloud_foundry_requires_credentials(make_session: Callable[..., Session]) -> None:
    with pytest.raises(ValueError, match="username and password"):
        _run(make_session, lambda s: s.cloud_foundry(CF_API))


def test_cloud_foundry_reuses_cf_cli_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    (tmp_path / ".cf").mkdir()
    (tmp_path / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "AccessToken": "bearer cli-access",
                "RefreshToken": "cli-refresh",
                "Target": CF_API,
                "UAAEndpoint": CF_UAA,
                "AuthorizationEndpoint": "https://login.cf",
            }
        )
    )
    monkeypatch.setenv("CF_HOME", str(tmp_path))
    sent: list[str] = []

    def spaces(request: httpx.Request) -> httpx.Response:
        # The auth flow re-sends the same Request object, so read the header as it was sent.
        sent.append(request.headers["Authorization"])
        return httpx.Response(401 if len(sent) == 1 else 200, json={"resources": []})

    httpx_mock.add_callback(spaces, url=f"{CF_API}/v3/spaces", is_reusable=True)
    httpx_mock.add_response(url=f"{CF_UAA}/oauth/token", json=token_json("renewed"))

    async def body(session: Session) -> None:
        cf = await session.cloud_foundry(use_cf_cli_config=True)
        assert cf.base_url == CF_API
        await cf.request("GET", "/v3/spaces")

    _run(make_session, body)
    assert sent == ["Bearer cli-access", "Bearer renewed"]
    assert form(httpx_mock.get_requests(url=f"{CF_UAA}/oauth/token")[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": "cli-refresh",
    }


def test_cloud_foundry_without_uaa_links(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CF_API}/", json={"links": None})
    httpx_mock.add_response(url=f"{CF_API}/v2/info", json={"name": "cf"})
    with pytest.raises(ScpAsyncError, match="cannot find the UAA"):
        _run(make_session, lambda s: s.cloud_foundry(CF_API, username="u", password="p"))


def test_api_context_with_options_and_user_agent(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=f"{SM_URL}/v1/x", status_code=503, is_reusable=True)

    async def body(session: Session) -> None:
        sm = session.service_manager(sm_key_dict())
        once = sm.with_options(max_retries=0, headers={"X-Trace": "t"})
        assert type(once) is type(sm)
        assert (once.base_url, once.context.auth) == (sm.base_url, sm.context.auth)
        async with once.context.httpx_client() as client:
            with pytest.raises(ServerError):
                await client.get("/v1/x")

    _run(make_session, body)
    (request,) = httpx_mock.get_requests(url=f"{SM_URL}/v1/x")
    assert request.headers["X-Trace"] == "t"
    assert request.headers["User-Agent"].startswith("scp-async")


def test_cookies_a_server_sets_are_sent_back_and_others_cost_nothing(httpx_mock: HTTPXMock) -> None:
    url = "https://deploy-service.example/api/v1/csrf-token"
    httpx_mock.add_response(url=url, headers={"Set-Cookie": "JSESSIONID=abc; Path=/"})
    httpx_mock.add_response(url=url)
    httpx_mock.add_response(url=url)

    async def main() -> list[str | None]:
        async with Session() as session:
            for _ in range(3):
                await session.request("GET", url)
            return [r.headers.get("cookie") for r in httpx_mock.get_requests()]

    assert anyio.run(main) == [None, "JSESSIONID=abc", "JSESSIONID=abc"]
