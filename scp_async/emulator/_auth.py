"""The emulator's UAA/XSUAA: ``/oauth/token``, ``/token_keys`` (JWKS) and bearer-token verification.

Access tokens are RS256 JWTs as XSUAA issues them: signed with the emulator's RSA key (published at
``<uaa>/token_keys``), ``jku`` and ``kid`` in the header, and XSUAA's claims (``zid``, ``ext_attr`` with the
subaccount id and subdomain, ``cid``/``azp``/``client_id``, ``scope``/``authorities``, ``aud``; user tokens with
``user_name``, ``user_id``, ``email`` and ``origin``). With ``token_format=opaque`` (form field, as UAA accepts
it, or the config option) they are random strings. Refresh tokens are opaque and end in ``-r`` like UAA's.

Verification is cached by token string (RSA verification costs far more than serving a GET), entries live
until the token expires, and the cache is bounded.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._clock import Clock
from ._config import IN_PROCESS_ROOT, Credentials, EmulatorConfig, zone_id
from ._http import Request, Response, TokenInfo, error_response, json_response

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey
    from joserfc.jws import JWSRegistry

_CACHE_LIMIT = 10_000


@functools.cache
def _jws_registry() -> JWSRegistry:
    # joserfc (and cryptography below it) loads on first use: an emulator that issues no JWT starts faster
    from joserfc.jws import JWSRegistry
    from joserfc.registry import HeaderParameter

    # XSUAA puts the token id into the header as ``jid`` too; joserfc accepts only headers it is told about.
    return JWSRegistry(header_registry={"jid": HeaderParameter("XSUAA token id", "str")}, algorithms=["RS256"])


# Generating an RSA key costs ~0.1 s; emulators of one seed in one process share a key pair (tests create
# hundreds of emulators), just as they shared the HMAC key derived from the seed before.
_SHARED_KEYS: dict[int, _SigningKey] = {}
_SHARED_KEYS_LOCK = threading.Lock()


class TokenError(Exception):
    """A bearer token is missing, malformed, unknown, revoked or expired."""


@dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    key: RSAKey
    jwk: dict[str, Any]  # the public half as /token_keys lists it

    @classmethod
    def generate(cls) -> _SigningKey:
        from joserfc.jwk import RSAKey

        key = RSAKey.generate_key(2048, private=True)
        public = key.as_dict(private=False)
        kid = "default-jwt-key-" + hashlib.sha256(str(public["n"]).encode()).hexdigest()[:10]
        pem = key.as_pem(private=False).decode("ascii")
        jwk = {**public, "kid": kid, "use": "sig", "alg": "RS256", "value": pem}
        return cls(kid, key, jwk)


def _shared_key(seed: int) -> _SigningKey:
    with _SHARED_KEYS_LOCK:
        key = _SHARED_KEYS.get(seed)
        if key is None:
            key = _SHARED_KEYS[seed] = _SigningKey.generate()
        return key


@dataclass(slots=True)
class _Refresh:
    client_id: str
    user_name: str | None
    zone: str
    exp: float


def same_secret(a: str, b: str) -> bool:
    # compare_digest on str raises TypeError for non-ASCII text; compare the UTF-8 bytes instead
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


class TokenService:
    """Issues and verifies tokens. Thread-safe; memory bounded (caches are cleared when full)."""

    def __init__(self, config: EmulatorConfig, clock: Clock, counters: Any, issuer: str = "") -> None:
        self.config = config
        self.clock = clock
        self.counters = counters
        #: UAA origin per identity zone (``https://127.0.0.1:8443``); set by whoever knows the sockets.
        self.origins: dict[str, str] = {}
        self.default_origin = issuer
        self.token_ttl = config.token_ttl
        self._signing: _SigningKey | None = None
        self._clients: dict[str, Credentials] = {c.client_id: c for c in config.clients.values()}
        self._users = dict(config.users)
        self.zone_ids: dict[str, str] = {
            c.identityzone: zone_id(config.seed, c.identityzone) for c in config.clients.values()
        }
        self._lock = threading.Lock()
        self._verified: dict[str, TokenInfo] = {}
        self._opaque: dict[str, TokenInfo] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._revoked: set[str] = set()
        self._serial = 0

    @property
    def signing_key(self) -> _SigningKey:
        key = self._signing
        if key is None:
            key = self._signing = _shared_key(self.config.seed)
        return key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.signing_key.jwk]}

    def origin(self, zone: str) -> str:
        from ._keys import uaa_origin

        return self.origins.get(zone) or self.default_origin or uaa_origin(IN_PROCESS_ROOT, zone)

    # -- issuing ------------------------------------------------------------------------------------
    def issue(
        self,
        client_id: str,
        *,
        user_name: str | None = None,
        grant_type: str,
        opaque: bool = False,
        origin: str | None = None,
        user_origin: str | None = None,
    ) -> dict[str, Any]:
        """A token response body; ``origin`` is the UAA origin the request reached (the ``iss``/``jku`` base)."""
        now = self.clock.now()
        client = self._clients.get(client_id)
        zone = client.identityzone if client else "emulator"
        zid = self.zone_ids.get(zone) or zone_id(self.config.seed, zone)
        with self._lock:
            self._serial += 1
            jti = f"{self._serial:08x}{secrets.token_hex(8)}"
        exp = now + self.token_ttl
        xsappname = client.xsappname if client else client_id
        scopes = ("uaa.resource", f"{xsappname}.read") if user_name is None else ("openid", f"{xsappname}.read")
        info = TokenInfo(jti, client_id, zone, exp, user_name, scopes)
        if opaque or self.config.token_format == "opaque":
            access = secrets.token_hex(16)
            with self._lock:
                if len(self._opaque) >= _CACHE_LIMIT:
                    self._prune_opaque(now)
                self._opaque[access] = info
        else:
            base = (origin or self.origin(zone)).rstrip("/")
            claims: dict[str, Any] = {
                "jti": jti,
                "ext_attr": {"enhancer": "XSUAA", "subaccountid": zid, "zdn": zone},
                "sub": client_id,
                "scope": list(scopes),
                "client_id": client_id,
                "cid": client_id,
                "azp": client_id,
                "grant_type": grant_type,
                "rev_sig": hashlib.sha256(f"{client_id}/{user_name}".encode()).hexdigest()[:8],
                "iat": int(now),
                "exp": int(exp),
                "iss": base + "/oauth/token",
                "zid": zid,
                "aud": sorted({client_id, xsappname, "uaa"}),
            }
            if user_name is None:
                claims["authorities"] = list(scopes)
            else:
                user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"scp-async-emulator/{zid}/user/{user_name}"))
                local = user_name.partition("@")[0]
                claims.update(
                    sub=user_id,
                    user_id=user_id,
                    user_uuid=user_id,
                    user_name=user_name,
                    origin=user_origin or ("uaa" if client_id == "cf" else "sap.default"),
                    email=user_name if "@" in user_name else f"{user_name}@example.com",
                    given_name=local.split(".")[0].capitalize(),
                    family_name=(local.split(".")[-1] if "." in local else local).capitalize(),
                    auth_time=int(now),
                )
                claims["xs.user.attributes"] = {}
                claims["xs.system.attributes"] = {"xs.rolecollections": ["Global Account Administrator"]}
            signing = self.signing_key
            header = {"alg": "RS256", "jku": base + "/token_keys", "kid": signing.kid, "typ": "JWT", "jid": jti}
            from joserfc import jwt

            access = jwt.encode(header, claims, signing.key, algorithms=["RS256"], registry=_jws_registry())
            with self._lock:  # the issuer knows its own token: no RSA verification on first use
                if len(self._verified) >= _CACHE_LIMIT:
                    self._prune_verified(now)
                self._verified[access] = info
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

    def _prune_opaque(self, now: float) -> None:
        self._opaque = {k: v for k, v in self._opaque.items() if v.exp > now}
        if len(self._opaque) >= _CACHE_LIMIT:
            self._opaque.clear()

    def _prune_verified(self, now: float) -> None:
        self._verified = {k: v for k, v in self._verified.items() if v.exp > now}
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()

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
            with self._lock:
                if len(self._verified) >= _CACHE_LIMIT:
                    self._prune_verified(self.clock.now())
                self._verified[token] = info
        if info.jti in self._revoked:
            raise TokenError("The token has been revoked")
        if info.exp <= self.clock.now():
            raise TokenError(f"Access token expired at {int(info.exp)}")
        return info

    def _decode(self, token: str) -> TokenInfo:
        if token.count(".") != 2 or not token.isascii():
            raise TokenError("Invalid access token: unknown token")
        from joserfc import jwt
        from joserfc.errors import JoseError

        signing = self.signing_key
        try:
            decoded = jwt.decode(token, signing.key, algorithms=["RS256"], registry=_jws_registry())
        except (JoseError, ValueError, TypeError, UnicodeError, binascii.Error) as exc:
            raise TokenError("Invalid access token: signature verification failed") from exc
        if decoded.header.get("kid") != signing.kid:
            raise TokenError("Invalid access token: unknown signing key")
        claims = decoded.claims
        try:
            ext = claims.get("ext_attr") or {}
            return TokenInfo(
                str(claims["jti"]),
                str(claims["client_id"]),
                str(ext.get("zdn") or claims["zid"]),
                float(claims["exp"]),
                claims.get("user_name"),
                tuple(str(s) for s in claims.get("scope", ())),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TokenError("Invalid access token: malformed claims") from exc

    def revoke(self, token: str | None = None) -> None:
        """Revoke one access token (its ``jti``), or every token issued so far when ``token`` is None (the
        signing key is rotated, so ``/token_keys`` no longer lists the old one)."""
        if token is None:
            rotated = _SigningKey.generate()
            with self._lock:
                for info in [*self._verified.values(), *self._opaque.values()]:
                    self._revoked.add(info.jti)
                self._opaque.clear()
                self._refresh.clear()
                self._verified.clear()
                self._signing = rotated
            return
        try:
            info = self.verify(f"Bearer {token}")
        except TokenError:
            return
        with self._lock:
            self._revoked.add(info.jti)

    # -- the endpoints --------------------------------------------------------------------------------
    def _client_auth(self, req: Request, form: dict[str, str]) -> tuple[str, str] | None:
        auth = req.headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            cid, sep, secret = decoded.partition(":")
            if not sep:
                return None
            return urllib.parse.unquote(cid), urllib.parse.unquote(secret)
        if "client_id" in form:
            return form["client_id"], form.get("client_secret", "")
        return None

    def token_keys(self, req: Request) -> Response:
        """``GET /token_keys``: the JWKS. xssec passes ``?zid=``; an unknown zone is a 400 as XSUAA answers."""
        if req.method != "GET":
            return error_response("uaa", 405, "Request method not supported", code="method_not_allowed")
        zid = req.q("zid")
        if zid is not None and zid not in self.zone_ids.values():
            return error_response("uaa", 400, "Unknown identity zone", code="invalid_request")
        return json_response(self.jwks())

    def openid_configuration(self, origin: str) -> Response:
        return json_response(
            {
                "issuer": origin + "/oauth/token",
                "token_endpoint": origin + "/oauth/token",
                "jwks_uri": origin + "/token_keys",
                "grant_types_supported": ["client_credentials", "password", "refresh_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    def token_endpoint(self, req: Request, zone: str | None = None) -> Response:
        """``POST /oauth/token`` at ``req.root_url``; ``zone`` is the identity zone of that origin (None on the
        legacy ``<root>/uaa`` path, which serves every zone)."""
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
        if client is None or not same_secret(client.client_secret, secret):
            return error_response("uaa", 401, "Bad credentials", code="invalid_client")
        if zone is not None and client.identityzone != zone:  # a client exists only in its own zone
            return error_response("uaa", 401, "Bad credentials", code="invalid_client")
        origin = req.base_url
        grant = form.get("grant_type", "")
        opaque = form.get("token_format") == "opaque"
        if grant == "client_credentials":
            if client.client_id == "cf":
                return error_response("uaa", 401, "Unauthorized grant type: client_credentials", code="invalid_client")
            body = self.issue(client_id, grant_type=grant, opaque=opaque, origin=origin)
            return json_response(body, headers=_NO_STORE)
        if grant == "password":
            user = form.get("username", "")
            password = form.get("password", "")
            known = self._users.get(user)
            if known is None or not same_secret(known, password):
                return error_response("uaa", 401, "Bad credentials", code="unauthorized")
            body = self.issue(
                client_id,
                user_name=user,
                grant_type=grant,
                opaque=opaque,
                origin=origin,
                user_origin=_login_origin(form.get("login_hint")),
            )
            return json_response(body, headers=_NO_STORE)
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            with self._lock:
                entry = self._refresh.get(refresh)
            if entry is None or entry.client_id != client_id or entry.exp <= self.clock.now():
                return error_response("uaa", 401, "Invalid refresh token", code="invalid_token")
            body = self.issue(client_id, user_name=entry.user_name, grant_type=grant, opaque=opaque, origin=origin)
            with self._lock:  # UAA keeps handing back the same (non-rotating) refresh token
                self._refresh.pop(body["refresh_token"], None)
            body["refresh_token"] = refresh
            return json_response(body, headers=_NO_STORE)
        if not grant:
            return error_response("uaa", 400, "Missing grant type", code="invalid_request")
        return error_response("uaa", 400, f"Unsupported grant type: {grant}", code="unsupported_grant_type")


def _login_origin(login_hint: str | None) -> str | None:
    """The identity provider a password grant names in ``login_hint={"origin": "..."}`` (cf login --origin)."""
    if not login_hint:
        return None
    try:
        value = json.loads(login_hint)
    except ValueError:
        return None
    origin = value.get("origin") if isinstance(value, dict) else None
    return origin if isinstance(origin, str) and origin else None


_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
