"""The copies errors keep: requests, responses and httpx causes without credentials."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import httpx

from scp_async._errors import error_for_response
from scp_async._logging import REDACTED, redact_exception, redact_request, request_secrets, scrub_response

from .helpers import ACCESS_TOKEN, CLIENT_SECRET, PASSWORD, REFRESH_TOKEN

TOKEN_URL = "https://uaa.example/oauth/token"
SECRET_WITH_SYMBOLS = "s3cr&t+=/Ωx"


def _token_request(secret: str = CLIENT_SECRET) -> httpx.Request:
    basic = base64.b64encode(f"client:{secret}".encode()).decode()
    return httpx.Request(
        "POST",
        TOKEN_URL,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        content=f"grant_type=password&username=me&password={quote_plus(PASSWORD)}".encode(),
    )


def test_request_secrets_finds_header_basic_form_json_and_query_values() -> None:
    found = request_secrets(_token_request())
    assert {CLIENT_SECRET, PASSWORD, f"client:{CLIENT_SECRET}"} <= found
    api = httpx.Request(
        "POST",
        f"https://api.example/v1?x=1&access_token={ACCESS_TOKEN}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        json={"name": "n", "nested": [{"refresh_token": REFRESH_TOKEN}]},
    )
    assert {ACCESS_TOKEN, REFRESH_TOKEN} <= request_secrets(api)
    assert "n" not in request_secrets(api)  # ordinary values stay


def test_redacted_request_keeps_method_url_and_harmless_content() -> None:
    copy = redact_request(_token_request())
    assert (copy.method, str(copy.url)) == ("POST", TOKEN_URL)
    assert copy.headers["authorization"] == REDACTED
    body = copy.content.decode()
    assert "username=me" in body
    assert PASSWORD not in body
    assert quote_plus(PASSWORD) not in body


def test_echoed_secrets_are_removed_from_error_bodies_in_every_spelling() -> None:
    request = _token_request(SECRET_WITH_SYMBOLS)
    echo = {
        "raw": SECRET_WITH_SYMBOLS,
        "form": quote_plus(SECRET_WITH_SYMBOLS),
        "header": request.headers["authorization"],
    }
    response = httpx.Response(500, content=json.dumps(echo).encode(), request=request)
    error = error_for_response(response)
    text = error.response.text + str(error) + error.response.request.content.decode("utf-8", "replace")
    assert SECRET_WITH_SYMBOLS not in text
    assert json.dumps(SECRET_WITH_SYMBOLS)[1:-1] not in text
    assert quote_plus(SECRET_WITH_SYMBOLS) not in text
    assert request.headers["authorization"].split()[1] not in text
    assert error.response.json()["raw"] == REDACTED


def test_history_of_a_renewed_401_is_scrubbed() -> None:
    first = httpx.Response(
        401, request=httpx.Request("GET", "https://api.example/x", headers={"Authorization": "Bearer old-T0ken-Aa1"})
    )
    last = httpx.Response(
        401,
        content=b"token old-T0ken-Aa1 and new-T0ken-Bb2 rejected",
        request=httpx.Request("GET", "https://api.example/x", headers={"Authorization": "Bearer new-T0ken-Bb2"}),
    )
    last.history = [first]
    copy = scrub_response(last)
    assert b"T0ken" not in copy.content
    assert copy.history[0].request.headers["authorization"] == REDACTED
    assert copy.request.headers["authorization"] == REDACTED


def test_an_httpx_cause_keeps_only_a_redacted_request_and_message() -> None:
    exc = httpx.ConnectError(f"cannot reach https://api.example/?access_token={ACCESS_TOKEN}", request=_token_request())
    redact_exception(exc)
    assert ACCESS_TOKEN not in str(exc)
    assert exc.request.headers["authorization"] == REDACTED
    assert CLIENT_SECRET.encode() not in exc.request.content
    redact_exception(httpx.ConnectError("no request attached"))  # mock transports raise these
