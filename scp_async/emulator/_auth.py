"""The emulator's UAA/XSUAA: ``/oauth/token`` and bearer-token verification.

Access tokens are JWT-shaped (HS256 with a per-emulator key) so clients may decode ``exp``; with
``token_format=opaque`` (form field, as UAA accepts it) they are random strings. Refresh tokens are opaque and
end in ``-r`` like UAA's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ._clock import Clock
from ._config import Credentials, EmulatorConfig
from ._http import Request, Response, TokenInfo, error_response, json_response

_CACHE_LIMIT = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A bearer token is missing, malformed, unknown, revoked or expired."""


@dataclass(slots=True)
class _Refresh:
    client_id: str
    user_name: str | None
    zone: str
    exp: float


class TokenService:
    """Issues and verifies tokens. Thread-safe; memory bounded (caches are cleared when full)."""

    def __init__(self, config: EmulatorConfig, clock: Clock, counters: Any, issuer: str = "") -> None:
        self.config = config
        self.clock = clock
        self.counters = counters
        self.issuer = issuer
        self.token_ttl = config.token_ttl
        self._key = hashlib.sha256(f"scp-async-emulator-{config.seed}".encode()).digest()
        self._clients: dict[str, Credentials] = {c.client_id: c for c in config.clients.values()}
        self._users = dict(config.users)
        self._lock = threading.Lock()
        self._verified: dict[str, TokenInfo] = {}
        self._opaque: dict[str, TokenInfo] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._revoked: set[str] = set()
        self._serial = 0

    # -- issuing ------------------------------------------------------------------------------------
    def issue(
        self, client_id: str, *, user_name: str | None = None, grant_type: str, opaque: bool = False
    ) -> dict[str, Any]:
        now = self.clock.now()
        client = self._clients.get(client_id)
        zone = client.identityzone if client else "emulator"
        with self._lock:
            self._serial += 1
            jti = f"{self._serial:08x}{secrets.token_hex(8)}"
        exp = now + self.token_ttl
        scopes = ("uaa.resource", f"{client.xsappname if client else client_id}.read")
        info = TokenInfo(jti, client_id, zone, exp, user_name, scopes)
        if opaque or self.config.token_format == "opaque":
            access = secrets.token_hex(16)
            with self._lock:
                if len(self._opaque) >= _CACHE_LIMIT:
                    self._prune_opaque(now)
                self._opaque[access] = info
        else:
            claims: dict[str, Any] = {
                "jti": jti,
                "sub": user_name or client_id,
                "client_id": client_id,
                "cid": client_id,
                "azp": client_id,
                "grant_type": grant_type,
                "zid": zone,
                "scope": list(scopes),
                "iat": int(now),
                "exp": int(exp),
                "iss": self.issuer + "/oauth/token",
                "aud": [client_id, "uaa"],
            }
            if user_name:
                claims["user_name"] = user_name
                claims["user_id"] = hashlib.md5(user_name.encode()).hexdigest()
                claims["origin"] = "uaa"
            access = self._sign(claims)
        self.counters.tokens_issued += 1
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": int(self.token_ttl),
            "scope": " ".join(scopes),
            "jti": jti,
        }
        if user_name is not None:
            refresh = secrets.token_hex(16) + "-r"
            with self._lock:
                if len(self._refresh) >= _CACHE_LIMIT:
                    self._refresh = {k: v for k, v in self._refresh.items() if v.exp > now}
                self._refresh[refresh] = _Refresh(client_id, user_name, zone, now + self.config.refresh_token_ttl)
            body["refresh_token"] = refresh
        return body

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(b'{"alg":"HS256","typ":"JWT","kid":"emulator"}')
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def _prune_opaque(self, now: float) -> None:
        self._opaque = {k: v for k, v in self._opaque.items() if v.exp > now}
        if len(self._opaque) >= _CACHE_LIMIT:
            self._opaque.clear()

    # -- verifying ----------------------------------------------------------------------------------
    def verify(self, authorization: str | None) -> TokenInfo:
        if not authorization:
            raise TokenError("Full authentication is required to access this resource")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("Full authentication is required to access this resource")
        token = token.strip()
        info = self._verified.get(token) or self._opaque.get(token)
        if info is None:
            info = self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = info
        if info.jti in self._revoked:
            raise TokenError("The token has been revoked")
        if info.exp <= self.clock.now():
            raise TokenError(f"Access token expired at {int(info.exp)}")
        return info

    def _decode(self, token: str) -> TokenInfo:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("Invalid access token: unknown token")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = _b64(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise TokenError("Invalid access token: signature verification failed")
        try:
            claims = json.loads(_unb64(parts[1]))
            return TokenInfo(
                str(claims["jti"]),
                str(claims["client_id"]),
                str(claims["zid"]),
                float(claims["exp"]),
                claims.get("user_name"),
                tuple(claims.get("scope", ())),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise TokenError("Invalid access token: malformed claims") from exc

    def revoke(self, token: str | None = None) -> None:
        """Revoke one access token (its ``jti``), or every token issued so far when ``token`` is None."""
        with self._lock:
            if token is None:
                for info in [*self._verified.values(), *self._opaque.values()]:
                    self._revoked.add(info.jti)
                self._opaque.clear()
                self._refresh.clear()
                self._key = hashlib.sha256(self._key + b"rotated").digest()
                self._verified.clear()
                return
            try:
                info = self.verify(f"Bearer {token}")
            except TokenError:
                return
            self._revoked.add(info.jti)

    # -- the token endpoint --------------------------------------------------------------------------
    def _client_auth(self, req: Request, form: dict[str, str]) -> tuple[str, str] | None:
        auth = req.headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            cid, sep, secret = decoded.partition(":")
            if not sep:
                return None
            return urllib.parse.unquote(cid), urllib.parse.unquote(secret)
        if "client_id" in form:
            return form["client_id"], form.get("client_secret", "")
        return None

    def token_endpoint(self, req: Request) -> Response:
        if req.method != "POST":
            return error_response("uaa", 405, "Request method not supported", code="method_not_allowed")
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return error_response("uaa", 400, "Body is not UTF-8", code="invalid_request")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
        for key, values in req.query.items():
            form.setdefault(key, values[-1])
        creds = self._client_auth(req, form)
        if creds is None:
            return error_response(
                "uaa", 401, "Full authentication is required to access this resource", code="unauthorized"
            )
        client_id, secret = creds
        client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            return error_response("uaa", 401, "Bad credentials", code="invalid_client")
        grant = form.get("grant_type", "")
        opaque = form.get("token_format") == "opaque"
        if grant == "client_credentials":
            if client.client_id == "cf":
                return error_response("uaa", 401, "Unauthorized grant type: client_credentials", code="invalid_client")
            return json_response(self.issue(client_id, grant_type=grant, opaque=opaque), headers=_NO_STORE)
        if grant == "password":
            user = form.get("username", "")
            password = form.get("password", "")
            known = self._users.get(user)
            if known is None or not hmac.compare_digest(known, password):
                return error_response("uaa", 401, "Bad credentials", code="unauthorized")
            body = self.issue(client_id, user_name=user, grant_type=grant, opaque=opaque)
            return json_response(body, headers=_NO_STORE)
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            with self._lock:
                entry = self._refresh.get(refresh)
            if entry is None or entry.client_id != client_id or entry.exp <= self.clock.now():
                return error_response("uaa", 401, "Invalid refresh token", code="invalid_token")
            body = self.issue(client_id, user_name=entry.user_name, grant_type=grant, opaque=opaque)
            with self._lock:  # UAA keeps handing back the same (non-rotating) refresh token
                self._refresh.pop(body["refresh_token"], None)
            body["refresh_token"] = refresh
            return json_response(body, headers=_NO_STORE)
        if not grant:
            return error_response("uaa", 400, "Missing grant type", code="invalid_request")
        return error_response("uaa", 400, f"Unsupported grant type: {grant}", code="unsupported_grant_type")


_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
