"""A token is cached per scope: a grant asking for other scopes never gets a token issued for fewer."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from scp_async import ClientCredentialsGrant, PasswordGrant, X509ClientCredentialsGrant
from scp_async._oauth import Grant, TokenCache

TOKEN_URL = "https://uaa.example/oauth/token"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ29udGVudEE=\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nPRIV-KEY-A-Xk1\n-----END PRIVATE KEY-----\n"


class _Issuer:
    """A token endpoint that names each token after the scope it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[str | None] = []

    async def __call__(self, grant: Grant, request: httpx.Request) -> httpx.Response:
        scope = parse_qs(request.content.decode()).get("scope", [None])[0]
        self.scopes.append(scope)
        body = {"access_token": f"token-{len(self.scopes)}", "expires_in": 3600, "token_type": "bearer"}
        return httpx.Response(200, json=body, request=request)


def _client(scope: str | None) -> ClientCredentialsGrant:
    return ClientCredentialsGrant(TOKEN_URL, "client", client_secret="s3cret", scope=scope)


def test_grants_with_other_scopes_get_their_own_tokens() -> None:
    issuer = _Issuer()
    cache = TokenCache(issuer)

    async def main() -> list[str]:
        grants = [_client("narrow"), _client("wide other"), _client(None), _client("narrow")]
        return [(await cache.token(grant)).access_token for grant in grants]

    tokens = anyio.run(main)
    assert tokens == ["token-1", "token-2", "token-3", "token-1"]
    assert issuer.scopes == ["narrow", "wide other", None]


def test_the_same_scopes_in_another_order_or_spacing_share_one_token() -> None:
    issuer = _Issuer()
    cache = TokenCache(issuer)

    async def main() -> set[str]:
        grants = [_client("wide other"), _client("other wide"), _client("  other\twide wide "), _client("wide other")]
        return {(await cache.token(grant)).access_token for grant in grants}

    assert anyio.run(main) == {"token-1"}
    assert issuer.scopes == ["wide other"]


def _password(scope: str | None) -> Grant:
    return PasswordGrant(TOKEN_URL, username="u", password="p", scope=scope)


def _x509(scope: str | None) -> Grant:
    return X509ClientCredentialsGrant(TOKEN_URL, "client", certificate=CERT, key=KEY, scope=scope)


@pytest.mark.parametrize("make", [_client, _password, _x509])
def test_every_grant_keys_its_cache_by_scope(make: Callable[[str | None], Grant]) -> None:
    keys = {scope: make(scope).cache_key for scope in (None, "", "narrow", "wide other", "other wide")}
    assert keys[None] == keys[""]  # no scope asked for, either way
    assert keys["wide other"] == keys["other wide"]
    assert len({keys[None], keys["narrow"], keys["wide other"]}) == 3
    assert "s3cret" not in repr(keys)
    assert "PRIV-KEY" not in repr(keys)
