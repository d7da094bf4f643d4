"""How long a token is used: the JWT's ``exp`` when our clock agrees with the issuer's, ``expires_in``
otherwise, renewed ahead by a margin that covers the whole-second granularity of JWT times."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest

from scp_async import ClientCredentialsGrant, Grant, TokenCache

from .helpers import TOKEN_URL, jwt

START = 1_000_000.0
GRANT = ClientCredentialsGrant(TOKEN_URL, "client", client_secret="secret")


class Issuer:
    """A token endpoint on a fake clock: each token request gets the next body from ``bodies``."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.now = START
        self.bodies = list(bodies)
        self.issued = 0

    def clock(self) -> float:
        return self.now

    async def send(self, grant: Grant, request: httpx.Request) -> httpx.Response:
        self.issued += 1
        return httpx.Response(200, json=self.bodies.pop(0), request=request)


def _token(name: str, **claims: float) -> str:
    return jwt({"sub": name, **claims}) if claims else name


def _which(issuer: Issuer, cache: TokenCache, at: float) -> str:
    issuer.now = START + at

    async def main() -> str:
        return (await cache.token(GRANT)).access_token

    return anyio.run(main)


def test_the_jwt_exp_wins_over_a_rounded_expires_in() -> None:
    # Issued at .7 past a second: the JWT says the token ends at the next whole second, 0.3 s away,
    # although expires_in says 1 s.
    first = _token("t1", iat=START, exp=START + 1)
    issuer = Issuer({"access_token": first, "expires_in": 1}, {"access_token": "t2", "expires_in": 1})
    issuer.now = START + 0.7
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert _which(issuer, cache, 0.7) == first
    assert _which(issuer, cache, 0.98) == first  # 10 ms of its 0.3 s kept for a request in flight
    # A token asked for now would end at the same whole second: the cache waits the 5 ms out first.
    started = time.monotonic()
    assert _which(issuer, cache, 0.995) == "t2"
    assert time.monotonic() - started >= 0.004
    assert issuer.issued == 2


@pytest.mark.parametrize(
    ("lifetime", "still_fresh", "renewed"),
    [
        (3600.0, 3539.0, 3541.0),  # refresh_skew (60 s) ahead
        (300.0, 269.0, 271.0),  # 10% ahead
        (5.0, 3.9, 4.1),  # at least 1 s ahead: the granularity of the issuer's times
        (1.0, 0.985, 0.995),  # no longer than that: 10 ms for a request in flight (its own took none here)
    ],
)
def test_renewal_margin(lifetime: float, still_fresh: float, renewed: float) -> None:
    first = _token("t1", iat=START, exp=START + lifetime)
    issuer = Issuer({"access_token": first}, {"access_token": "t2", "expires_in": 3600})
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert cache.fresh(GRANT) is None  # nothing cached: the caller awaits token()
    assert _which(issuer, cache, 0) == first
    assert _which(issuer, cache, still_fresh) == first
    fresh = cache.fresh(GRANT)  # what the direct lane takes without a coroutine: the same token
    assert fresh is not None
    assert fresh.access_token == first
    issuer.now = START + renewed
    assert cache.fresh(GRANT) is None  # due for renewal: only token() hands one out
    assert _which(issuer, cache, renewed) == "t2"


@pytest.mark.parametrize(("round_trip", "still_fresh", "renewed"), [(0.04, 0.91, 0.93), (0.3, 0.92, 0.94)])
def test_a_one_second_token_keeps_twice_its_round_trip_for_requests_in_flight(
    round_trip: float, still_fresh: float, renewed: float
) -> None:
    """At most 10 % of its life (0.7 s after a round trip of 0.3 s): a slow token endpoint does not make a
    short token useless."""

    class Slow(Issuer):
        async def send(self, grant: Grant, request: httpx.Request) -> httpx.Response:
            self.now += round_trip
            return await super().send(grant, request)

    first = _token("t1", iat=START, exp=START + 1)
    issuer = Slow({"access_token": first}, {"access_token": "t2", "expires_in": 3600})
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert _which(issuer, cache, 0) == first
    assert cache_token_round_trip(cache) == pytest.approx(round_trip)
    assert _which(issuer, cache, still_fresh) == first
    assert _which(issuer, cache, renewed) == "t2"


def cache_token_round_trip(cache: TokenCache) -> float:
    async def main() -> float:
        return (await cache.token(GRANT)).round_trip

    return anyio.run(main)


@pytest.mark.parametrize("skew", [-120.0, 120.0, 3.0])
def test_a_client_clock_off_the_issuers_uses_expires_in(skew: float) -> None:
    # The issuer's clock is `skew` seconds off ours: its exp read on our clock would be wrong by as much.
    issued = START + skew
    first = _token("t1", iat=issued, exp=issued + 600)
    issuer = Issuer({"access_token": first, "expires_in": 600}, {"access_token": "t2", "expires_in": 600})
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert _which(issuer, cache, 0) == first
    assert _which(issuer, cache, 539) == first
    assert _which(issuer, cache, 541) == "t2"


def test_without_expires_in_a_skewed_jwt_keeps_its_lifetime() -> None:
    first = _token("t1", iat=START - 500, exp=START - 500 + 600)
    issuer = Issuer({"access_token": first}, {"access_token": "t2"})
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert _which(issuer, cache, 0) == first
    assert _which(issuer, cache, 539) == first  # 600 s from receipt, not 100 s
    assert _which(issuer, cache, 541) == "t2"


@pytest.mark.parametrize("token", ["opaque-token", "a.b.c", "x." + "e30" + ".y", _token("t", exp=float("nan"))])
def test_opaque_or_unreadable_tokens_use_expires_in(token: str) -> None:
    issuer = Issuer({"access_token": token, "expires_in": "120"}, {"access_token": "t2", "expires_in": 120})
    cache = TokenCache(issuer.send, clock=issuer.clock)
    assert _which(issuer, cache, 0) == token
    assert _which(issuer, cache, 107) == token
    assert _which(issuer, cache, 109) == "t2"
