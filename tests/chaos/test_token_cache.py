"""The token cache is keyed by the whole credential: a wrong secret never rides on a good one's token."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from scp_async import (
    AuthenticationError,
    ClientCredentialsGrant,
    PasswordGrant,
    RefreshTokenGrant,
    RetryPolicy,
    Session,
    X509ClientCredentialsGrant,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, WRONG_SECRET, Exchange, Loopback

GA = "/accounts/v1/globalAccount"


def _ga(loopback: Loopback) -> None:
    def route(ex: Exchange) -> None:
        if loopback.authorized(ex):
            ex.reply(200, {"guid": "ga"})
        else:
            ex.reply(401, {"error": {"message": "invalid token"}})

    loopback.routes[("GET", GA)] = route


@pytest.mark.parametrize("client_auth", ["basic", "form"])
def test_a_wrong_secret_gets_its_own_401(loopback: Loopback, client_auth: str) -> None:
    _ga(loopback)

    async def main() -> None:
        async with Session(retry=RetryPolicy(max_retries=0)) as session:
            good = session.cloud_management(loopback.cis_key(), client_auth=client_auth).api("accounts")  # type: ignore[arg-type]
            bad = session.cloud_management(loopback.cis_key(secret=WRONG_SECRET), client_auth=client_auth)  # type: ignore[arg-type]
            assert (await good.request("GET", GA)).json() == {"guid": "ga"}
            with pytest.raises(AuthenticationError, match="Bad credentials"):
                await bad.api("accounts").request("GET", GA)
            # The good key still works, on its cached token.
            assert (await good.request("GET", GA)).status_code == 200

    anyio.run(main)
    assert loopback.hits[("POST", "/oauth/token")] == 2  # one per credential, none shared
    assert len(loopback.tokens) == 1


def test_the_same_credential_still_shares_one_token(loopback: Loopback) -> None:
    _ga(loopback)

    async def main() -> None:
        async with Session() as session:
            for _ in range(3):  # three API objects from three copies of the same key
                await session.cloud_management(loopback.cis_key()).api("accounts").request("GET", GA)

    anyio.run(main)
    assert loopback.hits[("POST", "/oauth/token")] == 1


CERT_A = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ29udGVudEE=\n-----END CERTIFICATE-----\n"
CERT_B = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ29udGVudEI=\n-----END CERTIFICATE-----\n"
KEY_A = "-----BEGIN PRIVATE KEY-----\nPRIV-KEY-A-Xk1\n-----END PRIVATE KEY-----\n"
KEY_B = "-----BEGIN PRIVATE KEY-----\nPRIV-KEY-B-Xk2\n-----END PRIVATE KEY-----\n"
URL = "https://uaa.example/oauth/token"


def test_cache_keys_cover_every_secret_and_hold_none() -> None:
    def x509(cert: str, key: str) -> X509ClientCredentialsGrant:
        return X509ClientCredentialsGrant(URL, CLIENT_ID, certificate=cert, key=key)

    pairs = [
        (ClientCredentialsGrant(URL, CLIENT_ID, client_secret=CLIENT_SECRET),
         ClientCredentialsGrant(URL, CLIENT_ID, client_secret=WRONG_SECRET)),
        (PasswordGrant(URL, username="u", password="pw-one-Qa1"),
         PasswordGrant(URL, username="u", password="pw-two-Qa2")),
        (RefreshTokenGrant(URL, refresh_token="rt-one-Zx1"), RefreshTokenGrant(URL, refresh_token="rt-two-Zx2")),
        (x509(CERT_A, KEY_A), x509(CERT_B, KEY_A)),
        (x509(CERT_A, KEY_A), x509(CERT_A, KEY_B)),
    ]  # fmt: skip
    for one, other in pairs:
        assert one.cache_key != other.cache_key, (one, other)
        assert one.cache_key == dataclasses.replace(one).cache_key  # equal credentials meet (a new object)
        shown = repr(one.cache_key) + repr(other.cache_key)
        for secret in (CLIENT_SECRET, WRONG_SECRET, "pw-one-Qa1", "rt-one-Zx1", "PRIV-KEY-A-Xk1", "PRIV-KEY-B-Xk2"):
            assert secret not in shown
