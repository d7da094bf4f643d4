"""OAuth 2.0 tokens: grants, a per-session token cache, and the ``httpx.Auth`` that uses them.

Token requests are encoded with Authlib's RFC 6749 helpers and sent by the session's own
httpx client (Authlib's httpx integration warns on import, which users must never see).

The cache holds one token per credential. A token is fetched under a per-credential lock, so
any number of concurrent first calls, or of requests that all got a 401 for the same token,
cause a single token request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import ssl
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import anyio
import httpx
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_token_request  # type: ignore[import-untyped]

from ._errors import AuthenticationError, error_for_response
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, read_response
from ._logging import logger, redact_url, scrub_response

__all__ = [
    "ClientAuthMethod",
    "ClientCredentialsGrant",
    "Grant",
    "OAuth2Auth",
    "PasswordGrant",
    "RefreshTokenGrant",
    "Token",
    "TokenCache",
    "TokenSender",
    "X509ClientCredentialsGrant",
    "load_client_certificate",
]

ClientAuthMethod = Literal["basic", "form", "none"]
_AUTHLIB_METHODS = {"basic": "client_secret_basic", "form": "client_secret_post", "none": "none"}

#: Sends a prepared token request for a grant (the session picks the client, e.g. mTLS).
TokenSender = Callable[["Grant", httpx.Request], Awaitable[httpx.Response]]

# Cache keys hold keyed digests of secrets: equal secrets meet in the cache, while a key that leaks
# (a repr, a debugger) cannot be tested against guessed secrets outside this process.
_DIGEST_KEY = secrets.token_bytes(32)
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")


def _digest(*parts: str | None) -> str:
    message = json.dumps(parts).encode("utf-8", "surrogatepass")
    return hmac.new(_DIGEST_KEY, message, hashlib.sha256).hexdigest()


def _scope_set(scope: str | None) -> tuple[str, ...]:
    """The scopes asked for, as a set: order, repeats and spacing of ``scope`` mean nothing in OAuth."""
    return tuple(sorted(set(scope.split()))) if scope else ()


def certificate_fingerprint(certificate: str) -> str:
    """SHA-256 of the (first) certificate's DER bytes, or a digest of the text when it is not PEM."""
    match = _PEM_CERTIFICATE.search(certificate)
    if match is not None:
        try:
            return "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(match.group(0))).hexdigest()
        except ValueError:
            pass
    return "digest:" + _digest(certificate)


@dataclass(frozen=True)
class Token:
    """An access token; times are seconds on the cache's clock (``time.time`` by default)."""

    access_token: str = field(repr=False)
    expires_at: float
    issued_at: float
    token_type: str = "bearer"
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    #: Seconds the token request took, from sending it to its answer (0 for a token obtained elsewhere).
    round_trip: float = field(default=0.0, compare=False)

    @property
    def lifetime(self) -> float:
        """Seconds between issue and expiry."""
        return self.expires_at - self.issued_at

    @functools.cached_property
    def authorization(self) -> str:
        """The ``Authorization`` header's value: one string for every request, whose hash is made once."""
        return f"Bearer {self.access_token}"


# -- grants --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """How to obtain a token; subclasses are the concrete OAuth grants."""

    grant_type: ClassVar[str]
    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False, kw_only=True)
    auth_method: ClientAuthMethod = field(default="basic", kw_only=True)
    scope: str | None = field(default=None, kw_only=True)

    @property
    def user(self) -> str | None:
        """The resource owner the token is for, if not the client itself."""
        return None

    @functools.cached_property  # a keyed digest per call costs more than the rest of a token lookup
    def cache_key(self) -> Hashable:
        """Tokens are shared between every client of a session that uses the same credential: the
        same token URL, client, grant, user, scopes and secrets (held as keyed digests, never in clear)."""
        digest = _digest(*self._secrets())
        return (self.token_url, self.client_id, self.grant_type, self.user, _scope_set(self.scope), digest)

    def _secrets(self) -> tuple[str | None, ...]:
        return (self.client_secret,)

    def form(self) -> dict[str, str]:
        """Grant-specific form parameters (beyond ``grant_type`` and ``scope``)."""
        return {}

    def build_request(self) -> httpx.Request:
        """The token request, encoded by Authlib."""
        params: dict[str, Any] = dict(self.form())
        if self.scope:
            params["scope"] = self.scope
        body = prepare_token_request(self.grant_type, **params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        client_auth = ClientAuth(self.client_id, self.client_secret or "", _AUTHLIB_METHODS[self.auth_method])
        url, headers, body = client_auth.prepare("POST", self.token_url, headers, body)
        return httpx.Request("POST", url, headers=headers, content=body.encode("utf-8"))

    def refreshed_with(self, refresh_token: str) -> RefreshTokenGrant:
        """The refresh-token grant for a token this grant obtained."""
        return RefreshTokenGrant(
            self.token_url,
            self.client_id,
            refresh_token=refresh_token,
            client_secret=self.client_secret,
            auth_method=self.auth_method,
            for_user=self.user,
        )


@dataclass(frozen=True)
class ClientCredentialsGrant(Grant):
    """``client_credentials`` with a client secret (HTTP Basic by default, or ``form``)."""

    grant_type: ClassVar[str] = "client_credentials"


@dataclass(frozen=True)
class PasswordGrant(Grant):
    """``password`` grant; the defaults are Cloud Foundry's public ``cf`` client.

    ``origin`` selects the identity provider, sent as UAA's ``login_hint``.
    """

    grant_type: ClassVar[str] = "password"
    client_id: str = "cf"
    client_secret: str | None = field(default="", repr=False, kw_only=True)
    username: str = field(kw_only=True)
    password: str = field(repr=False, kw_only=True)
    origin: str | None = field(default=None, kw_only=True)

    @property
    def user(self) -> str | None:
        return f"{self.origin}/{self.username}" if self.origin else self.username

    def _secrets(self) -> tuple[str | None, ...]:
        return (self.client_secret, self.password)

    def form(self) -> dict[str, str]:
        form = {"username": self.username, "password": self.password}
        if self.origin:
            form["login_hint"] = json.dumps({"origin": self.origin}, separators=(",", ":"))
        return form


@dataclass(frozen=True)
class RefreshTokenGrant(Grant):
    """``refresh_token`` grant; used on its own to reuse a ``cf`` CLI login."""

    grant_type: ClassVar[str] = "refresh_token"
    client_id: str = "cf"
    client_secret: str | None = field(default="", repr=False, kw_only=True)
    refresh_token: str = field(repr=False, kw_only=True)
    for_user: str | None = field(default=None, kw_only=True)

    @property
    def user(self) -> str | None:
        return self.for_user

    def _secrets(self) -> tuple[str | None, ...]:
        return (self.client_secret, self.refresh_token)

    def form(self) -> dict[str, str]:
        return {"refresh_token": self.refresh_token}


@dataclass(frozen=True)
class X509ClientCredentialsGrant(Grant):
    """``client_credentials`` authenticated by a client certificate (mTLS at ``certurl``).

    The client id goes in the form; there is no secret.
    """

    grant_type: ClassVar[str] = "client_credentials"
    auth_method: ClientAuthMethod = field(default="none", kw_only=True)
    certificate: str = field(repr=False, kw_only=True)
    key: str = field(repr=False, kw_only=True)

    @functools.cached_property
    def cache_key(self) -> Hashable:
        # The certificate's fingerprint names the identity; the key's digest keeps a mismatched key
        # from riding on a good pair's token or mTLS connection.
        fingerprint = certificate_fingerprint(self.certificate)
        return (self.token_url, self.client_id, "x509", _scope_set(self.scope), fingerprint, _digest(self.key))


def load_client_certificate(certificate: str, key: str) -> ssl.SSLContext:
    """An SSL context presenting ``certificate``/``key`` (PEM text) as the client identity.

    :mod:`ssl` only loads key material from files, so both are written to a private temporary
    directory (mode 0700, files 0600) that is removed before this function returns.
    """
    context = ssl.create_default_context()
    with tempfile.TemporaryDirectory(prefix="scp-async-") as directory:
        os.chmod(directory, 0o700)
        cert_path = os.path.join(directory, "client.crt")
        key_path = os.path.join(directory, "client.key")
        for path, text in ((cert_path, certificate), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            # The library text names neither path nor key material, only the failing step.
            raise ValueError(f"unusable X.509 certificate or key: {exc.reason or 'invalid PEM'}") from None
    return context


# -- cache ---------------------------------------------------------------------------------


@dataclass
class _Slot:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    token: Token | None = None
    #: The lifetime the issuer gives its tokens when their expiry is its JWT ``exp``, in whole seconds.
    whole_seconds: float | None = None
    #: Until when `token` counts as fresh (worked out once per token and skew, not on every call).
    fresh_until: float = 0.0
    fresh_for: tuple[Token, float] | None = None


class TokenCache:
    """One token per credential for a whole session, refreshed ahead of expiry.

    A token expires at its JWT's ``exp`` (the issuer's own word, to the second) unless our clock
    disagrees with the issuer's; then, and for opaque tokens, ``expires_in`` seconds after receipt,
    else ``default_lifetime`` seconds after. It is renewed ahead by 10% of its lifetime, at least the
    1 s granularity of JWT times and at most ``refresh_skew``; a token that lives no longer than that
    margin keeps what a request in flight needs (twice its own request's round trip, at least 10 ms, at
    most 10% of its life), and when a token asked for now would expire in the same
    whole second as the current one, the cache waits for that second to pass rather than fetch it
    (one token per lifetime). A 401 is answered by one renewal in :class:`OAuth2Auth`.
    """

    def __init__(
        self,
        send: TokenSender,
        *,
        refresh_skew: float = 60.0,
        default_lifetime: float = 300.0,
        clock: Callable[[], float] = time.time,
    ):
        self._send = send
        self._slots: dict[Hashable, _Slot] = {}
        self.refresh_skew = refresh_skew
        self.default_lifetime = default_lifetime
        self._clock = clock

    def auth(self, grant: Grant) -> OAuth2Auth:
        """An ``httpx.Auth`` that sends this grant's token and renews it once on a 401."""
        return OAuth2Auth(self, grant)

    def seed(self, grant: Grant, access_token: str, *, refresh_token: str | None = None) -> None:
        """Start from a token obtained elsewhere (e.g. the ``cf`` CLI), unless one is cached."""
        slot = self._slot(grant)
        if slot.token is None:
            slot.token = self._make_token({"access_token": access_token, "refresh_token": refresh_token})

    def invalidate(self, grant: Grant) -> None:
        """Forget the cached token of ``grant``."""
        self._slot(grant).token = None

    def fresh(self, grant: Grant) -> Token | None:
        """The cached token for ``grant`` if it is fresh (no waiting, no request), else ``None``: a caller that
        gets ``None`` awaits :meth:`token`."""
        slot = self._slots.get(grant.cache_key)
        if slot is None:
            return None
        current = slot.token
        if current is not None and self._is_fresh(slot, current):
            return current
        return None

    async def token(self, grant: Grant, *, reject: Token | None = None) -> Token:
        """A valid token for ``grant``; ``reject`` is a token the API just refused."""
        slot = self._slot(grant)
        current = slot.token
        if current is not None and current is not reject and self._is_fresh(slot, current):
            return current
        async with slot.lock:
            # Whoever held the lock before may have fetched the token this caller needs.
            current = slot.token
            if current is not None and current is not reject and self._is_fresh(slot, current):
                return current
            if current is not None and current is not reject:
                await self._wait_for_a_longer_lived_token(slot, current)
            token = await self._obtain(grant, current)
            slot.token, slot.whole_seconds = token, _whole_second_lifetime(token)
            return token

    def _slot(self, grant: Grant) -> _Slot:
        # Looked up on every call: a new slot (and its lock) only for a grant not seen before.
        slot = self._slots.get(grant.cache_key)
        if slot is None:
            slot = self._slots[grant.cache_key] = _Slot()
        return slot

    def _is_fresh(self, slot: _Slot, token: Token) -> bool:
        memo = slot.fresh_for
        if memo is None or memo[0] is not token or memo[1] != self.refresh_skew:
            slot.fresh_until = token.expires_at - self._margin(token)
            slot.fresh_for = (token, self.refresh_skew)
        return self._clock() < slot.fresh_until

    def _margin(self, token: Token) -> float:
        """How long before its expiry a token is renewed."""
        lifetime = max(token.lifetime, 0.0)
        margin = min(self.refresh_skew, max(_TIME_GRANULARITY, 0.1 * lifetime))
        if margin >= lifetime:
            # A token that lives no longer than a second: what a request sent now needs to get there,
            # twice the round trip of the token's own request, at least 10 ms, at most 10 % of its life.
            # (Renewing earlier buys nothing from an issuer that counts in whole seconds, see below:
            # it only makes a token more when calls end just before a second does.)
            margin = min(0.1 * lifetime, max(_IN_FLIGHT_FLOOR, 2.0 * token.round_trip))
        return margin

    async def _wait_for_a_longer_lived_token(self, slot: _Slot, current: Token) -> None:
        # An issuer that counts in whole seconds gives a token asked for now the same `exp` as `current`
        # when its lifetime is that short (1 s tokens near the end of a second): renewing now would only
        # buy a second token that dies with the first. Waiting out the few ms left gets a whole new one.
        now = self._clock()
        left = current.expires_at - now
        if slot.whole_seconds is not None and left > 0 and math.floor(now) + slot.whole_seconds <= current.expires_at:
            await anyio.sleep(min(left, _TIME_GRANULARITY))

    async def _obtain(self, grant: Grant, previous: Token | None) -> Token:
        if previous is not None and previous.refresh_token:
            try:
                token = await self._request(grant.refreshed_with(previous.refresh_token))
            except AuthenticationError as exc:
                if isinstance(grant, RefreshTokenGrant) and grant.refresh_token == previous.refresh_token:
                    raise
                logger.info("token refresh refused (%s); requesting a new token", exc.error_code)
            else:
                if token.refresh_token is None:
                    token = replace(token, refresh_token=previous.refresh_token)
                return token
        return await self._request(grant)

    async def _request(self, grant: Grant) -> Token:
        request = grant.build_request()
        started = self._clock()
        response = await self._send(grant, request)
        round_trip = max(self._clock() - started, 0.0)
        logger.debug(
            "token %s %s -> %s in %.3fs (grant %s)",
            request.method,
            redact_url(request.url),
            response.status_code,
            round_trip,
            grant.grant_type,
        )
        if response.status_code >= 400:
            safe = _without_credentials(response)
            if response.status_code >= 500:
                raise error_for_response(safe)
            raise AuthenticationError(safe)
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise AuthenticationError(
                _without_credentials(response), message="token endpoint answered without an access_token"
            )
        return self._make_token(data, round_trip)

    def _make_token(self, data: dict[str, Any], round_trip: float = 0.0) -> Token:
        now = self._clock()
        access_token = str(data["access_token"])
        expires_in = _seconds(data.get("expires_in"))
        claims = _jwt_claims(access_token)
        exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        if exp is not None and _clocks_agree(now, exp, iat, expires_in):
            expires_at = exp
        elif expires_in is not None:
            expires_at = now + expires_in
        elif exp is not None and iat is not None and iat <= exp:
            expires_at = now + (exp - iat)  # our clock is off the issuer's: keep the lifetime it gave
        else:
            expires_at = now + self.default_lifetime
        refresh = data.get("refresh_token")
        return Token(
            access_token=access_token,
            expires_at=expires_at,
            issued_at=now,
            token_type=str(data.get("token_type") or "bearer"),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
            round_trip=round_trip,
        )


#: JWT ``iat``/``exp`` are whole seconds, and ``expires_in`` is rounded to them.
_TIME_GRANULARITY = 1.0
#: The least time kept for a request in flight with a token that lives no longer than that granularity.
_IN_FLIGHT_FLOOR = 0.01


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _whole_second_lifetime(token: Token) -> float | None:
    claims = _jwt_claims(token.access_token)
    exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
    if exp is None or iat is None or exp != token.expires_at or not (exp.is_integer() and iat.is_integer()):
        return None
    return exp - iat


def _clocks_agree(now: float, exp: float, iat: float | None, expires_in: float | None) -> bool:
    """Whether a token's ``exp`` can be read on our clock: the issuer's clock and ours agree to about
    the granularity of its times (else a client clock that is ahead would see every token expired)."""
    tolerance = 1.5 * _TIME_GRANULARITY
    if expires_in is not None:
        return abs((exp - now) - expires_in) <= tolerance
    if iat is not None:
        return abs(iat - now) <= tolerance
    return exp > now


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _without_credentials(response: httpx.Response) -> httpx.Response:
    """A copy of a token response without the client secret/password, in its request or echoed in its body."""
    return scrub_response(response)


# -- httpx.Auth ----------------------------------------------------------------------------


class OAuth2Auth(httpx.Auth):
    """Bearer authentication from a :class:`TokenCache`.

    On a 401 the token is renewed and the request re-sent once (the same dance as httpx's
    ``DigestAuth``); a second 401 is returned to the caller.
    """

    #: Cap on the body of a 401 that is discarded before the retry with a renewed token.
    max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE

    def __init__(self, cache: TokenCache, grant: Grant):
        self.cache = cache
        self.grant = grant

    def __repr__(self) -> str:
        return f"OAuth2Auth(grant={self.grant!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("scp_async authentication works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.cache.token(self.grant)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if response.status_code != 401:
            return
        # httpx reads this response whole before sending the retry; read it first, under a cap.
        await read_response(response, self.max_response_size)
        logger.debug("401 for %s %s; renewing the token once", request.method, redact_url(request.url))
        token = await self.cache.token(self.grant, reject=token)
        request.headers["Authorization"] = token.authorization
        yield request
