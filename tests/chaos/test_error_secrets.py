"""Nothing reachable from a raised error holds a secret.

Every error a real loopback server can provoke (token endpoint down, connection refused, 401s,
a 500 that echoes the request, a timeout, an oversized body, client secret by Basic header or in
the form, password grant) is walked: ``args``, ``__cause__``, ``__context__``, ``__notes__``,
``request``, ``response``, ``history`` and every attribute, recursively. Frames and tracebacks are
not walked: a debugger sees a function's locals whatever the library does.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest

from scp_async import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    PasswordGrant,
    ResponseTooLargeError,
    RetryPolicy,
    ScpAsyncError,
    ServerError,
    Session,
    Unauthorized,
    UnexpectedStatusError,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, PASSWORD, WRONG_SECRET, Exchange, Loopback

_SKIP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.FrameType,
         types.TracebackType, types.CodeType, int, float, bool, type(None))  # fmt: skip


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, BaseException):
        yield "args", obj.args
        yield "__cause__", obj.__cause__
        yield "__context__", obj.__context__
        yield "__notes__", getattr(obj, "__notes__", None)
        yield "str()", str(obj)
        yield "repr()", repr(obj)
    if isinstance(obj, httpx.Headers):
        yield "items", obj.multi_items()
        return
    if isinstance(obj, httpx.URL):
        yield "str()", str(obj)
        return
    if isinstance(obj, httpx.Request):
        yield "content", obj.content if hasattr(obj, "_content") else b""
    if isinstance(obj, httpx.Response):
        yield "content", obj.content if hasattr(obj, "_content") else b""
        yield "request", obj._request
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", key
            yield f"[{key!r}]", value
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for index, value in enumerate(obj):
            yield f"[{index}]", value
        return
    for name, value in getattr(obj, "__dict__", {}).items():
        yield f".{name}", value
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name):
                yield f".{name}", getattr(obj, name)


def find_secrets(error: BaseException, secrets: dict[str, str]) -> list[str]:
    """Paths from ``error`` to any string or bytes containing one of ``secrets`` (label -> value)."""
    found: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(type(error).__name__, error)]
    while stack:
        path, obj = stack.pop()
        if obj is None or isinstance(obj, _SKIP) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, bytearray, memoryview)):
            text = obj if isinstance(obj, str) else bytes(obj).decode("latin-1")
            found.extend(f"{path} holds the {label}" for label, value in secrets.items() if value in text)
            continue
        assert len(seen) < 200_000, "runaway walk"
        stack.extend((f"{path}{step}", child) for step, child in _children(obj))
    return found


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _echo(ex: Exchange) -> None:
    """A 500 that hands the whole request back, as some debug error pages do."""
    echo = {"headers": dict(ex.headers.items()), "body": ex.body.decode("utf-8", "replace"), "path": ex.path}
    ex.reply(500, {"error": {"message": f"failed: {json.dumps(echo)}"}, "echo": echo})


def _secrets(loopback: Loopback) -> dict[str, str]:
    values = {
        "client secret": CLIENT_SECRET,
        "wrong client secret": WRONG_SECRET,
        "password": PASSWORD,
        "Basic credential": base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
    }
    values.update({f"access token {token}": token for token in loopback.tokens})
    return values


Scenario = Callable[[Session, Loopback], Awaitable[Any]]


async def _token_endpoint_down(session: Session, loopback: Loopback) -> None:
    key = loopback.cis_key()
    key["uaa"]["url"] = _closed_port()
    await session.cloud_management(key).accounts.get_global_account()


async def _token_endpoint_down_form_auth(session: Session, loopback: Loopback) -> None:
    key = loopback.cis_key()
    key["uaa"]["url"] = _closed_port()
    await session.cloud_management(key, client_auth="form").accounts.get_global_account()


async def _api_refused(session: Session, loopback: Loopback) -> None:
    api = session.cloud_management(loopback.cis_key()).api("accounts")
    await api.request("GET", f"{_closed_port()}/accounts/v1/globalAccount")


async def _api_401(session: Session, loopback: Loopback) -> None:
    loopback.routes[("GET", "/v1/denied")] = lambda ex: ex.reply(401, {"error": {"message": "token revoked"}})
    await session.cloud_management(loopback.cis_key()).api("accounts").request("GET", "/v1/denied")


async def _token_401_basic(session: Session, loopback: Loopback) -> None:
    await session.cloud_management(loopback.cis_key(secret=WRONG_SECRET)).api("accounts").request("GET", "/x")


async def _token_401_form(session: Session, loopback: Loopback) -> None:
    cis = session.cloud_management(loopback.cis_key(secret=WRONG_SECRET), client_auth="form")
    await cis.api("accounts").request("GET", "/x")


async def _api_500_echo(session: Session, loopback: Loopback) -> None:
    loopback.routes[("POST", "/v1/echo")] = _echo
    api = session.cloud_management(loopback.cis_key()).api("accounts")
    await api.request("POST", "/v1/echo", json={"name": "x", "password": PASSWORD})


async def _token_500_echo_form(session: Session, loopback: Loopback) -> None:
    loopback.routes[("POST", "/oauth/token")] = _echo
    cis = session.cloud_management(loopback.cis_key(), client_auth="form")
    await cis.api("accounts").request("GET", "/x")


async def _token_500_echo_basic(session: Session, loopback: Loopback) -> None:
    loopback.routes[("POST", "/oauth/token")] = _echo
    await session.cloud_management(loopback.cis_key()).api("accounts").request("GET", "/x")


async def _password_grant_echo(session: Session, loopback: Loopback) -> None:
    loopback.routes[("POST", "/oauth/token")] = _echo
    auth = session.auth(PasswordGrant(f"{loopback.url}/oauth/token", username="me", password=PASSWORD))
    await session.request("GET", f"{loopback.url}/x", auth=auth)


async def _password_grant_refused(session: Session, loopback: Loopback) -> None:
    auth = session.auth(PasswordGrant(f"{loopback.url}/oauth/token", username="me", password=PASSWORD + "-no"))
    await session.request("GET", f"{loopback.url}/x", auth=auth)


async def _timeout(session: Session, loopback: Loopback) -> None:
    loopback.routes[("GET", "/v1/slow")] = lambda ex: (time.sleep(1.0), ex.reply(200, {}))
    api = session.cloud_management(loopback.cis_key()).api("accounts").with_options(timeout=0.2)
    await api.request("GET", "/v1/slow")


async def _too_large(session: Session, loopback: Loopback) -> None:
    loopback.routes[("GET", "/v1/big")] = lambda ex: ex.reply(200, b"x" * 100_000)
    await session.cloud_management(loopback.cis_key()).api("accounts").request("GET", "/v1/big")


async def _corrupt_gzip(session: Session, loopback: Loopback) -> None:
    gzip = {"Content-Encoding": "gzip"}
    loopback.routes[("GET", "/v1/corrupt")] = lambda ex: ex.reply(200, b"\x1f\x8bnot gzip", gzip)
    await session.cloud_management(loopback.cis_key()).api("accounts").request("GET", "/v1/corrupt")


async def _unlisted_success_echo(session: Session, loopback: Loopback) -> None:
    """A typed call answered 203 (a status its spec does not list) with the request echoed back."""

    def echo_203(ex: Exchange) -> None:
        ex.reply(203, {"echo": {"headers": dict(ex.headers.items())}})

    loopback.routes[("GET", "/accounts/v1/globalAccount")] = echo_203
    await session.cloud_management(loopback.cis_key()).accounts.get_global_account()


SCENARIOS: dict[str, tuple[Scenario, type[ScpAsyncError]]] = {
    "token endpoint down (Basic)": (_token_endpoint_down, ApiConnectionError),
    "token endpoint down (form)": (_token_endpoint_down_form_auth, ApiConnectionError),
    "API connection refused": (_api_refused, ApiConnectionError),
    "API 401 after a token renewal": (_api_401, Unauthorized),
    "token endpoint 401 (Basic)": (_token_401_basic, AuthenticationError),
    "token endpoint 401 (form)": (_token_401_form, AuthenticationError),
    "API 500 echoing the request": (_api_500_echo, ServerError),
    "token endpoint 500 echoing (form)": (_token_500_echo_form, ServerError),
    "token endpoint 500 echoing (Basic)": (_token_500_echo_basic, ServerError),
    "password grant, 500 echoing": (_password_grant_echo, ServerError),
    "password grant refused": (_password_grant_refused, AuthenticationError),
    "read timeout": (_timeout, ApiTimeoutError),
    "body over the cap": (_too_large, ResponseTooLargeError),
    "body that is not gzip": (_corrupt_gzip, ApiConnectionError),
    "unlisted 2xx echoing the request": (_unlisted_success_echo, UnexpectedStatusError),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_secret_is_reachable_from_the_error(loopback: Loopback, name: str) -> None:
    scenario, expected = SCENARIOS[name]
    caught: list[BaseException] = []

    async def main() -> None:
        async with Session(retry=RetryPolicy(max_retries=0), max_response_size=50_000) as session:
            try:
                await scenario(session, loopback)
            except Exception as exc:
                caught.append(exc)

    anyio.run(main)
    assert caught, f"{name}: nothing raised"
    error = caught[0]
    assert isinstance(error, expected), repr(error)
    assert not find_secrets(error, _secrets(loopback))
    if isinstance(error, ApiError):
        # Still useful for debugging: the scrubbed copy keeps the method, URL and the rest of the body.
        assert error.response.request.method in ("GET", "POST")
        assert error.response.status_code == error.status_code


def test_the_walk_finds_what_it_looks_for() -> None:
    request = httpx.Request("POST", "https://uaa/oauth/token", content=f"client_secret={CLIENT_SECRET}".encode())
    cause = httpx.ConnectError("refused", request=request)
    error = ApiConnectionError("no connection")
    error.__cause__ = cause
    found = find_secrets(error, {"client secret": CLIENT_SECRET})
    assert found
    assert all(path.startswith("ApiConnectionError__cause__") for path in found), found
