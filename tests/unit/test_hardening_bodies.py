"""Fuzzed response bodies through the facade: only the documented typed errors ever come out.

Deeply nested JSON, bytes that are not UTF-8 and numbers no date or int can hold, in a 2xx body
(typed model parsing) and in an error body (building the :class:`ApiError`).
"""

from __future__ import annotations

import functools
import json
import ssl
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock

from scp_async import ApiError, InvalidResponseError, RateGovernor, RateLimited, RetryPolicy, ServerError, Session
from scp_async._errors import error_for_response

from .helpers import ACCOUNTS_URL, TOKEN_URL, cis_key_dict, token_json

GA_URL = f"{ACCOUNTS_URL}/accounts/v1/globalAccount"
GLOBAL_ACCOUNT: dict[str, Any] = {
    "guid": "ga",
    "globalAccountGUID": "ga",
    "parentGUID": "ga",
    "parentType": "ROOT",
    "displayName": "Acme",
    "description": "",
    "createdDate": 1700000000000,
    "commercialModel": "Subscription",
    "consumptionBased": False,
    "licenseType": "ENTERPRISE",
    "geoAccess": "STANDARD",
}


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    # Deep nesting inside an otherwise valid body, where the model parser meets it.
    inner = json.dumps({**GLOBAL_ACCOUNT, "customProperties": "@"}).encode()
    return inner.replace(b'"@"', b"[" * depth + b"]" * depth)


HUGE_NUMBERS = st.sampled_from(["1e300", "-1e300", "1e400", "9" * 5000, "-" + "9" * 400, "NaN", "Infinity"])

nested_bodies = st.builds(
    _nested, st.integers(min_value=900, max_value=30_000), st.sampled_from(["list", "object", "field"])
)
not_utf8 = st.one_of(
    st.binary(min_size=1, max_size=300).map(lambda b: b"\xff\xfe" + b),  # a UTF-16 BOM, then anything
    st.binary(max_size=300).map(lambda b: b + b"\xc3\x28"),  # an invalid UTF-8 sequence at the end
    st.binary(min_size=1, max_size=20).map(  # inside a string of an otherwise valid model
        lambda b: json.dumps(GLOBAL_ACCOUNT).encode().replace(b'"Acme"', b'"' + b.replace(b'"', b"") + b'\x80"')
    ),
)
huge_number_bodies = st.builds(
    lambda field, number: json.dumps({**GLOBAL_ACCOUNT, field: "@"}).replace('"@"', number).encode(),
    st.sampled_from(["createdDate", "modifiedDate", "expiryDate", "renewalDate", "consumptionBased", "guid"]),
    HUGE_NUMBERS,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
shaped_bodies = json_values.map(lambda v: json.dumps(v).encode())
error_shaped = st.builds(
    lambda v: json.dumps({"error": v, "errors": [v], "error_description": v}).encode(), json_values
)

BODIES = st.one_of(nested_bodies, not_utf8, huge_number_bodies, shaped_bodies, error_shaped)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Body:
    """The body the mocked API answers with; hypothesis changes it between examples."""

    content = b""
    status = 200


@pytest.fixture
def api(httpx_mock: HTTPXMock) -> _Body:
    body = _Body()
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(), is_optional=True, is_reusable=True)
    httpx_mock.add_callback(
        lambda request: httpx.Response(body.status, content=body.content, headers={"Content-Type": "application/json"}),
        url=GA_URL,
        is_optional=True,
        is_reusable=True,
    )
    return body


async def _get_global_account() -> Any:
    # Loading the CA bundle is most of a new client's cost: one context serves every example.
    async with (
        httpx.AsyncClient(verify=_tls()) as client,
        # The governor still reads each 4xx body for the cis rate-limit code, but with no wait allowed a
        # 429 raises at once instead of waiting out the lane's pause.
        Session(retry=RetryPolicy(max_retries=0), http_client=client, governor=RateGovernor(max_wait=0)) as session,
    ):
        return await session.cloud_management(cis_key_dict()).accounts.get_global_account()


@FUZZ
@given(content=BODIES)
def test_any_2xx_body_is_a_model_or_invalid_response_error(api: _Body, content: bytes) -> None:
    api.status, api.content = 200, content
    outcome: BaseException | None = None
    try:
        anyio.run(_get_global_account)
    except Exception as exc:
        outcome = exc
    if outcome is not None:
        assert isinstance(outcome, InvalidResponseError), repr(outcome)
        assert outcome.operation_id == "getGlobalAccount"
        assert str(outcome)


@FUZZ
@given(content=BODIES)
def test_any_error_body_builds_a_server_error(api: _Body, content: bytes) -> None:
    api.status, api.content = 500, content
    with pytest.raises(ServerError) as caught:
        anyio.run(_get_global_account)
    error = caught.value
    assert error.status_code == 500
    assert len(str(error)) < 2_000
    assert repr(error)


@FUZZ
@given(status=st.sampled_from([400, 401, 403, 404, 409, 422, 429]), content=BODIES)
def test_any_4xx_body_builds_its_api_error(api: _Body, status: int, content: bytes) -> None:
    # A 4xx body is read twice: for the error, and for the cis rate-limit code (11006) before that.
    api.status, api.content = status, content
    with pytest.raises(ApiError) as caught:
        anyio.run(_get_global_account)
    error = caught.value
    assert error.status_code == status
    assert len(str(error)) < 2_000


@pytest.mark.parametrize("status", [200, 400, 404, 429, 500])
def test_nesting_deeper_than_the_stack(api: _Body, status: int) -> None:
    # The exact input of the report: far deeper than the interpreter's recursion limit.
    api.status, api.content = status, _nested(100_000, "list")
    expected = {200: InvalidResponseError, 429: RateLimited, 500: ServerError}.get(status, ApiError)
    with pytest.raises(expected) as caught:
        anyio.run(_get_global_account)
    if status != 200:
        assert isinstance(caught.value, ApiError)
        assert caught.value.status_code == status


def test_date_of_1e300_is_an_invalid_response(api: _Body) -> None:
    api.status, api.content = 200, json.dumps({**GLOBAL_ACCOUNT, "createdDate": "@"}).replace('"@"', "1e300").encode()
    with pytest.raises(InvalidResponseError, match="getGlobalAccount"):
        anyio.run(_get_global_account)


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=400, max_value=599),
    content=st.binary(max_size=2_000) | BODIES,
    charset=st.sampled_from([None, "utf-8", "latin-1", "utf-16", "no-such-charset"]),
)
def test_building_an_error_never_raises(status: int, content: bytes, charset: str | None) -> None:
    headers = {"Content-Type": f"application/json; charset={charset}"} if charset else {}
    request = httpx.Request("GET", "https://api.example/v1/things")
    error = error_for_response(httpx.Response(status, content=content, headers=headers, request=request))
    assert error.status_code == status
    assert len(str(error)) < 2_000
    assert repr(error)
