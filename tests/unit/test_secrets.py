"""Secrets never show up in repr, str, log records or exception messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import (
    ApiConnectionError,
    AuthenticationError,
    CfCliConfig,
    ClientCredentialsGrant,
    PasswordGrant,
    RedactingFilter,
    RefreshTokenGrant,
    ServiceKey,
    ServiceKeyError,
    Session,
    Unauthorized,
    X509ClientCredentialsGrant,
)
from scp_async._logging import redact_headers, redact_url

from .helpers import (
    ACCESS_TOKEN,
    ACCOUNTS_URL,
    CLIENT_SECRET,
    PASSWORD,
    PRIVATE_KEY_MARKER,
    REFRESH_TOKEN,
    TOKEN_URL,
    audit_key_dict,
    cis_key_dict,
    sm_key_dict,
    token_json,
)

SECRETS = (CLIENT_SECRET, PASSWORD, PRIVATE_KEY_MARKER, ACCESS_TOKEN, REFRESH_TOKEN)


def _assert_clean(texts: list[str]) -> None:
    assert texts
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {text!r}"


def _renderings(obj: object) -> list[str]:
    return [repr(obj), str(obj)]


def _x509_key() -> dict[str, Any]:
    from .test_credentials import pem_pair  # keys are checked at load: the PEM must be real

    certificate, key = pem_pair()
    data = audit_key_dict()
    data["uaa"] = {"clientid": "sb-x", "certificate": certificate, "key": key, "certurl": "https://cert.example"}
    return data


def test_reprs_of_keys_grants_and_config(tmp_path: Path) -> None:
    texts: list[str] = []
    x509 = _x509_key()
    for data in (cis_key_dict(), audit_key_dict(), sm_key_dict(), x509):
        key = ServiceKey.from_dict(data)
        texts += _renderings(key) + _renderings(key.uaa)
    key_body = x509["uaa"]["key"].splitlines()[1]
    assert not any(key_body in text for text in texts)
    for grant in (
        ClientCredentialsGrant(TOKEN_URL, "id", client_secret=CLIENT_SECRET),
        PasswordGrant(TOKEN_URL, username="u", password=PASSWORD, origin="o"),
        RefreshTokenGrant(TOKEN_URL, refresh_token=REFRESH_TOKEN),
        X509ClientCredentialsGrant(TOKEN_URL, "id", certificate="c", key=PRIVATE_KEY_MARKER),
    ):
        texts += _renderings(grant)
    (tmp_path / ".cf").mkdir()
    (tmp_path / ".cf" / "config.json").write_text(
        json.dumps({"AccessToken": f"bearer {ACCESS_TOKEN}", "RefreshToken": REFRESH_TOKEN, "Target": "https://a"})
    )
    texts += _renderings(CfCliConfig.load(environ={"CF_HOME": str(tmp_path)}))
    _assert_clean(texts)


@pytest.mark.parametrize(
    "document",
    [
        '{"uaa": {"clientid": "x", "clientsecret": "' + CLIENT_SECRET + '", "url": 5}, "url": "https://a"}',
        '{"uaa": "' + CLIENT_SECRET + '", "url": "https://a"}',
        '{"uaa": {"clientsecret": "' + CLIENT_SECRET + '"}, "endpoints": {"a": "https://a"}}',
        '{"clientsecret": "' + CLIENT_SECRET + '", "sm_url": "https://a", ',
        "Getting key...\n{" + CLIENT_SECRET,
    ],
)
def test_service_key_errors(document: str) -> None:
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_json(document)
    _assert_clean([*_renderings(info.value), str(info.value.args)])


def test_session_flow_logs_and_errors(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(ACCESS_TOKEN, refresh_token=REFRESH_TOKEN))
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(ACCESS_TOKEN + "-2"))
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/a", status_code=503)
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/a", status_code=401, is_reusable=True)
    httpx_mock.add_exception(
        httpx.ConnectError("refused"), is_reusable=True, url=f"{ACCOUNTS_URL}/b?password={PASSWORD}"
    )
    httpx_mock.add_response(url="https://uaa.cf/oauth/token", status_code=401,
                            json={"error": "unauthorized", "error_description": "Bad credentials"})  # fmt: skip
    texts: list[str] = []

    async def main() -> None:
        async with make_session() as session:
            cis = session.cloud_management(cis_key_dict())
            texts.extend(_renderings(session) + _renderings(cis) + _renderings(cis.accounts.context.auth))
            with pytest.raises(Unauthorized) as unauthorized:
                await cis.accounts.request("GET", "/a")
            with pytest.raises(ApiConnectionError) as connection:
                await cis.accounts.request("GET", "/b", params={"password": PASSWORD}, max_retries=0)
            grant = PasswordGrant("https://uaa.cf/oauth/token", username="u", password=PASSWORD)
            with pytest.raises(AuthenticationError) as refused:
                await session.request("GET", f"{ACCOUNTS_URL}/c", auth=session.auth(grant))
            for error in (unauthorized.value, connection.value, refused.value):
                texts.extend([*_renderings(error), str(error.args), str(vars(error))])
            for api_error in (unauthorized.value, refused.value):
                request = api_error.response.request
                texts.extend([str(dict(request.headers)), request.content.decode(errors="replace")])
            texts.extend(repr(t) for t in list(session.tokens._slots.values()))

    anyio.run(main)
    texts.extend(record.getMessage() for record in caplog.records)
    assert any(record.name == "scp_async" for record in caplog.records)
    _assert_clean(texts)


def test_redaction_helpers() -> None:
    assert redact_url(f"https://u:{PASSWORD}@h/p?client_secret={CLIENT_SECRET}&q=1") == (
        "https://[REDACTED]@h/p?client_secret=[REDACTED]&q=1"
    )
    assert redact_url("https://h/p?page=2") == "https://h/p?page=2"
    assert redact_headers({"Authorization": f"Bearer {ACCESS_TOKEN}", "Accept": "x"}) == {
        "Authorization": "[REDACTED]",
        "Accept": "x",
    }


@pytest.mark.parametrize(
    "message",
    [
        f"Authorization: Bearer {ACCESS_TOKEN}",
        f"sending basic {CLIENT_SECRET}",
        f"body grant_type=password&password={PASSWORD}&username=u",
        f'{{"clientsecret": "{CLIENT_SECRET}", "refresh_token":"{REFRESH_TOKEN}"}}',
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0." + ACCESS_TOKEN,
    ],
)
def test_redacting_filter_for_third_party_records(message: str) -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%s", (message,), None)
    assert RedactingFilter().filter(record) is True
    _assert_clean([record.getMessage()])
    assert "[REDACTED]" in record.getMessage()


@pytest.mark.httpx_mock(assert_all_requests_were_expected=False)
def test_transport_messages_with_urls_are_redacted(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    # pytest-httpx (like some proxies) puts the full URL, query included, into its error text.
    async def main() -> ApiConnectionError:
        async with make_session() as session:
            with pytest.raises(ApiConnectionError) as info:
                await session.request("GET", f"{ACCOUNTS_URL}/x", params={"client_secret": CLIENT_SECRET})
            return info.value

    error = anyio.run(main)
    assert "client_secret=[REDACTED]" in str(error)
    _assert_clean([*_renderings(error), error.url or ""])
