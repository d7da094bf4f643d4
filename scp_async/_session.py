"""The session: one connection pool, one token cache, one retry policy, many APIs.

Every request of every API goes through :meth:`Session.request`, which adds authentication,
retries, logging and the mapping of error responses to :mod:`scp_async._errors`. The API
objects returned by :meth:`Session.cloud_management` and friends only hold a base URL and an
``httpx.Auth``; the typed per-API namespaces build each request with the generated code and send
it through :meth:`ApiContext.request` (one HTTP layer, see :mod:`scp_async._namespace`).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeAlias, cast

import anyio
import anyio.lowlevel
import httpx
from httpx._urlparse import ParseResult as _ParseResult

from ._credentials import (
    CfCliConfig,
    ServiceKey,
    ServiceKeyKind,
    ServiceKeyLike,
    UaaCredentials,
    load_service_key,
)
from ._deadline import CallDeadline, call_deadline
from ._direct import Answer, DirectLane, DirectRequest, with_params
from ._errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    ScpAsyncError,
    ServiceKeyError,
    error_for_response,
)
from ._governor import ATTEMPTS, RateGovernor, Ticket
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, read_response
from ._logging import RedactedUrl, logger, redact_exception, redact_request, redact_text, redact_url
from ._oauth import (
    ClientCredentialsGrant,
    Grant,
    OAuth2Auth,
    PasswordGrant,
    RefreshTokenGrant,
    TokenCache,
    X509ClientCredentialsGrant,
    certificate_fingerprint,
    load_client_certificate,
)
from ._options import (
    CALL_DEADLINE,
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    NotGiven,
    RequestOptions,
    TimeoutTypes,
    time_left,
)
from ._retry import ALREADY_DELETED, RetryPolicy, deleted_before, may_have_applied
from ._transport import DEFAULT_LIMITS, DefaultTransport, _AsyncioPool, _running_asyncio_loop, answers_from_network

if TYPE_CHECKING:
    from scp_async_clients.accounts._namespace import AccountsApi
    from scp_async_clients.entitlements._namespace import EntitlementsApi
    from scp_async_clients.events._namespace import EventsApi
    from scp_async_clients.provisioning._namespace import ProvisioningApi
    from scp_async_clients.resource_consumption._namespace import ResourceConsumptionApi
    from scp_async_clients.saas_provisioning._namespace import SaasProvisioningApi
    from scp_async_clients.service_manager._namespace import ServiceManagerApi
    from scp_async_clients.xsuaa._namespace import XsuaaApi

    from ._apis import AuditLog, CloudFoundry

__all__ = [
    "ApiContext",
    "CloudManagement",
    "MultiAppsContext",
    "Session",
]

QueryParams: TypeAlias = httpx.QueryParams | Mapping[str, Any] | list[tuple[str, Any]]


@functools.cache
def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"scp-async/{version('scp-async')}"
    except PackageNotFoundError:  # running from a source checkout
        return "scp-async"


class _SetCookieOnly(httpx.Cookies):
    """A client's cookie store that reads only responses that set a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


async def _exchange(
    client: httpx.AsyncClient, request: httpx.Request, auth: httpx.Auth | None, max_response_size: int | None
) -> httpx.Response:
    """``client.send(request, auth=auth, stream=True)``, with the layers a session call never needs skipped.

    httpx's send passes each request through its redirect and hook machinery and its own logging
    (a quarter of a call's CPU at fan-out rates); a session follows no redirects and logs for itself.
    A client with event hooks, redirects on, or auth of its own, and a URL with credentials, go
    through httpx's own send.
    """
    hooks = client.event_hooks
    transport_for_url: Callable[[httpx.URL], httpx.AsyncBaseTransport] | None = getattr(
        client, "_transport_for_url", None
    )
    if (
        transport_for_url is None
        or client.follow_redirects
        or hooks["request"]
        or hooks["response"]
        or (auth is None and (request.url.userinfo or client.auth is not None))
        or (auth is not None and (auth.requires_request_body or auth.requires_response_body))
    ):
        return await client.send(request, auth=auth, stream=True)
    transport: httpx.AsyncBaseTransport = transport_for_url(request.url)
    encoding = getattr(client, "_default_encoding", "utf-8")  # a client's own choice for bodies without a charset

    async def send(request: httpx.Request) -> httpx.Response:
        response = await transport.handle_async_request(request)
        response.request = request
        if encoding != "utf-8":
            response.default_encoding = encoding
        client.cookies.extract_cookies(response)
        return response

    if auth is None:
        return await send(request)
    flow = auth.async_auth_flow(request)
    try:
        request = await flow.__anext__()
        while True:
            response = await send(request)
            try:
                request = await flow.asend(response)
            except StopAsyncIteration:
                return response
            except BaseException:
                await response.aclose()
                raise
            # The flow asks again (a 401 and a renewed token): the answer it saw is done with.
            await read_response(response, max_response_size)
    finally:
        await flow.aclose()


def _check_network(http_client: object, transport: object) -> None:
    """Refuse at once what would fail on the first call (with an AttributeError from deep inside)."""
    if http_client is not None and transport is not None:
        raise TypeError("pass http_client= or transport=, not both: the client sends through its own transport")
    if transport is not None and not callable(getattr(transport, "handle_async_request", None)):
        hint = " (a client goes as http_client=)" if isinstance(transport, (httpx.AsyncClient, httpx.Client)) else ""
        raise TypeError(
            "transport must be an httpx.AsyncBaseTransport (httpx.AsyncHTTPTransport, httpx.ASGITransport, ...),"
            f" not {type(transport).__name__}{hint}"
        )
    if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
        hint = " (a transport goes as transport=)" if hasattr(http_client, "handle_async_request") else ""
        raise TypeError(f"http_client must be an httpx.AsyncClient, not {type(http_client).__name__}{hint}")


@dataclass
class _Core:
    """What every view of a session shares."""

    client: httpx.AsyncClient
    owns_client: bool
    transport: httpx.AsyncBaseTransport | None
    tokens: TokenCache = field(init=False)
    mtls_clients: dict[Hashable, httpx.AsyncClient] = field(default_factory=dict)
    closed: bool = False
    max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE
    governor: RateGovernor = field(default_factory=RateGovernor)
    #: Bodiless requests on the session's own DefaultTransport skip httpx's objects (see ``_direct``).
    direct: DirectLane | None = None


class Session:
    """An async session for the SAP BTP management APIs.

    Use it as ``async with Session() as session:``; it owns one ``httpx.AsyncClient`` (unless
    ``http_client`` is given) and one token cache shared by every API object it returns.
    ``timeout``/``deadline``/``max_retries``/``retry``/``headers`` set the defaults, which
    :meth:`with_options` and each call can override. ``timeout`` bounds each connect and read;
    ``deadline`` (seconds, ``None`` for none) bounds a whole call: connect, every read, retries,
    the waits between them and the token request. Tokens are renewed up to
    ``refresh_skew`` seconds before they expire, judged by ``token_clock``. ``transport``
    replaces the network (e.g. an emulator's ASGI app), the token requests of X.509 keys included (such a
    transport presents their client certificate itself); ``http_client`` brings a client of your own (one
    or the other, not both). A response body larger than
    ``max_response_size`` bytes once decompressed (``None``: no cap) raises
    :class:`~scp_async.ResponseTooLargeError`; reading stops there.
    """

    _core: _Core
    _options: RequestOptions

    def __init__(
        self,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        deadline: float | None = DEFAULT_DEADLINE,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        refresh_skew: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        token_clock: Callable[[], float] = time.time,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
        governor: RateGovernor | None = None,
    ) -> None:
        _check_network(http_client, transport)
        options = RequestOptions(retry=retry or RetryPolicy()).merge(
            timeout=timeout, max_retries=max_retries, headers=headers or {}, deadline=deadline
        )
        wire = transport or DefaultTransport()
        client = http_client or httpx.AsyncClient(
            transport=wire,
            # httpx reads proxies from the environment only for a client without a transport of its own.
            mounts=wire.proxy_mounts() if isinstance(wire, DefaultTransport) else None,
            limits=DEFAULT_LIMITS,
            timeout=options.timeout,
            headers={"User-Agent": _user_agent()},
        )
        if http_client is None:
            # httpx scans every response for cookies through the stdlib's cookie jar (~8 % of a call's CPU);
            # only the few that set one (the MultiApps session cookie) need it.
            client._cookies = _SetCookieOnly(client.cookies)
        if max_response_size is not None and max_response_size < 1:
            raise ValueError(f"max_response_size must be a positive number of bytes or None, not {max_response_size!r}")
        core = _Core(
            client=client, owns_client=http_client is None, transport=transport, max_response_size=max_response_size
        )
        if http_client is None and transport is None:
            core.direct = DirectLane(client)
        core.tokens = TokenCache(self._send_token_request, refresh_skew=refresh_skew, clock=token_clock)
        if governor is not None:
            core.governor = governor
        self._core = core
        self._options = options

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools this session created (views share them: close once)."""
        core = self._core
        if core.closed:
            return
        core.closed = True
        clients = list(core.mtls_clients.values())
        core.mtls_clients.clear()
        if core.owns_client:
            clients.append(core.client)
        for client in clients:
            await client.aclose()

    def __repr__(self) -> str:
        options = self._options
        retries = options.retry.max_retries
        return f"Session(timeout={options.timeout!r}, deadline={options.deadline!r}, max_retries={retries})"

    # -- options ---------------------------------------------------------------------------

    @property
    def options(self) -> RequestOptions:
        """The options applied to requests of this session (or view)."""
        return self._options

    @property
    def tokens(self) -> TokenCache:
        """The token cache shared by all views of this session."""
        return self._core.tokens

    @property
    def governor(self) -> RateGovernor:
        """The rate governor shared by all views of this session (``governor.stats()`` for its counters)."""
        return self._core.governor

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The underlying connection pool."""
        return self._core.client

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> Session:
        """A view of this session with other defaults, sharing its pool and token cache."""
        view = object.__new__(Session)
        view._core = self._core
        view._options = self._options.merge(
            timeout=timeout, max_retries=max_retries, retry=retry, headers=headers, deadline=deadline
        )
        return view

    # -- auth ------------------------------------------------------------------------------

    def auth(self, grant: Grant) -> OAuth2Auth:
        """An ``httpx.Auth`` for ``grant`` backed by this session's token cache."""
        return self._core.tokens.auth(grant)

    def auth_for_credentials(
        self, uaa: UaaCredentials, *, client_auth: Literal["basic", "form"] = "basic"
    ) -> OAuth2Auth:
        """Client-credentials auth for a service key's OAuth client (secret or X.509)."""
        grant: Grant
        if uaa.certificate is not None and uaa.key is not None:
            grant = X509ClientCredentialsGrant(uaa.token_url, uaa.client_id, certificate=uaa.certificate, key=uaa.key)
        else:
            grant = ClientCredentialsGrant(
                uaa.token_url, uaa.client_id, client_secret=uaa.client_secret, auth_method=client_auth
            )
        return self.auth(grant)

    async def _send_token_request(self, grant: Grant, request: httpx.Request) -> httpx.Response:
        client = self._mtls_client(grant) if isinstance(grant, X509ClientCredentialsGrant) else None
        # A token request is not an attempt of the call that happens to need the token (fan-out counts).
        counting = ATTEMPTS.set(None)
        try:
            response = await self._send(
                lambda: request, auth=None, options=self._options, raise_for_status=False, client=client
            )
        finally:
            ATTEMPTS.reset(counting)
        assert isinstance(response, httpx.Response)  # the direct lane is for calls, not token requests
        return response

    def _mtls_client(self, grant: X509ClientCredentialsGrant) -> httpx.AsyncClient:
        core = self._core
        # One TLS client per certificate and key, whatever scopes its grants ask for.
        identity = (certificate_fingerprint(grant.certificate), hashlib.sha256(grant.key.encode()).hexdigest())
        client = core.mtls_clients.get(identity)
        if client is None:
            try:
                context = load_client_certificate(grant.certificate, grant.key)
            except ValueError as exc:
                raise ServiceKeyError(
                    f"X.509 credentials of client {grant.client_id}",
                    str(exc),
                    field="certificate/key",
                    hint="Use the certificate and key of the same service key, in PEM format",
                ) from None
            transport = core.transport or DefaultTransport(verify=context)
            client = httpx.AsyncClient(transport=transport, timeout=self._options.timeout)
            core.mtls_clients[identity] = client
        return client

    # -- transport -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        auth: httpx.Auth | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,  # noqa: ASYNC109 - httpx's per-request timeouts
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        """Send one logical request: auth, retries, logging and error mapping included.

        Raises :class:`~scp_async.ApiError` (or a subclass) for error statuses unless
        ``raise_for_status`` is false, :class:`~scp_async.ApiConnectionError` when no
        response arrived and :class:`~scp_async.ApiTimeoutError` once ``deadline`` passed.
        The returned response has been read.
        """
        response = await self._request(
            method,
            url,
            auth=auth,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            raise_for_status=raise_for_status,
        )
        return response.to_httpx() if isinstance(response, Answer) else response

    def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        auth: httpx.Auth | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        raise_for_status: bool = True,
    ) -> Coroutine[Any, Any, httpx.Response | Answer]:
        """:meth:`request`, where a plain 2xx read on the direct lane may come back as an :class:`Answer`.

        Not a coroutine itself: it prepares the call and hands back :meth:`_send`'s, one frame less for as
        long as the call waits (in a fan-out, in every slot).
        """
        if timeout is NOT_GIVEN and max_retries is NOT_GIVEN and deadline is NOT_GIVEN:
            options = self._options
        else:
            options = self._options.merge(timeout=timeout, max_retries=max_retries, deadline=deadline)
        merged_headers = {**options.headers, **(headers or {})}
        core = self._core
        client = core.client
        parsed_url = _parsed_url(url)
        lane = core.direct
        if lane is not None and json is None and content is None and data is None and files is None:
            upper = method.upper()
            pool = lane.pool(upper, parsed_url, auth)
            direct_headers = lane.headers(merged_headers) if pool is not None else None
            if pool is not None and direct_headers is not None:
                assert isinstance(parsed_url, httpx.URL)  # pool() takes parsed URLs only
                direct_url = with_params(parsed_url, params) if params else parsed_url
                # One request for every attempt (each sets its own token): no closure, whose cells would
                # live as long as the call, in every fan-out slot.
                prototype = DirectRequest(upper, direct_url, direct_headers)
                return self._send(prototype, auth=auth, options=options, raise_for_status=raise_for_status, direct=pool)
        build = _httpx_builder(client, method, parsed_url, params, merged_headers, json, content, data, files, options)
        return self._send(build, auth=auth, options=options, raise_for_status=raise_for_status)

    async def _send(
        self,
        build: Callable[[], httpx.Request] | DirectRequest,
        *,
        auth: httpx.Auth | None,
        options: RequestOptions,
        raise_for_status: bool,
        client: httpx.AsyncClient | None = None,
        direct: _AsyncioPool | None = None,
    ) -> httpx.Response | Answer:
        """Attempts until an answer to hand out, within the call's deadline.

        ``build`` makes each attempt's request; a :class:`DirectRequest` (the direct lane's, sent on the aiohttp
        pool ``direct``, see :mod:`._direct`) serves every attempt. One coroutine for the whole call: a fan-out
        keeps one per slot waiting.
        """
        if self._core.closed:
            raise RuntimeError("this Session is closed")
        # The attempts made and the last one's request, for the timeout's message.
        attempts = 0
        last: httpx.Request | DirectRequest | None = None
        limit = math.inf if options.deadline is None else options.deadline
        core = self._core
        # The session's own client on the default transport waits for the server on every attempt, unless
        # httpx's transport class was patched to answer in-process (pytest-httpx).
        waits_for_server = client is None and core.owns_client and core.transport is None and answers_from_network()
        client = client or core.client
        policy = options.retry
        retries = 0
        governed = 0  # tries again after a 429, under the rate governor (not counted against max_retries)
        # Whether an earlier attempt may have been carried out although its answer was lost or failed.
        maybe_applied = False
        ticket: Ticket | None = None
        # A deadline for the whole call, not httpx timeouts: those bound each read, and a trickling server
        # never trips them. Under asyncio, asyncio.timeout's behaviour on one timer per loop (._deadline:
        # a cancel scope of anyio's costs three times as much, a timer per call 3 %); under trio, anyio's.
        loop = _running_asyncio_loop()
        scope: CallDeadline | anyio.CancelScope
        deadline_token = None
        if loop is not None:
            deadline = loop.time() + limit
            outer = CALL_DEADLINE.get()
            scope = call_deadline(loop, None if limit == math.inf else deadline)
            deadline_token = CALL_DEADLINE.set(deadline if outer is None else min(outer, deadline))
        else:
            scope = anyio.move_on_after(limit)
        try:
            with scope:
                while True:
                    # Every attempt yields to the event loop: an in-process transport (the emulator's ASGI app)
                    # may never block, and cancellation must still land.
                    if not (waits_for_server and retries == 0):
                        await anyio.lowlevel.checkpoint()
                    request = last = build if isinstance(build, DirectRequest) else build()
                    attempts += 1
                    method = request.method
                    ticket = await self._core.governor.acquire(request, auth, ticket, policy)
                    started = time.perf_counter()
                    response: httpx.Response | Answer
                    try:
                        if isinstance(request, DirectRequest):
                            assert direct is not None
                            assert core.direct is not None
                            response = await core.direct.exchange(
                                direct,
                                request,
                                cast("OAuth2Auth | None", auth),
                                options.timeout,
                                core.max_response_size,
                            )
                            if type(response) is Answer:  # its elapsed time is made on demand
                                response.seconds = time.perf_counter() - started
                            else:
                                response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
                        else:
                            response = await _exchange(client, request, auth, core.max_response_size)
                            await read_response(response, core.max_response_size)
                            if not hasattr(response, "_elapsed"):  # httpx's own send times it; _exchange does not
                                response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
                    except httpx.TransportError as exc:
                        if ticket is not None:
                            ticket.lane.release(ticket)
                        maybe_applied = maybe_applied or may_have_applied(exc)
                        elapsed = time.perf_counter() - started
                        delay = policy.backoff(retries + 1)
                        # A wait that outlasts the deadline would only turn this error into a timeout.
                        if (
                            retries < policy.max_retries
                            and policy.retries_exception(method, exc)
                            and delay < time_left()
                        ):
                            retries += 1
                            logger.info(
                                "%s %s failed after %.3fs (%s); retry %d/%d in %.2fs",
                                method, RedactedUrl(request.url), elapsed, type(exc).__name__, retries,
                                policy.max_retries, delay,
                            )  # fmt: skip
                            await policy.sleep(delay)
                            continue
                        shown = RedactedUrl(request.url)
                        logger.debug("%s %s failed after %.3fs: %s", method, shown, elapsed, type(exc).__name__)
                        error = ApiTimeoutError if isinstance(exc, httpx.TimeoutException) else ApiConnectionError
                        # Some transports put the full URL, query included, into the message.
                        detail = redact_text(str(exc)) or "no details"
                        # The cause stays for debugging; the request it holds (token or client secret) does not.
                        redact_exception(exc)
                        raise error(f"{type(exc).__name__}: {detail}", method=method, url=str(request.url)) from exc
                    except BaseException:  # cancelled, or an error of a transport of the user's
                        if ticket is not None:
                            ticket.lane.release(ticket)
                        raise
                    elapsed = time.perf_counter() - started
                    status = response.status_code
                    if logger.isEnabledFor(
                        logging.DEBUG
                    ):  # the redacting wrapper is not made for nothing on every call
                        logger.debug(
                            "%s %s -> %d in %.3fs (retries: %d)",
                            method,
                            RedactedUrl(request.url),
                            status,
                            elapsed,
                            retries + governed,
                        )
                    throttled = False
                    if ticket is not None:
                        throttled = ticket.lane.observe(ticket, response)
                        if throttled and ticket.may_retry(policy):
                            # The governor paused every task of this lane; this call takes a slot again, within
                            # its deadline.
                            governed += 1
                            logger.info(
                                "%s %s -> %d; the rate governor sends it again (%d)",
                                method, RedactedUrl(request.url), status, governed,
                            )  # fmt: skip
                            await response.aclose()
                            continue
                    if isinstance(response, Answer):
                        return response  # a 2xx read whole: nothing to retry, raise or mark
                    server_delay = (
                        policy.server_delay(response) if status == 429 or status in policy.retry_statuses else None
                    )
                    delay = server_delay if server_delay is not None else policy.backoff(retries + 1)
                    # A server that asks for a longer wait than we accept, or than the deadline leaves, gets its
                    # error raised instead.
                    if (
                        not throttled  # the governor's 429, and it said no more
                        and retries < policy.max_retries
                        and policy.retries_status(method, status)
                        and (server_delay is None or server_delay <= policy.max_retry_after)
                        and delay < time_left()
                    ):
                        retries += 1
                        logger.info(
                            "%s %s -> %d; retry %d/%d in %.2fs",
                            method, RedactedUrl(request.url), status, retries, policy.max_retries, delay,
                        )  # fmt: skip
                        maybe_applied = maybe_applied or may_have_applied(status)
                        await response.aclose()
                        await policy.sleep(delay)
                        continue
                    if deleted_before(method, status, maybe_applied):
                        logger.info(
                            "%s %s -> %d after a retry: an earlier attempt deleted it; success",
                            method,
                            RedactedUrl(request.url),
                            status,
                        )
                        response.extensions = {**response.extensions, ALREADY_DELETED: True}
                        return response
                    if status >= 400 and raise_for_status:
                        # The error keeps a copy of the response without the token (see ApiError).
                        raise error_for_response(response, retry_after=server_delay)
                    return response
        except TimeoutError:
            if not isinstance(scope, CallDeadline) or not scope.expired():
                raise
        finally:
            if deadline_token is not None:
                CALL_DEADLINE.reset(deadline_token)
        raise ApiTimeoutError(
            f"no response within the deadline of {limit:g} s ({attempts} attempt(s), token request included)",
            method=last.method if last else None,
            url=str(last.url) if last else None,
        )

    # -- APIs ------------------------------------------------------------------------------

    def cloud_management(
        self, key: ServiceKeyLike, *, client_auth: Literal["basic", "form"] = "basic"
    ) -> CloudManagement:
        """The Cloud Management (cis) APIs of a ``cis`` service key."""
        service_key = load_service_key(key).require(ServiceKeyKind.CLOUD_MANAGEMENT)
        auth = self.auth_for_credentials(service_key.uaa, client_auth=client_auth)
        return CloudManagement(self, service_key.endpoints, auth, key=service_key)

    def audit_log(self, key: ServiceKeyLike, *, client_auth: Literal["basic", "form"] = "basic") -> AuditLog:
        """The Audit Log retrieval API of an ``auditlog-management`` service key."""
        from ._apis import AuditLog

        service_key = load_service_key(key).require(ServiceKeyKind.AUDIT_LOG)
        assert service_key.url is not None  # guaranteed by the AUDIT_LOG kind
        auth = self.auth_for_credentials(service_key.uaa, client_auth=client_auth)
        return AuditLog(ApiContext(self, service_key.url, auth, key=service_key))

    def service_manager(
        self, key: ServiceKeyLike, *, client_auth: Literal["basic", "form"] = "basic"
    ) -> ServiceManagerApi:
        """The Service Manager API of a ``service-manager`` service key (``sm_url``)."""
        from scp_async_clients.service_manager._namespace import ServiceManagerApi

        service_key = load_service_key(key).require(ServiceKeyKind.SERVICE_MANAGER)
        assert service_key.url is not None  # guaranteed by the SERVICE_MANAGER kind
        auth = self.auth_for_credentials(service_key.uaa, client_auth=client_auth)
        return ServiceManagerApi(ApiContext(self, service_key.url, auth, key=service_key))

    def resource_consumption(
        self, key: ServiceKeyLike, *, client_auth: Literal["basic", "form"] = "basic"
    ) -> ResourceConsumptionApi:
        """The Resource Consumption API of a ``uas`` (reporting) service key (``target_url`` or ``url``)."""
        from scp_async_clients.resource_consumption._namespace import ResourceConsumptionApi

        service_key = load_service_key(key)
        url = service_key.raw.get("target_url") or service_key.url
        if not isinstance(url, str) or not url:
            raise ServiceKeyError(
                service_key.source, "missing", field="target_url", hint="Use the service key of a `uas` instance"
            )
        auth = self.auth_for_credentials(service_key.uaa, client_auth=client_auth)
        return ResourceConsumptionApi(ApiContext(self, url, auth, key=service_key))

    def xsuaa(self, key: ServiceKeyLike, *, client_auth: Literal["basic", "form"] = "basic") -> XsuaaApi:
        """The XSUAA authorization management API of an ``xsuaa`` (``apiaccess`` plan) key (``apiurl``)."""
        from scp_async_clients.xsuaa._namespace import XsuaaApi

        service_key = load_service_key(key)
        url = service_key.raw.get("apiurl") or service_key.raw.get("uaa", {}).get("apiurl")
        if not isinstance(url, str) or not url:
            raise ServiceKeyError(
                service_key.source, "missing", field="apiurl", hint="Use a key of an xsuaa `apiaccess` instance"
            )
        auth = self.auth_for_credentials(service_key.uaa, client_auth=client_auth)
        return XsuaaApi(ApiContext(self, url, auth, key=service_key))

    async def cloud_foundry(
        self,
        api_url: str | Mapping[str, Any] | os.PathLike[str] | None = None,
        *,
        key: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        username: str | None = None,
        password: str | None = None,
        origin: str | None = None,
        use_cf_cli_config: bool = False,
        cf_config_path: str | os.PathLike[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        deploy_service_url: str | None = None,
    ) -> CloudFoundry:
        """The Cloud Foundry V3 API at ``api_url``; ``.multiapps`` is its MultiApps controller.

        Log in with ``username``/``password`` (and ``origin`` for a custom identity
        provider) through the public ``cf`` client, or reuse the ``cf`` CLI's login with
        ``use_cf_cli_config=True`` (``$CF_HOME/.cf/config.json``; ``api_url`` defaults to its
        target). ``api_url`` may be a landscape label: ``cf-eu10`` is
        ``https://api.cf.eu10.hana.ondemand.com``. ``key`` (or a mapping or path as the first
        argument) is a login file like the emulator's ``cf.json``: ``api``/``api_url``, ``username``,
        ``password``, and optionally ``origin``, ``client_id``, ``client_secret``,
        ``deploy_service_url``; arguments given explicitly win. The UAA is discovered from the API's
        root document. The deploy service is ``deploy-service.<domain>`` for an API at ``api.<domain>``
        unless ``deploy_service_url`` (or the key) says otherwise.
        """
        from ._apis import CloudFoundry

        if api_url is not None and (not isinstance(api_url, str) or _is_login_file(api_url)):
            key, api_url = api_url, None
        if key is not None:
            login = _cf_login(key)
            api_url = api_url or login.get("api_url") or login.get("api")
            username = username or login.get("username")
            password = password or login.get("password")
            origin = origin or login.get("origin")
            client_id = client_id or login.get("client_id")
            client_secret = client_secret if client_secret is not None else login.get("client_secret")
            deploy_service_url = deploy_service_url or login.get("deploy_service_url")
        client_id = client_id or "cf"
        client_secret = client_secret or ""
        if api_url:
            api_url = cf_api_url(api_url)
        if use_cf_cli_config:
            config = CfCliConfig.load(cf_config_path)
            api_url = api_url or config.target
            if not api_url:
                raise ServiceKeyError(config.source, "no Target", hint="Run `cf api` or pass api_url")
            uaa_url = config.uaa_endpoint
            login_url = config.authorization_endpoint
            if not uaa_url:
                uaa_url, login_url = await self._discover_cf(api_url)
            grant: Grant = RefreshTokenGrant(
                f"{uaa_url.rstrip('/')}/oauth/token",
                config.client_id,
                client_secret=config.client_secret,
                refresh_token=config.refresh_token or "",
            )
            if config.access_token:
                self._core.tokens.seed(grant, config.access_token, refresh_token=config.refresh_token)
        else:
            if not api_url or not username or not password:
                raise ValueError("pass api_url, username and password, or use_cf_cli_config=True")
            uaa_url, login_url = await self._discover_cf(api_url)
            grant = PasswordGrant(
                f"{uaa_url.rstrip('/')}/oauth/token",
                client_id,
                client_secret=client_secret,
                username=username,
                password=password,
                origin=origin,
            )
        return CloudFoundry(
            ApiContext(self, api_url, self.auth(grant)),
            uaa_url=uaa_url,
            login_url=login_url,
            deploy_service_url=deploy_service_url,
        )

    async def _discover_cf(self, api_url: str) -> tuple[str, str | None]:
        base = api_url.rstrip("/")
        try:
            root = await self.request("GET", f"{base}/")
            links = _dig(_json_or_none(root), "links")
            uaa = _dig(links, "uaa", "href")
            login = _dig(links, "login", "href")
            if isinstance(uaa, str) and uaa:
                return uaa, login if isinstance(login, str) else None
        except ApiError as exc:
            logger.debug("CF root document unavailable (%s); trying /v2/info", exc.status_code)
        info = _json_or_none(await self.request("GET", f"{base}/v2/info"))
        token = _dig(info, "token_endpoint")
        login = _dig(info, "authorization_endpoint")
        if isinstance(token, str) and token:
            return token, login if isinstance(login, str) else None
        raise ScpAsyncError(f"cannot find the UAA of {redact_url(base)}: no links.uaa in / nor token_endpoint")


_CF_LANDSCAPE = re.compile(r"cf-([a-z]{2}[0-9]{2,3}(?:-[0-9]{3})?)")
_CF_LOGIN_FIELDS = ("api", "api_url", "username", "password", "origin", "client_id", "client_secret",
                    "deploy_service_url")  # fmt: skip


def _is_login_file(text: str) -> bool:
    """A string that names a login file (``"keys/cf.json"``) rather than an API URL or a landscape."""
    return "://" not in text and text.endswith(".json") and Path(text).is_file()


def cf_api_url(api_url_or_landscape: str) -> str:
    """The CF API URL of a landscape label (``cf-eu10`` → ``https://api.cf.eu10.hana.ondemand.com``,
    ``cf-eu10-004`` → ``https://api.cf.eu10-004.hana.ondemand.com``); a URL is returned as it is."""
    match = _CF_LANDSCAPE.fullmatch(api_url_or_landscape.strip().lower())
    if match is None:
        return api_url_or_landscape
    return f"https://api.cf.{match.group(1)}.hana.ondemand.com"


def _cf_login(key: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, str]:
    """The string fields of a CF login file (the emulator's ``cf.json``), checked like a service key."""
    from ._credentials import _display, _loads, _read_file

    if isinstance(key, Mapping):
        data: Any = key
        source = "<cf login>"
    else:
        source = _display(key)
        data = _loads(_read_file(Path(key), source), source)
    if not isinstance(data, Mapping):
        raise ServiceKeyError(source, "expected a JSON object", hint="Use the cf.json the emulator writes")
    login: dict[str, str] = {}
    for name in _CF_LOGIN_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ServiceKeyError(source, "expected a string", field=name)
        login[name] = value
    if not (login.get("api_url") or login.get("api")):
        raise ServiceKeyError(source, "missing", field="api_url", hint="A CF login needs the API URL")
    return login


def _redacted_request(request: httpx.Request) -> httpx.Request:
    return redact_request(request)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _dig(value: Any, *names: str) -> Any:
    for name in names:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


# An absolute URL already in the form httpx would bring it to: lower-case host (or IPv4), a path of
# unreserved, sub-delim and percent-encoded characters without dot segments, no query, no fragment.
# Checked in two parts: the origin once per origin (remembered), the path by one character class
# plus a look for "%" and "/." (a third of the time of one expression for the whole URL).
_CANONICAL_ORIGIN = re.compile(r"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([0-9]{1,5}))?")
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")
_canonical_origins: dict[str, tuple[str, str, int | None] | None] = {}


def _canonical_origin(origin: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an origin httpx would keep as it is, else ``None``."""
    found = _canonical_origins.get(origin, False)
    if found is not False:
        return found  # type: ignore[return-value]
    match = _CANONICAL_ORIGIN.fullmatch(origin)
    parts: tuple[str, str, int | None] | None = None
    if match is not None:
        scheme, host, port = match.groups()
        number = int(port) if port is not None else None
        # httpx drops a default port and refuses a port out of range
        if number is None or (number <= 65535 and (scheme, number) not in (("http", 80), ("https", 443))):
            parts = (scheme, host, number)
    if len(_canonical_origins) >= 256:  # a session talks to a handful of origins; a scan of many stays bounded
        _canonical_origins.clear()
    _canonical_origins[origin] = parts
    return parts


def _parsed_url(url: str | httpx.URL) -> str | httpx.URL:
    """``url`` as an ``httpx.URL``, without httpx's parser where the URL is already canonical.

    httpx validates and normalizes a URL character by character (a tenth of a call's CPU); the URLs
    a session builds from a base URL and a generated path are canonical already, and three regular
    expressions prove it. Anything else is left to httpx.
    """
    if isinstance(url, httpx.URL):
        return url
    parts, path = _split_origin(url)
    if parts is None:
        return url
    return _canonical_url(parts, path) or url


def _split_origin(url: str) -> tuple[tuple[str, str, int | None] | None, str]:
    """The parts of ``url``'s origin if httpx keeps it as it is (else ``None``), and the rest of ``url``."""
    slash = url.find("/", url.find("://") + 3) if "://" in url else -1
    origin, path = (url, "") if slash < 0 else (url[:slash], url[slash:])
    return _canonical_origin(origin), path


def _canonical_url(parts: tuple[str, str, int | None], path: str) -> httpx.URL | None:
    """The ``httpx.URL`` of a canonical origin's ``parts`` and ``path``, if httpx keeps ``path`` as it is."""
    if _PATH_CHARACTERS.fullmatch(path) is None:
        return None
    if ("%" in path and _BAD_PERCENT.search(path)) or ("/." in path and _DOT_SEGMENT.search(path)):
        return None
    try:
        parsed = httpx.URL.__new__(httpx.URL)
        parsed._uri_reference = _ParseResult(parts[0], "", parts[1], parts[2], path, None, None)
    except (AttributeError, TypeError):  # an httpx whose URL has other insides: parse as usual
        return None
    return parsed


def _httpx_builder(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    params: QueryParams | None,
    headers: dict[str, str],
    json: Any,
    content: bytes | str | None,
    data: Mapping[str, Any] | None,
    files: Any,
    options: RequestOptions,
) -> Callable[[], httpx.Request]:
    """What builds each attempt's ``httpx.Request`` of a call that does not take the direct lane."""

    def build() -> httpx.Request:
        return client.build_request(
            method,
            url,
            params=params or None,  # an empty mapping still costs httpx a second URL parse
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=options.timeout,
        )

    return build


def _join(base_url: str, path: str) -> str:
    if path.startswith(("https://", "http://")):
        return path
    if not path:
        return base_url
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


# -- API objects ---------------------------------------------------------------------------


class ApiContext:
    """One API bound to a session: its base URL, its auth, and a way to call it.

    The typed namespaces call :meth:`request`; code of your own may use it too, or
    :meth:`httpx_client`, an ``httpx.AsyncClient`` whose requests go through the session (auth,
    retries, logging, error mapping).
    """

    def __init__(self, session: Session, base_url: str, auth: httpx.Auth, *, key: ServiceKey | None = None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.key = key
        # base_url taken apart once (see _located): (base_url, its canonical origin's parts or None, its path).
        self._base_split: tuple[str, tuple[str, str, int | None] | None, str] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={redact_url(self.base_url)!r})"

    def url(self, path: str) -> str:
        """``path`` resolved against :attr:`base_url` (absolute URLs pass through)."""
        return _join(self.base_url, path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,  # noqa: ASYNC109 - httpx's per-request timeouts
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        """:meth:`Session.request` relative to :attr:`base_url`, with this API's auth."""
        return await self.session.request(
            method,
            self.url(path),
            auth=self.auth,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            raise_for_status=raise_for_status,
        )

    def _answer(self, method: str, path: str, **kwargs: Any) -> Awaitable[httpx.Response | Answer]:
        """:meth:`request` for the typed namespaces, which parse a plain 2xx without an ``httpx.Response``.

        A context whose :meth:`request` was replaced (a subclass's, such as the deploy service's CSRF
        dance, or a patch) gets its own :meth:`request` called. The coroutine is handed back, not awaited
        here: one coroutine less for as long as each call waits.
        """
        if type(self).request is not _PLAIN_REQUEST or "request" in self.__dict__:
            return self.request(method, path, **kwargs)
        return self.session._request(method, self._located(path), auth=self.auth, **kwargs)

    def _located(self, path: str) -> str | httpx.URL:
        """:meth:`url` as the session would parse it (``_parsed_url``), without joining the base and the path
        into one string to take it apart again."""
        base = self.base_url
        split = self._base_split
        if split is None or split[0] is not base:
            split = self._base_split = (base, *_split_origin(base))
        _, parts, base_path = split
        if parts is None or not path or path.startswith(("https://", "http://")):
            return _join(base, path)
        return _canonical_url(parts, f"{base_path}/{path.lstrip('/')}") or _join(base, path)

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> Self:
        """A copy bound to ``session.with_options(...)``."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.session = self.session.with_options(
            timeout=timeout, max_retries=max_retries, retry=retry, headers=headers, deadline=deadline
        )
        return clone

    def httpx_client(self, *, raise_for_status: bool = True) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` rooted at :attr:`base_url` that sends via the session.

        For clients of your own (e.g. ``client.set_async_httpx_client(api.httpx_client())`` on an
        openapi-python-client package); the typed namespaces do not use it, since each request
        through it passes two clients. Closing it leaves the session's pool open.
        """
        return httpx.AsyncClient(
            base_url=self.base_url, transport=_SessionTransport(self, raise_for_status=raise_for_status)
        )


_PLAIN_REQUEST: Final = ApiContext.request


class _SessionTransport(httpx.AsyncBaseTransport):
    """Routes an outer client's requests through :meth:`Session.request`."""

    # The inner response was already decoded; these would make the outer client decode again.
    _DROP_REQUEST = frozenset({"host", "content-length", "transfer-encoding"})
    _DROP_RESPONSE = frozenset({"content-encoding", "content-length", "transfer-encoding"})

    def __init__(self, api: ApiContext, *, raise_for_status: bool) -> None:
        self._api = api
        self._raise_for_status = raise_for_status

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in self._DROP_REQUEST
            # Keep the session's User-Agent unless the caller chose one.
            and not (k.lower() == "user-agent" and v.startswith("python-httpx/"))
        }
        inner = await self._api.request(
            request.method,
            str(request.url),
            headers=headers,
            content=body or None,
            raise_for_status=self._raise_for_status,
        )
        out_headers = [(k, v) for k, v in inner.headers.multi_items() if k.lower() not in self._DROP_RESPONSE]
        return httpx.Response(inner.status_code, headers=out_headers, content=inner.content)


class CloudManagement:
    """The Cloud Management service (cis): several APIs, one OAuth client.

    ``api(name)`` gives the :class:`ApiContext` of any endpoint of the key (``accounts``,
    ``entitlements_service_url``, ...); the common ones are properties.
    """

    def __init__(
        self,
        session: Session,
        endpoints: Mapping[str, str],
        auth: httpx.Auth,
        *,
        key: ServiceKey | None = None,
    ) -> None:
        self.session = session
        self.endpoints = dict(endpoints)
        self.auth = auth
        self.key = key

    def __repr__(self) -> str:
        return f"CloudManagement(endpoints={sorted(self.endpoints)!r})"

    def api(self, name: str) -> ApiContext:
        """The API at endpoint ``name`` (with or without the ``_service_url`` suffix)."""
        url = self.endpoints.get(name) or self.endpoints.get(f"{name}_service_url")
        if url is None:
            source = self.key.source if self.key else "service key"
            raise ServiceKeyError(
                source,
                f"no endpoint {name!r}",
                field=f"endpoints.{name}_service_url",
                hint=f"Endpoints in this key: {', '.join(sorted(self.endpoints))}",
            )
        return ApiContext(self.session, url, self.auth, key=self.key)

    def with_options(self, **options: Any) -> CloudManagement:
        """A copy whose APIs use ``session.with_options(**options)``."""
        return CloudManagement(self.session.with_options(**options), self.endpoints, self.auth, key=self.key)

    # Each namespace's generated code loads on first use.

    @functools.cached_property
    def accounts(self) -> AccountsApi:
        """Accounts: global account, directories, subaccounts, labels."""
        from scp_async_clients.accounts._namespace import AccountsApi

        return AccountsApi(self.api("accounts_service_url"))

    @functools.cached_property
    def entitlements(self) -> EntitlementsApi:
        """Entitlements: what the global account may use and where it is assigned."""
        from scp_async_clients.entitlements._namespace import EntitlementsApi

        return EntitlementsApi(self.api("entitlements_service_url"))

    @functools.cached_property
    def provisioning(self) -> ProvisioningApi:
        """Provisioning: environment instances (Cloud Foundry orgs, Kyma, ...)."""
        from scp_async_clients.provisioning._namespace import ProvisioningApi

        return ProvisioningApi(self.api("provisioning_service_url"))

    @functools.cached_property
    def saas_provisioning(self) -> SaasProvisioningApi:
        """SaaS provisioning: subscriptions to multitenant applications."""
        from scp_async_clients.saas_provisioning._namespace import SaasProvisioningApi

        return SaasProvisioningApi(self.api("saas_registry_service_url"))

    @functools.cached_property
    def events(self) -> EventsApi:
        """Events: what happened in the global account and its subaccounts."""
        from scp_async_clients.events._namespace import EventsApi

        return EventsApi(self.api("events_service_url"))


class MultiAppsContext(ApiContext):
    """The deploy service's context: state-changing calls carry the CSRF token it hands out.

    The token is fetched only when the service asks for it (403 with ``X-CSRF-Token: Required``),
    then sent with every state-changing request; a rejected token is fetched again once.
    """

    CSRF_PATH = "/api/v1/csrf-token"
    _SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, session: Session, base_url: str, auth: httpx.Auth) -> None:
        super().__init__(session, base_url, auth)
        self._csrf_token: str | None = None

    async def _fetch_csrf_token(self) -> str | None:
        response = await super().request("GET", self.CSRF_PATH, headers={"X-CSRF-Token": "Fetch"})
        self._csrf_token = response.headers.get("x-csrf-token") or None
        return self._csrf_token

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method.upper() in self._SAFE_METHODS:
            return await super().request(method, path, **kwargs)
        raise_for_status = kwargs.pop("raise_for_status", True)
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            if self._csrf_token:
                headers["X-CSRF-Token"] = self._csrf_token
            response = await super().request(method, path, headers=headers, raise_for_status=False, **kwargs)
            asked = response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required"
            if not asked or attempt == 1:
                break
            # Rejected before it was processed, so sending it again is safe even for POST.
            await self._fetch_csrf_token()
        if raise_for_status and response.status_code >= 400:
            raise error_for_response(response)
        return response
