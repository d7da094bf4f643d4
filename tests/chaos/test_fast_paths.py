"""The shortcuts a session call takes (aiohttp straight from httpx's request, no httpx send layers, URLs
not re-parsed, one worker per fan-out slot) answer exactly as the long way does."""

from __future__ import annotations

import asyncio
import random

import anyio
import anyio.lowlevel
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import DefaultTransport, Session, fan_out, fan_out_stream
from scp_async._session import _parsed_url

from .conftest import Exchange, Loopback

# -- URLs --------------------------------------------------------------------------------------------------


def test_urls_built_without_httpx_parser_equal_httpx_own() -> None:
    rng = random.Random(20261204)
    alphabet = "abcXYZ019-._~!$&'()*+,;=:@/%?# ä"
    fast = 0
    for _ in range(5000):
        host = rng.choice(["127.0.0.1", "x.y", "api.cf.eu10.hana.ondemand.com", "a-b.c", "X.y", "[::1]"])
        port = rng.choice(["", ":80", ":443", ":8080", ":0", ":99999", ":08080"])
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        url = f"{rng.choice(['http', 'https'])}://{host}{port}{'/' if rng.random() < 0.5 else ''}{path}"
        built = _parsed_url(url)
        if not isinstance(built, httpx.URL):
            continue  # left to httpx
        fast += 1
        expected = httpx.URL(url)
        assert (str(built), built.raw_path, built.host, built.port) == (
            str(expected),
            expected.raw_path,
            expected.host,
            expected.port,
        ), url
        assert built == expected
    assert fast > 500  # the shortcut is taken for canonical URLs


def test_an_apis_urls_are_those_of_its_base_and_path_joined_and_parsed() -> None:
    """ApiContext._located builds from its base URL taken apart once what the session would parse from
    ``url(path)``; whatever it cannot, it hands on as that string."""
    from scp_async._session import ApiContext

    rng = random.Random(20261207)
    alphabet = "abcXYZ019-._~!$&'()*+,;=:@/%?# ä"
    bases = ["https://x.y", "https://x.y/", "http://127.0.0.1:8080/api/v1/", "https://X.y/a", "https://x.y:443/b"]
    bases += ["https://x.y/a b", "https://x.y/a/../b/", "not a url", "https://[::1]:99/x", "https://x.y/%zz"]
    fast = 0
    for _ in range(4000):
        context = ApiContext(Session(), rng.choice(bases), httpx.BasicAuth("u", "p"))
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        path = rng.choice(["", "/", "https://other.example/"]) + path
        located = context._located(path)
        if isinstance(located, str):  # handed on as url(path), which the session parses as before
            assert located == context.url(path)
            continue
        fast += 1
        expected = _parsed_url(context.url(path))
        assert isinstance(expected, httpx.URL), (context.base_url, path)
        assert (str(located), located.raw_path) == (str(expected), expected.raw_path), (context.base_url, path)
        context.base_url = rng.choice(bases).rstrip("/")  # a base changed after use is taken apart again
        assert str(_parsed_url(context._located("/x"))) == str(_parsed_url(context.url("/x")))
    assert fast > 200  # the shortcut is taken for canonical ones


def test_a_query_added_without_httpx_parser_equals_httpx_own() -> None:
    """with_params: the URL httpx's copy_merge_params makes, for any parameters (the long way where needed)."""
    import uuid

    from scp_async._direct import wire_address, with_params

    rng = random.Random(20261207)
    alphabet = "abcXYZ019-._~!$&'()*+,;=:@/%?#[] äö\u2603\x00\t"
    values: list[object] = [True, False, None, 0, -7, 1.5, uuid.UUID(int=rng.getrandbits(128)), b"x"]
    urls = [
        "https://x.y/v3/apps",
        "http://127.0.0.1:8080/a%20b/",
        "https://x.y/a?b=c",
        "https://x.y/p#f",
        "https://x.y",
    ]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    def value() -> object:
        roll = rng.random()
        if roll < 0.4:
            return text()
        if roll < 0.7:
            return rng.choice(values)
        return [text() if rng.random() < 0.6 else rng.choice(values) for _ in range(rng.randint(0, 3))]

    fast = 0
    for _ in range(3000):
        url = httpx.URL(rng.choice(urls))
        params: object = {text() or "k": value() for _ in range(rng.randint(0, 4))}
        if rng.random() < 0.05:
            params = [("a", "1"), ("a", "2")]
        elif rng.random() < 0.03:
            params = {1: "x"}
        expected = url.copy_merge_params(params)  # type: ignore[arg-type]
        built = with_params(url, params)
        fast += not url.query and not url.fragment and isinstance(params, dict)
        assert (str(built), built.raw_path, built.query, built.params) == (
            str(expected),
            expected.raw_path,
            expected.query,
            expected.params,
        ), (url, params)
        assert built == expected
        assert wire_address(built) == wire_address(expected)
    assert fast > 1000  # the shortcut is taken for the usual calls


@pytest.mark.parametrize(
    "url",
    [
        "https://x.y/a/../b",  # dot segments are normalized by httpx
        "https://X.y/a",  # upper-case host
        "https://x.y/a?b=c",  # a query
        "https://x.y/a b",  # to be quoted
        "http://x.y:80/a",  # a default port httpx drops
        "https://user:secret@x.y/a",  # credentials
    ],
)
def test_urls_httpx_would_change_are_left_to_httpx(url: str) -> None:
    assert _parsed_url(url) == url


# -- the aiohttp path --------------------------------------------------------------------------------------


def test_a_session_call_on_aiohttp_answers_like_httpx(loopback: Loopback) -> None:
    big = b'{"items": "' + b"x" * 200_000 + b'"}'
    loopback.routes[("GET", "/small")] = lambda ex: ex.reply(200, {"ok": True}, {"X-Thing": "1"})
    loopback.routes[("GET", "/big")] = lambda ex: ex.reply(200, big)
    loopback.routes[("GET", "/chunked")] = lambda ex: ex.stream(200, iter([b'{"a":', b" 1}"]))
    transport = DefaultTransport()

    async def main() -> list[httpx.Response]:
        async with Session(transport=transport) as session:
            return [await session.request("GET", f"{loopback.url}{path}") for path in ("/small", "/big", "/chunked")]

    small, large, chunked = asyncio.run(main())
    assert transport.uses_aiohttp
    assert small.json() == {"ok": True}
    assert small.headers["x-thing"] == "1"
    assert small.http_version == "HTTP/1.1"
    assert small.reason_phrase == "OK"
    assert small.elapsed.total_seconds() > 0
    assert str(small.request.url) == f"{loopback.url}/small"
    assert large.content == big
    assert chunked.json() == {"a": 1}


def test_event_hooks_on_the_session_client_still_run(loopback: Loopback) -> None:
    loopback.routes[("GET", "/ok")] = lambda ex: ex.reply(200, {"ok": True})
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"request {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    async def main() -> None:
        async with Session() as session:
            session.http_client.event_hooks = {"request": [on_request], "response": [on_response]}
            await session.request("GET", f"{loopback.url}/ok")

    asyncio.run(main())
    assert seen == ["request /ok", "response 200"]


def test_cookies_set_by_a_service_go_back_to_it(loopback: Loopback) -> None:
    def login(ex: Exchange) -> None:
        ex.reply(200, {"ok": True}, {"Set-Cookie": "JSESSIONID=abc; Path=/"})

    cookies: list[str | None] = []

    def check(ex: Exchange) -> None:
        cookies.append(ex.headers.get("Cookie"))
        ex.reply(200, {"ok": True})

    loopback.routes[("GET", "/login")] = login
    loopback.routes[("GET", "/next")] = check

    async def main() -> None:
        async with Session() as session:
            await session.request("GET", f"{loopback.url}/login")
            await session.request("GET", f"{loopback.url}/next")

    asyncio.run(main())
    assert cookies == ["JSESSIONID=abc"]


def test_pytest_httpx_still_answers_for_the_default_transport(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://api.example.com/v3/apps", json={"resources": []})

    async def main() -> httpx.Response:
        async with Session() as session:
            return await session.request("GET", "https://api.example.com/v3/apps")

    assert asyncio.run(main()).json() == {"resources": []}


# -- fan-out -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_fan_out_runs_limit_workers_not_a_task_per_item(stream: bool) -> None:
    running = 0
    most = 0
    most_tasks = 0

    async def call(item: int) -> int:
        nonlocal running, most, most_tasks
        running += 1
        most = max(most, running)
        most_tasks = max(most_tasks, len(asyncio.all_tasks()))
        await anyio.lowlevel.checkpoint()
        running -= 1
        return item * 2

    async def main() -> list[int]:
        if not stream:
            return await fan_out(call, range(2000), limit=20)
        async with fan_out_stream(call, range(2000), limit=20) as outcomes:
            found = sorted((o.index, o.result()) for o in [o async for o in outcomes])
        return [value for _, value in found]

    assert asyncio.run(main()) == [n * 2 for n in range(2000)]
    assert most == 20
    assert most_tasks <= 20 + 3  # the workers, the main task and the stream's runner


def test_a_clients_default_encoding_still_decodes_text(loopback: Loopback) -> None:
    body = "grüße".encode("latin-1")
    loopback.routes[("GET", "/text")] = lambda ex: ex.reply(200, body, {"Content-Type": "text/plain"})

    async def main() -> str:
        client = httpx.AsyncClient(transport=DefaultTransport(), default_encoding="latin-1")
        async with Session(http_client=client) as session:
            response = await session.request("GET", f"{loopback.url}/text")
        await client.aclose()
        return response.text

    assert asyncio.run(main()) == "grüße"
