"""The direct lane (scp_async/_direct.py): a session's bodiless requests skip httpx's objects, and answer
exactly as the httpx path does, which a session given a transport of its own still takes."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
import pytest

from scp_async import ApiError, DefaultTransport, NotFound, ResponseTooLargeError, Session, _direct
from scp_async._wire import WireResponse

from .conftest import Exchange, Loopback

BODY = {"guid": "1b3dbd5c-e9a1-4a6f-81f7-6d1c2dbc2134", "name": "grüße", "n": [1, 2.5, None]}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs sent on the direct lane."""
    sent: list[str] = []
    exchange = _direct.DirectLane.exchange

    async def counting(self: _direct.DirectLane, pool: Any, request: _direct.DirectRequest, *args: Any) -> Any:
        sent.append(str(request.url))
        return await exchange(self, pool, request, *args)

    monkeypatch.setattr(_direct.DirectLane, "exchange", counting)
    return sent


def _routes(loopback: Loopback) -> None:
    def echo(ex: Exchange) -> None:
        seen = {k.lower(): v for k, v in ex.headers.items() if k.lower() not in ("host", "connection")}
        ex.reply(200, {"path": ex.path, "headers": seen}, {"X-Thing": "1"})

    loopback.routes[("GET", "/json")] = lambda ex: ex.reply(200, BODY, {"X-Thing": "1"})
    loopback.routes[("GET", "/echo")] = echo
    loopback.routes[("GET", "/chunked")] = lambda ex: ex.stream(200, iter([b'{"a":', b" 1}"]))
    loopback.routes[("DELETE", "/gone")] = lambda ex: ex.reply(204)
    loopback.routes[("GET", "/gzip")] = lambda ex: ex.reply(
        200, gzip.compress(json.dumps(BODY).encode()), {"Content-Encoding": "gzip"}
    )
    loopback.routes[("GET", "/missing")] = lambda ex: ex.reply(404, {"error": {"code": 404, "message": "nope"}})


async def _answers(session: Session, url: str) -> list[Any]:
    out: list[Any] = []
    for method, path, kwargs in [
        ("GET", "/json", {}),
        ("GET", "/echo", {"params": {"a": "x y", "b": ["1", "2"]}, "headers": {"X-Call": "c"}}),
        ("GET", "/chunked", {}),
        ("DELETE", "/gone", {}),
        ("GET", "/gzip", {}),
    ]:
        response = await session.request(method, f"{url}{path}", **kwargs)
        assert isinstance(response, httpx.Response)
        headers = {k: v for k, v in response.headers.items() if k not in ("date", "server")}
        out.append((response.status_code, headers, response.content, str(response.request.url)))
        assert response.elapsed.total_seconds() > 0
    with pytest.raises(NotFound) as caught:
        await session.request("GET", f"{url}/missing")
    error = caught.value
    out.append((type(error), error.status_code, str(error), error.response.json()))
    return out


def test_the_direct_lane_answers_as_the_httpx_path_does(loopback: Loopback, counted: list[str]) -> None:
    _routes(loopback)

    async def main() -> tuple[list[Any], list[Any]]:
        async with Session(headers={"X-Session": "s"}) as session:
            direct = await _answers(session, loopback.url)
        assert len(counted) == 6  # every call above took the lane
        async with Session(headers={"X-Session": "s"}, transport=DefaultTransport()) as session:
            long_way = await _answers(session, loopback.url)
        assert len(counted) == 6  # a transport of one's own: httpx's path
        return direct, long_way

    direct, long_way = asyncio.run(main())
    assert direct == long_way
    echoed = json.loads(direct[1][2])
    assert echoed["path"] == "/echo?a=x+y&b=1&b=2"
    assert echoed["headers"]["x-call"] == "c"
    assert echoed["headers"]["x-session"] == "s"
    assert echoed["headers"]["user-agent"].startswith("scp-async/")
    assert json.loads(direct[4][2]) == BODY  # gzip decoded by httpx's reader


def test_the_direct_lane_answers_the_same_on_uvloop(loopback: Loopback, counted: list[str]) -> None:
    """uvloop, the loop uvicorn (so many a service that calls us) runs on: its transports are no asyncio
    classes, and a typed call must not care."""
    uvloop = pytest.importorskip("uvloop")
    _routes(loopback)
    subaccount_body = {
        "guid": "sa-1",
        "technicalName": "sa-1",
        "displayName": "one",
        "globalAccountGUID": "ga",
        "parentGUID": "ga",
        "region": "eu10",
        "subdomain": "one",
        "betaEnabled": False,
        "usedForProduction": "UNSET",
        "state": "OK",
        "createdDate": 1700000000000,
    }
    loopback.routes[("GET", "/accounts/v1/subaccounts/sa-1")] = lambda ex: ex.reply(200, subaccount_body)

    async def main() -> tuple[list[Any], Any]:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with Session(headers={"X-Session": "s"}) as session:
            answers = await _answers(session, loopback.url)
            accounts = session.cloud_management(loopback.cis_key()).accounts
            subaccount = await accounts.get_subaccount("sa-1", deadline=5)
        return answers, subaccount

    answers, subaccount = uvloop.run(main())
    assert len(counted) == 7  # every GET and DELETE above took the lane, the typed call too

    async def long_way() -> list[Any]:
        async with Session(headers={"X-Session": "s"}, transport=DefaultTransport()) as session:
            return await _answers(session, loopback.url)

    assert answers == asyncio.run(long_way())
    assert subaccount.display_name == "one"


def test_a_call_on_the_direct_lane_renews_a_revoked_token_once(loopback: Loopback, counted: list[str]) -> None:
    calls: list[str] = []

    def subaccount(ex: Exchange) -> None:
        calls.append(ex.headers.get("Authorization", ""))
        if len(calls) == 1:
            loopback.tokens.clear()  # revoked before its time
        if not loopback.authorized(ex):
            ex.reply(401, {"error": "invalid_token"})
            return
        ex.reply(200, {"guid": "sa-1", "displayName": "one"})

    loopback.routes[("GET", "/accounts/v1/subaccounts/sa-1")] = subaccount

    async def main() -> Any:
        async with Session() as session:
            accounts = session.cloud_management(loopback.cis_key()).accounts
            return (await accounts.request("GET", "/accounts/v1/subaccounts/sa-1")).json()

    assert asyncio.run(main())["displayName"] == "one"
    assert len(calls) == 2
    assert len(counted) == 1  # the 401 and its renewal are one exchange of the lane
    assert loopback.hits[("POST", "/oauth/token")] == 2


@pytest.mark.parametrize("path", ["/declared", "/chunked"])
def test_the_direct_lane_stops_reading_past_max_response_size(
    loopback: Loopback, counted: list[str], path: str
) -> None:
    big = b'{"x": "' + b"y" * 50_000 + b'"}'
    loopback.routes[("GET", "/declared")] = lambda ex: ex.reply(200, big)
    loopback.routes[("GET", "/chunked")] = lambda ex: ex.stream(
        200, iter([big[i : i + 4096] for i in range(0, len(big), 4096)])
    )

    async def main() -> None:
        async with Session(max_response_size=10_000) as session:
            with pytest.raises(ResponseTooLargeError) as caught:
                await session.request("GET", f"{loopback.url}{path}")
            assert caught.value.status_code == 200
            assert caught.value.url == f"{loopback.url}{path}"
            # the connection was not left half-read: the next call works
            loopback.routes[("GET", "/small")] = lambda ex: ex.reply(200, {"ok": True})
            assert (await session.request("GET", f"{loopback.url}/small")).json() == {"ok": True}

    asyncio.run(main())
    assert len(counted) == 2


def test_the_lane_steps_aside_for_bodies_and_for_what_the_client_was_told(
    loopback: Loopback, counted: list[str]
) -> None:
    loopback.routes[("GET", "/json")] = lambda ex: ex.reply(200, BODY)
    loopback.routes[("POST", "/json")] = lambda ex: ex.reply(200, BODY)

    async def main() -> None:
        async with Session() as session:
            await session.request("POST", f"{loopback.url}/json", json={"a": 1})
            assert counted == []
            session.http_client.follow_redirects = True
            await session.request("GET", f"{loopback.url}/json")
            assert counted == []
            session.http_client.follow_redirects = False
            session.http_client.headers["X-Later"] = "1"  # taken up by the lane
            await session.request("GET", f"{loopback.url}/json")
            assert len(counted) == 1
            assert loopback.seen[-1].headers.get("X-Later") == "1"

    asyncio.run(main())


def test_an_error_from_the_direct_lane_carries_no_token(loopback: Loopback) -> None:
    loopback.routes[("GET", "/accounts/v1/subaccounts/sa-1")] = lambda ex: ex.reply(
        500, {"error": {"message": f"echo {ex.headers.get('Authorization')}"}}
    )

    async def main() -> ApiError:
        async with Session(max_retries=0) as session:
            with pytest.raises(ApiError) as caught:
                await session.cloud_management(loopback.cis_key()).accounts.get_subaccount("sa-1")
            return caught.value

    error = asyncio.run(main())
    token = next(iter(loopback.tokens))
    assert token not in str(error)
    assert token not in repr(error.__dict__)
    assert token not in error.response.text
    assert "Authorization" not in error.response.request.headers or token not in str(
        error.response.request.headers["Authorization"]
    )


def test_the_lane_steps_aside_for_a_proxy_from_the_environment(
    loopback: Loopback, counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx mounts a proxy transport for HTTP(S)_PROXY: the request must reach the proxy, not the host."""
    proxied: list[str] = []

    def proxy(ex: Exchange) -> None:
        proxied.append(ex.path)  # a forward proxy gets the absolute URL as the request target
        ex.reply(200, {"via": "proxy"})

    loopback.routes[("GET", "http://api.example.invalid/v1/things")] = proxy
    monkeypatch.setenv("HTTP_PROXY", loopback.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def main() -> Any:
        async with Session() as session:
            return (await session.request("GET", "http://api.example.invalid/v1/things")).json()

    assert asyncio.run(main()) == {"via": "proxy"}
    assert proxied == ["http://api.example.invalid/v1/things"]
    assert counted == []

    # A host in NO_PROXY is reached directly, and on the lane.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    loopback.routes[("GET", "/direct")] = lambda ex: ex.reply(200, {"via": "direct"})

    async def direct() -> Any:
        async with Session() as session:
            return (await session.request("GET", f"{loopback.url}/direct")).json()

    assert asyncio.run(direct()) == {"via": "direct"}
    assert counted == [f"{loopback.url}/direct"]


def _answer(body: bytes) -> _direct.Answer:
    request = _direct.DirectRequest("GET", httpx.URL("https://api.example.com/x"), {})
    return _direct.Answer(request, WireResponse(200, b"OK", "1.1", [(b"Content-Type", b"application/json")], body))


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": [1, 2.5, null, "gr\\u00fc\\u00dfe"], "b": {"c": true}}',
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        '{"a": "grüße"}'.encode("utf-16"),
        b'{"a": NaN, "b": -Infinity}',
        b'{"a": "\\ud800"}',  # a lone surrogate
        b'{"a": 1, "a": 2}',
        b"9223372036854775807",
    ],
)
def test_an_answer_parses_what_httpx_parses(body: bytes) -> None:
    """The lane parses with orjson, and with the standard library what orjson refuses."""
    assert repr(_answer(body).json()) == repr(httpx.Response(200, content=body).json())


def test_an_answer_that_is_not_json_raises_what_httpx_raises() -> None:
    with pytest.raises(json.JSONDecodeError):
        _answer(b"<html>busy</html>").json()


def test_an_answer_finds_a_header_as_its_headers_would() -> None:
    raw = [(b"Content-Type", b"application/json"), (b"X-RateLimit-Remaining", b"0"), (b"x-ratelimit-remaining", b"7")]
    request = _direct.DirectRequest("GET", httpx.URL("https://api.example.com/x"), {})
    answer = _direct.Answer(request, WireResponse(200, b"OK", "1.1", raw, b"{}"))
    assert answer.header("x-ratelimit-remaining") == "0"  # the first one, whatever its case
    assert answer.header("retry-after") is None
    headers = answer.headers
    assert headers.getall("X-RateLimit-Remaining") == ["0", "7"]
    assert headers["content-type"] == "application/json"
    assert answer.headers is headers
    headers["retry-after"] = "3"  # once made, the headers are what header() reads
    assert answer.header("retry-after") == "3"
    assert answer.to_httpx().headers.get_list("x-ratelimit-remaining") == ["0", "7"]


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/x",
        "http://127.0.0.1:8080/accounts/v1/subaccounts/4f1c?derivedAuthorizations=any&a=%20b",
        "https://api.example.com",
        "https://api.example.com/?",
        "https://münchen.example/ä ö?q=ü",
        "http://[::1]:9000/v3/apps?page=2",
        "https://API.Example.com:443/a%2Fb/../c",
    ],
)
def test_the_wire_address_is_what_httpx_would_send(url: str) -> None:
    parsed = httpx.URL(url)
    expected = (
        parsed.raw_scheme.decode("ascii"),
        parsed.raw_host.decode("ascii"),
        parsed.port,
        parsed.raw_path.decode("ascii"),
    )
    assert _direct.wire_address(parsed) == expected
    assert _direct.DirectRequest("GET", parsed, {}).address == expected
