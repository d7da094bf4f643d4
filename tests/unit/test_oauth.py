from __future__ import annotations

import base64
import datetime
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from scp_async import (
    AuthenticationError,
    ClientCredentialsGrant,
    PasswordGrant,
    RefreshTokenGrant,
    ServiceKeyError,
    Session,
    TokenCache,
    Unauthorized,
    X509ClientCredentialsGrant,
)
from scp_async._oauth import load_client_certificate

from .helpers import (
    ACCESS_TOKEN,
    ACCOUNTS_URL,
    CLIENT_SECRET,
    PASSWORD,
    REFRESH_TOKEN,
    TOKEN_URL,
    audit_key_dict,
    cis_key_dict,
    form,
    jwt,
    token_json,
)

Runner = Callable[[Callable[[], Awaitable[Any]]], Any]
API = f"{ACCOUNTS_URL}/accounts/v1/globalAccount"


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


# -- grant encoding (Authlib) ---------------------------------------------------------------


def test_client_credentials_basic_by_default() -> None:
    request = ClientCredentialsGrant(TOKEN_URL, "sb-id!b1|x", client_secret=CLIENT_SECRET).build_request()
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["Authorization"] == _basic("sb-id!b1|x", CLIENT_SECRET)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"grant_type": "client_credentials"}


def test_client_credentials_form_option() -> None:
    grant = ClientCredentialsGrant(TOKEN_URL, "id", client_secret=CLIENT_SECRET, auth_method="form", scope="a b")
    request = grant.build_request()
    assert "Authorization" not in request.headers
    assert form(request) == {
        "grant_type": "client_credentials",
        "scope": "a b",
        "client_id": "id",
        "client_secret": CLIENT_SECRET,
    }


def test_password_grant_uses_public_cf_client_and_origin_login_hint() -> None:
    request = PasswordGrant(TOKEN_URL, username="me@example.com", password=PASSWORD, origin="corp-ias").build_request()
    assert request.headers["Authorization"] == _basic("cf", "")
    assert form(request) == {
        "grant_type": "password",
        "username": "me@example.com",
        "password": PASSWORD,
        "login_hint": '{"origin":"corp-ias"}',
    }
    plain = PasswordGrant(TOKEN_URL, username="u", password="p").build_request()
    assert "login_hint" not in form(plain)


def test_refresh_and_x509_grants() -> None:
    refresh = RefreshTokenGrant(TOKEN_URL, refresh_token=REFRESH_TOKEN).build_request()
    assert form(refresh) == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    x509 = X509ClientCredentialsGrant(TOKEN_URL, "sb-x", certificate="c", key="k").build_request()
    assert "Authorization" not in x509.headers
    assert form(x509) == {"grant_type": "client_credentials", "client_id": "sb-x"}


def test_cache_key_distinguishes_users_and_grants() -> None:
    a = PasswordGrant(TOKEN_URL, username="a", password="x")
    assert a.cache_key == PasswordGrant(TOKEN_URL, username="a", password="x").cache_key
    assert a.cache_key != PasswordGrant(TOKEN_URL, username="a", password="y").cache_key
    assert a.cache_key != PasswordGrant(TOKEN_URL, username="b", password="x").cache_key
    assert a.cache_key != ClientCredentialsGrant(TOKEN_URL, "cf", client_secret="").cache_key


# -- cache and auth flow -----------------------------------------------------------------


def _slow_token_endpoint(*tokens: str) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """A token endpoint that yields to other tasks before answering, so races can happen."""
    issued = iter(tokens)

    async def respond(request: httpx.Request) -> httpx.Response:
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        return httpx.Response(200, json=token_json(next(issued)))

    return respond


def test_concurrent_first_calls_make_one_token_request(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_callback(_slow_token_endpoint("t1", "t2"), url=TOKEN_URL, is_reusable=True)
    httpx_mock.add_response(url=API, json={"guid": "ga"}, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            api = session.cloud_management(cis_key_dict()).accounts
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(api.request, "GET", "/accounts/v1/globalAccount")

    run(main)
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    api_requests = httpx_mock.get_requests(url=API)
    assert len(api_requests) == 50
    assert {r.headers["Authorization"] for r in api_requests} == {"Bearer t1"}


def test_token_shared_between_clients_of_the_same_credential(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=API, json={}, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            await session.cloud_management(cis_key_dict()).accounts.request("GET", "/accounts/v1/globalAccount")
            view = session.with_options(timeout=5)
            await view.cloud_management(cis_key_dict()).accounts.request("GET", "/accounts/v1/globalAccount")

    anyio.run(main)
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1


def test_401_storm_renews_the_token_once(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_callback(_slow_token_endpoint("old", "new", "extra"), url=TOKEN_URL, is_reusable=True)

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer old":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={})

    httpx_mock.add_callback(api, url=API, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(accounts.request, "GET", "/accounts/v1/globalAccount")

    run(main)
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 2
    # Each task is answered 401 at most once (the governor's cold start may hold some until the renewal).
    assert 50 < len(httpx_mock.get_requests(url=API)) <= 100


def test_revoked_token_gives_unauthorized_after_exactly_one_renewal(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(), is_reusable=True)
    httpx_mock.add_response(url=API, status_code=401, json={"error": "invalid_token"}, is_reusable=True)

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(Unauthorized) as info:
                await session.cloud_management(cis_key_dict()).accounts.request("GET", "/accounts/v1/globalAccount")
            assert info.value.error_code == "invalid_token"
            assert info.value.response.request.headers["Authorization"] == "[REDACTED]"

    run(main)
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 2
    assert len(httpx_mock.get_requests(url=API)) == 2


def test_wrong_client_gives_authentication_error(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=401,
        json={"error": "invalid_client", "error_description": "Bad credentials"},
    )

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(AuthenticationError) as info:
                await session.cloud_management(cis_key_dict()).accounts.request("GET", "/x")
            error = info.value
            assert (error.status_code, error.error_code, error.message) == (401, "invalid_client", "Bad credentials")
            assert not isinstance(error, Unauthorized)
            assert error.response.request.headers["Authorization"] == "[REDACTED]"
            assert CLIENT_SECRET not in str(error) + repr(error) + error.response.request.content.decode()

    run(main)
    assert not httpx_mock.get_requests(url=f"{ACCOUNTS_URL}/x")


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, {"token_type": "bearer"}), (200, None), (400, {"error": "unsupported_grant_type"})],
)
def test_token_endpoint_without_token(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, status: int, body: Any
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, status_code=status, json=body)

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(AuthenticationError):
                await session.cloud_management(cis_key_dict()).accounts.request("GET", "/x")

    anyio.run(main)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _api_ok(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=API, json={}, is_reusable=True)


async def _call(session: Session) -> str:
    response = await session.cloud_management(cis_key_dict()).accounts.request("GET", "/accounts/v1/globalAccount")
    return str(response.request.headers["Authorization"])


def test_refresh_ahead_of_expiry_prefers_refresh_token(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    clock = Clock()
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t1", 600, refresh_token=REFRESH_TOKEN))
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t2", 600))
    _api_ok(httpx_mock)

    async def main() -> None:
        async with make_session(token_clock=clock) as session:
            assert await _call(session) == "Bearer t1"
            clock.now += 539  # 600 s lifetime, renewed 60 s ahead
            assert await _call(session) == "Bearer t1"
            clock.now += 2
            assert await _call(session) == "Bearer t2"

    anyio.run(main)
    second = httpx_mock.get_requests(url=TOKEN_URL)[1]
    assert form(second) == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    assert second.headers["Authorization"] == _basic(cis_key_dict()["uaa"]["clientid"], CLIENT_SECRET)


def test_refused_refresh_falls_back_to_the_original_grant(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    clock = Clock()
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t1", 600, refresh_token=REFRESH_TOKEN))
    httpx_mock.add_response(url=TOKEN_URL, status_code=401, json={"error": "invalid_token"})
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t3", 600))
    _api_ok(httpx_mock)

    async def main() -> None:
        async with make_session(token_clock=clock) as session:
            await _call(session)
            clock.now += 1000
            assert await _call(session) == "Bearer t3"

    anyio.run(main)
    grants = [form(r)["grant_type"] for r in httpx_mock.get_requests(url=TOKEN_URL)]
    assert grants == ["client_credentials", "refresh_token", "client_credentials"]


def test_short_lived_tokens_renew_at_90_percent(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    clock = Clock()
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t1", 100))
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("t2", 100))
    _api_ok(httpx_mock)

    async def main() -> None:
        async with make_session(token_clock=clock) as session:
            await _call(session)
            clock.now += 89
            assert await _call(session) == "Bearer t1"
            clock.now += 2
            assert await _call(session) == "Bearer t2"

    anyio.run(main)


@pytest.mark.parametrize(
    ("access_token", "fresh_until"),
    [
        (jwt({"exp": 1_000_000 + 1000, "iat": 1_000_000}), 940),  # JWT exp, 60 s skew
        ("opaque-token", 270),  # default 300 s lifetime, renewed at 90%
    ],
)
def test_tokens_without_expires_in(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, access_token: str, fresh_until: int
) -> None:
    clock = Clock()
    httpx_mock.add_response(url=TOKEN_URL, json=token_json(access_token, None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_json("next", None))
    _api_ok(httpx_mock)

    async def main() -> None:
        async with make_session(token_clock=clock) as session:
            await _call(session)
            clock.now += fresh_until - 1
            assert await _call(session) == f"Bearer {access_token}"
            clock.now += 2
            assert await _call(session) == "Bearer next"

    anyio.run(main)


# -- X.509 ---------------------------------------------------------------------------------


def _self_signed() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scp-async-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_client_certificate_temp_files_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cert, key = _self_signed()
    context = load_client_certificate(cert, key)
    assert context is not None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"unusable X.509"):
        load_client_certificate(cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert list(tmp_path.iterdir()) == []


def test_x509_service_key_gets_token_over_mtls(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    cert, key = _self_signed()
    data = audit_key_dict()
    cert_url = "https://sub.authentication.cert.eu10.hana.ondemand.com"
    data["uaa"] = {"clientid": "sb-x509!b1", "credential-type": "x509", "certificate": cert, "key": key,
                   "certurl": cert_url, "url": "https://sub.authentication.eu10.hana.ondemand.com"}  # fmt: skip
    httpx_mock.add_response(url=f"{cert_url}/oauth/token", json=token_json())
    httpx_mock.add_response(url=f"{data['url']}/x", json=[])

    async def main() -> None:
        async with make_session() as session:
            response = await session.audit_log(data).request("GET", "/x")
            assert response.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"

    run(main)
    (token_request,) = httpx_mock.get_requests(url=f"{cert_url}/oauth/token")
    assert "Authorization" not in token_request.headers
    assert form(token_request) == {"grant_type": "client_credentials", "client_id": "sb-x509!b1"}


def test_unusable_x509_key_is_a_service_key_error(make_session: Callable[..., Session]) -> None:
    cert, _ = _self_signed()
    data = audit_key_dict()
    data["uaa"] = {"clientid": "sb-x509", "certificate": cert, "key": "garbage", "certurl": "https://cert.example"}

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(ServiceKeyError, match=r"X.509 credentials of client sb-x509") as info:
                await session.audit_log(data).request("GET", "/x")
            assert "garbage" not in str(info.value)

    anyio.run(main)


def test_sync_use_is_refused() -> None:
    async def never(grant: object, request: httpx.Request) -> httpx.Response:
        raise AssertionError("no token request expected")

    auth = TokenCache(never).auth(ClientCredentialsGrant(TOKEN_URL, "id", client_secret="s"))
    with pytest.raises(RuntimeError, match="AsyncClient only"), httpx.Client(auth=auth) as client:
        client.get("https://example.invalid/")


def test_one_tls_client_per_certificate_whatever_the_scopes(make_session: Callable[..., Session]) -> None:
    cert, key = _self_signed()
    other_cert, other_key = _self_signed()
    session = make_session()
    narrow = X509ClientCredentialsGrant(TOKEN_URL, "sb-x", certificate=cert, key=key, scope="narrow")
    wide = X509ClientCredentialsGrant(TOKEN_URL, "sb-x", certificate=cert, key=key, scope="wide other")
    other = X509ClientCredentialsGrant(TOKEN_URL, "sb-x", certificate=other_cert, key=other_key)
    assert narrow.cache_key != wide.cache_key  # tokens stay apart per scope ...
    assert session._mtls_client(narrow) is session._mtls_client(wide)  # ... the TLS identity is shared
    assert session._mtls_client(other) is not session._mtls_client(narrow)
