"""The rate governor: one pace per API host and tenant, shared by every task of a session.

Hundreds of concurrent tasks that each retry their own 429s make a rate limit worse: every task
learns the limit alone, and they all come back at once. The governor keeps one *lane* per API
host and credential (the OAuth client, i.e. the tenant the server counts against). Each request
takes a slot from its lane before it is sent (:meth:`Lane.acquire`) and reports its response
after (:meth:`Lane.observe`). A 429 pauses the whole lane until the server's reset and sets a pace
(a token bucket, spaced by GCRA; waiting tasks queue in order and only the first waits for a time,
so the lane always sends at its current pace); the pace rises again while the server accepts it
and is dropped once 429s have stopped for a while. Lanes may start from a known limit
(:data:`SAP_PRESETS`); a lane without one starts slowly for a tenth of a second (:class:`ColdStart`),
so that a fan-out's first 429 is read while few requests are out. Once nothing paces a lane, the
tasks still queued go at once (handing the turn on, one per pass of the event loop, would keep a
queue standing as long as tasks keep coming).

The pace is adaptive like boto3's adaptive retry mode (a token bucket with multiplicative
decrease), with what a BTP server tells us used as well: a sub-second reset (the time to the
server's next free slot, which bounds its rate from above), the requests it accepted between the
end of one such pause and its next 429 (which count its rate: the lane then paces just under it,
and probes above it only as the 429s recede) and CF's ``X-RateLimit-Remaining``.

Not every 429 is the limit: gateways reject a share of requests at random, and read as the limit each
such 429 cut the pace again. A stray 429 among many accepted answers holds only its own call; a reset
said to the millisecond is a claim that nothing sent before it gets through, which the requests sent
then test (:meth:`Lane._test_claims`); and resets said as times are read on the server's clock, as its
``Date`` headers show it (:meth:`Lane._clock_offset`).
"""

from __future__ import annotations

import fnmatch
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import httpx

from ._errors import ApiTimeoutError
from ._options import time_left
from ._retry import RetryPolicy, http_date


class Addressed(Protocol):
    """What the governor reads of a request: an ``httpx.Request``, or the session's direct lane's own."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> httpx.URL: ...


class Answered(Protocol):
    """What the governor reads of a response: an ``httpx.Response``, or the session's direct lane's own."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


__all__ = [
    "ATTEMPTS",
    "SAP_PRESETS",
    "ColdStart",
    "GovernorStats",
    "Lane",
    "RateGovernor",
    "RateLimit",
    "Throttle",
    "parse_throttle",
]

#: Counts the HTTP attempts of the calls made in this context (set per item by ``fan_out_stream``).
ATTEMPTS: ContextVar[list[int] | None] = ContextVar("scp_async_attempts", default=None)

#: The cis error code of "too many requests" (its detail code is 11007).
CIS_RATE_LIMIT_CODE = 11006


@dataclass(frozen=True)
class RateLimit:
    """A known limit: ``requests`` per ``per`` seconds, with bursts up to ``burst`` requests.

    ``host`` is a shell-style pattern of the API host (``"auditlog-management.cfapps.*"``); ``method``
    and ``path`` (patterns too) narrow it to one endpoint, which then gets a lane of its own.
    """

    host: str
    requests: float
    per: float = 1.0
    burst: float | None = None
    method: str = "*"
    path: str = "*"
    source: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.per

    @property
    def endpoint_specific(self) -> bool:
        return self.method != "*" or self.path != "*"

    def matches(self, host: str, method: str, path: str) -> bool:
        return (
            fnmatch.fnmatchcase(host, self.host)
            and (self.method == "*" or self.method == method)
            and (self.path == "*" or fnmatch.fnmatchcase(path, self.path))
        )


#: SAP's documented limits. Each names the documentation page it comes from; the hosts are the
#: public BTP landscapes' (``*.hana.ondemand.com``). A server's own 429s still teach each lane.
SAP_PRESETS: tuple[RateLimit, ...] = (
    # SAP Help, "Rate Limiting" of the Cloud Management Service (linked from the Accounts API
    # reference): limits per endpoint and caller; e.g. reading the global account.
    RateLimit(
        "accounts-service.cfapps.*.hana.ondemand.com",
        5,
        per=3.0,
        burst=5,
        method="GET",
        path="/accounts/v1/globalAccount*",  # the help page writes it "globalAccounts"; the API has no s
        source="SAP Help: Cloud Management Service, Rate Limiting",
    ),
    # SAP Help, "Audit Log Retrieval API Usage for the Cloud Foundry Environment": per tenant,
    # 8 requests/s with bursts of 40 (some regions document 4/s, burst 20: their 429s teach the lane).
    RateLimit(
        "auditlog-management.cfapps.*.hana.ondemand.com",
        8,
        burst=40,
        source="SAP Help: Audit Log Retrieval API Usage for the Cloud Foundry Environment",
    ),
    # SAP Help, "Rate Limiting in SAP Service Manager": per caller, 1,000 requests per minute overall and
    # less for some endpoints (the first preset that matches a request is its lane's; the hourly limits,
    # ten times the minute's, are left to the server's 429s).
    *(
        RateLimit(
            "service-manager.cfapps.*.hana.ondemand.com",
            requests,
            per=60.0,
            burst=burst,
            method=method,
            path=path,
            source="SAP Help: SAP Service Manager, Rate Limiting",
        )
        for method, path, requests, burst in (
            ("POST", "/v1/service_instances", 50, 5),
            ("*", "/v1/service_instances*", 600, 60),
            ("*", "/v1/service_bindings*", 600, 60),
            ("*", "/v1/service_offerings*", 100, 10),
            ("*", "/v1/service_plans*", 100, 10),
            ("*", "*", 1000, 100),
        )
    ),
    # SAP Help, "Rate Limiting Rules" of SAP Authorization and Trust Management (XSUAA), per subaccount:
    # the token endpoint 60/s (requests queue up to about 5 s before a 429: a burst of 300), SCIM's users
    # and groups 3/s, the rest of the authorization API 45/s.
    RateLimit(
        "*.authentication.*.hana.ondemand.com",
        60,
        burst=300,
        path="/oauth/token*",
        source="SAP Help: SAP Authorization and Trust Management Service, Rate Limiting Rules",
    ),
    *(
        RateLimit(
            "api.authentication.*.hana.ondemand.com",
            3,
            path=path,
            source="SAP Help: SAP Authorization and Trust Management Service, Rate Limiting Rules",
        )
        for path in ("/Users*", "/Groups*")
    ),
    RateLimit(
        "api.authentication.*.hana.ondemand.com",
        45,
        source="SAP Help: SAP Authorization and Trust Management Service, Rate Limiting Rules",
    ),
    # SAP Help, "Resource Consumption API": 120 requests/s per tenant.
    RateLimit(
        "uas-reporting.cfapps.*.hana.ondemand.com",
        120,
        source="SAP Help: Usage Data Management Service, Rate Limits",
    ),
    # Cloud Foundry announces its own limits in X-RateLimit-Limit/Remaining/Reset; no preset needed.
)


# -- what a server says --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """What one response says about the limit: a 429 (or cis error 11006), and when to come back."""

    limited: bool
    delay: float | None = None  # seconds until the server accepts requests again, if it said
    remaining: int | None = None  # requests left in the current window (CF's X-RateLimit-Remaining)
    limit: int | None = None
    #: Whether ``delay`` was said to the millisecond (a reset in epoch ms, a fraction of a second), not
    #: rounded to whole seconds: only such a delay can be the time to a token bucket's next slot. It may
    #: then be 0, a reset that passed while the answer travelled.
    fine: bool = False


_NOT_LIMITED = Throttle(limited=False)


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(value: str | None, now: float) -> tuple[float, bool] | None:
    """Seconds to wait, and whether they were said finer than whole seconds."""
    if value is None:
        return None
    seconds = _float(value)
    if seconds is not None:
        return max(0.0, seconds), not seconds.is_integer()
    when = http_date(value)
    return None if when is None else (max(0.0, when - now), False)


def _reset(value: str | None, now: float) -> tuple[float, bool] | None:
    """Seconds to a reset, and whether they were said finer than whole seconds."""
    number = _float(value)
    if number is None:
        return None
    if number >= 1e11:  # epoch milliseconds (cis)
        return max(0.0, number / 1000 - now), True
    if number >= 1e9:  # epoch seconds (CF)
        return max(0.0, number - now), not number.is_integer()
    return max(0.0, number), not number.is_integer()  # seconds from now


def _is_cis_rate_limit(response: Answered) -> bool:
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError, httpx.ResponseNotRead):  # RecursionError: nested past the stack
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == CIS_RATE_LIMIT_CODE


def _header(response: Answered, name: str) -> str | None:
    """A header (``name`` in lower case); the direct lane's answer looks it up without making all headers."""
    quick = getattr(response, "header", None)
    if callable(quick):
        value: str | None = quick(name)
        return value
    return response.headers.get(name)


def _remaining(response: Answered) -> str | None:
    return _header(response, "x-ratelimit-remaining")


def parse_throttle(response: Answered, *, now: float | None = None) -> Throttle:
    """Read a response's rate-limit signals.

    A 429 of any shape (JSON, the cis error body with code 11006, an HTML page) is a limit. The
    wait is the more precise of ``Retry-After`` (seconds or an HTTP date, often rounded up to whole
    seconds) and ``X-RateLimit-Reset`` (epoch ms on cis, epoch seconds on CF); CF's
    ``X-RateLimit-Remaining: 0`` on a success announces a limit before any 429.
    """
    current = time.time() if now is None else now
    status = response.status_code
    remaining_value = _float(_remaining(response))
    remaining = int(remaining_value) if remaining_value is not None else None
    limited = status == 429 or (400 <= status < 500 and _is_cis_rate_limit(response))
    if not limited and remaining is None:
        return _NOT_LIMITED
    headers = response.headers
    retry_after = _retry_after(headers.get("retry-after"), current)
    reset = _reset(headers.get("x-ratelimit-reset"), current)
    said: tuple[float, bool] | None
    if retry_after is not None and reset is not None:
        # Retry-After is whole seconds; a reset within that second is the same instant, said precisely.
        said = reset if reset[0] <= retry_after[0] else retry_after
    else:
        said = retry_after if retry_after is not None else reset
    delay, fine = said if said is not None else (None, False)
    limit_value = _float(headers.get("x-ratelimit-limit"))
    limit = int(limit_value) if limit_value is not None else None
    if not limited:
        if remaining is not None and remaining <= 0:
            return Throttle(limited=False, delay=reset[0] if reset else None, remaining=remaining, limit=limit)
        return Throttle(limited=False, remaining=remaining, limit=limit)
    return Throttle(limited=True, delay=delay, remaining=remaining, limit=limit, fine=fine)


# -- counters ------------------------------------------------------------------------------------------


@dataclass
class GovernorStats:
    """What the governor did, for one lane or summed over all of them."""

    requests: int = 0
    waits: int = 0  # requests that had to wait for their slot
    waited: float = 0.0  # seconds spent waiting, summed over requests
    throttled: int = 0  # 429 responses (and cis 11006 errors)
    retries: int = 0  # 429s sent again by the session
    rate: float | None = None  # the lane's current pace in requests/s (None: unlimited)

    def __add__(self, other: GovernorStats) -> GovernorStats:
        return GovernorStats(
            self.requests + other.requests,
            self.waits + other.waits,
            self.waited + other.waited,
            self.throttled + other.throttled,
            self.retries + other.retries,
            None,
        )


# -- one lane ------------------------------------------------------------------------------------------


class ColdStart:
    """How a lane with no known limit sends until the server speaks: slowly at first, as TCP starts.

    A bucket of ``burst`` tokens filled at ``rate`` per second; once a fan-out has emptied it, the rate
    doubles every ``doubling`` seconds, and past ``ceiling`` the lane no longer paces (0.1 s after the
    bucket ran dry, with the defaults). Without it hundreds of tasks would all be sent before the first
    429 could be read, and the tasks whose answers came first would send again into the server's empty
    bucket; paced, the first 429 is read while few requests are out. The lane asks for a token only
    for a request sent while others await their answers: calls one after the other never wait.

    ``RateGovernor(cold_start=ColdStart(...))`` tunes it for every lane (each gets its own copy);
    ``cold_start=None`` turns it off.
    """

    def __init__(
        self, burst: float = 10.0, rate: float = 500.0, doubling: float = 0.015, ceiling: float = 64000.0
    ) -> None:
        for name, value in (("burst", burst), ("rate", rate), ("doubling", doubling), ("ceiling", ceiling)):
            if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"ColdStart {name} must be a positive number, not {value!r}")
        if burst < 1:
            raise ValueError(f"ColdStart burst must be at least 1 request, not {burst!r}")
        self.burst, self.rate, self.doubling, self.ceiling = float(burst), float(rate), float(doubling), float(ceiling)
        self._tokens = burst
        self._filled_at = -math.inf
        self._ramp_from = math.nan  # when the bucket first ran dry: the doubling counts from there

    def __repr__(self) -> str:
        return (
            f"ColdStart(burst={self.burst:g}, rate={self.rate:g}, doubling={self.doubling:g}, ceiling={self.ceiling:g})"
        )

    def fresh(self) -> ColdStart:
        """A cold start with these settings, not yet begun (one per lane)."""
        return ColdStart(self.burst, self.rate, self.doubling, self.ceiling)

    def _growth(self, at: float) -> float:
        """``2 ** (doublings since the ramp began)`` at ``at``."""
        return float(2.0 ** min(64.0, (at - self._ramp_from) / self.doubling))

    def _fill(self, now: float) -> None:
        then = self._filled_at
        if now <= then:
            return
        if math.isnan(self._ramp_from):
            added = self.rate * (now - then)
        else:  # the integral of rate * growth from then to now
            added = self.rate * self.doubling / math.log(2.0) * (self._growth(now) - self._growth(then))
        self._tokens = min(self.burst, self._tokens + added)
        self._filled_at = now

    def slot(self, now: float) -> float | None:
        """When the next request may leave (``now`` if a token is there); ``None`` once the start is over."""
        self._fill(now)
        if not math.isnan(self._ramp_from) and self.rate * self._growth(now) >= self.ceiling:
            return None
        missing = 1.0 - self._tokens
        if missing <= 1e-9:
            return now
        if math.isnan(self._ramp_from):
            self._ramp_from = now
        # The time at which the fill since the last one makes up the missing token (the integral, inverted).
        growth = self._growth(self._filled_at) + missing * math.log(2.0) / (self.rate * self.doubling)
        return self._ramp_from + self.doubling * math.log2(growth)

    def take(self, now: float) -> None:
        self._fill(now)
        self._tokens -= 1.0


@dataclass
class Ticket:
    """A request's slot: which lane, under which pace it was sent, and the how-manieth try of its call.

    ``retry_at`` is when this call may try again after a sporadic 429 (one the lane does not pause for).
    """

    lane: Lane
    epoch: int
    attempt: int = 1
    retry_at: float = 0.0
    sent: float = 0.0  # when the request left, on the lane's clock
    asked: float = 0.0  # the wait its 429 asked for (the lane's pause may be capped shorter)
    in_flight: bool = False  # counted among the lane's requests awaiting an answer (during its cold start)
    #: When its call may try again during the lane's pause, to test the pause's claim (see Lane._claim): from,
    #: until, and the epoch its request counts in (the wave's that the pause ends, whose 429 it would join).
    probe: tuple[float, float, int] | None = None

    def may_retry(self, policy: RetryPolicy | None = None) -> bool:
        """Whether the call of this rejected request may try again (see :meth:`RateGovernor.may_retry`)."""
        return self.lane._governor.may_retry(self, policy)


@dataclass(frozen=True)
class _Pace:
    """What a lane's pace was before a 429 changed it, to go back to if the 429 proves a stray."""

    rate: float | None
    measured: bool
    ceiling: float
    cold: ColdStart | None
    paused_until: float
    tat: float
    last_throttle: float


@dataclass
class _Undone:
    """A slow-down a refuted claim undid, and what the answers to requests sent since say of that."""

    at: float
    offset_at_least: float  # the offset of the server's clock had the claim's reset been read late
    accepted: int = 0
    rejected: int = 0


@dataclass
class _Claim:
    """A precise reset's claim that the server accepts nothing sent between ``opens`` and ``closes``."""

    opens: float
    closes: float
    epoch: int  # the lane's epoch once the 429 was read: a later slow-down replaced its pace
    before: _Pace | None  # the pace it replaced, if it set one
    reset: float  # the reset as read, on the lane's clock
    offset: float  # the server's clock offset it was read with


class Lane:
    """The pace of one API host and tenant. Tasks share it; see the module doc."""

    #: Seconds without a 429 after which a learned pace is dropped.
    RECOVER_AFTER = 10.0
    #: Below this pace the lane never goes (it would starve rather than protect the server).
    MIN_RATE = 0.2
    #: Multiplicative decrease on a 429 when the server gave no precise reset.
    BETA = 0.7
    #: Growth of the pace per second while the pace, not the caller, is what holds requests back.
    PROBE_GROWTH = 2.0  # until the limit was measured
    STEADY_GROWTH = 1.05  # once it was, at most...
    #: ...and only as the 429s recede: ``1 + STEADY_RAMP * seconds since the last one`` a second. Right
    #: after a measured limit the pace stays put; it probes above it after a few quiet seconds (so a
    #: raised limit is found), not at once (which would trip the limit again and again).
    STEADY_RAMP = 0.002
    #: The share of a measured rate the lane paces at: the server's bucket fills up a little, which
    #: absorbs the jitter of requests on their way.
    MEASURED_SHARE = 0.98
    #: How late a request may leave after its slot (share of the interval, seconds at most) and still count
    #: as sent on time, for the pace of the next ones.
    LATE_SLOT = 0.5
    LATE_MAX = 0.01
    #: What a measurement of the server's rate needs: accepted requests over so many seconds at least.
    MEASURE_SPAN = 0.3
    MEASURE_MIN_OK = 10
    #: A slow bucket trips a probing pace before one window holds that many: windows of the last POOL_AGE
    #: seconds (at most POOL_KEPT) count together (see :meth:`_measure`).
    POOL_AGE = 10.0
    POOL_KEPT = 16
    POOL_MIN_OK = 20
    #: How long after a first pace set with few answers back the answers that follow may raise it.
    PROVISIONAL = 0.25
    #: The wait when a 429 says nothing about when to come back.
    DEFAULT_DELAY = 1.0
    RESET_MARGIN = 0.002
    #: Resets shorter than this are read as the spacing of the server's slots (see :meth:`observe`).
    SLOT_RESET = 0.5
    #: A 429 among this many recent answers of which at most SPORADIC_SHARE were 429s is sporadic (a
    #: gateway's hiccup, not the lane's limit): only its own call waits, and a measured pace stops growing.
    #: Pausing everyone and cutting the pace for each one would let 5 % stray 429s choke a fan-out.
    WINDOW = 50
    SPORADIC_MIN_SEEN = 10
    SPORADIC_SHARE = 0.2
    SPORADIC_HOLD = 1.0
    #: A reset said to the millisecond claims the server takes nothing until it: a request sent in the middle of that
    #: time (the share of it at each end is left for the jitter of the way there) and accepted refutes it.
    CLAIM_EDGE = 0.25
    CLAIMS_KEPT = 32
    CLAIM_MIN = 0.02
    CLAIM_EXPIRY = 2.0  # seconds past its reset after which a claim's requests have all been answered
    #: How long a refuted claim marks a lane as one whose short resets may be strays.
    STRAY_MEMORY = 10.0
    #: A wave of 429s (PROOF_WAVE at least, as many as accepted answers) this soon after a refuted claim undid a
    #: slow-down shows the claim refuted by the server's clock, not by a stray: the lane tests no claims for
    #: CLAIM_DISTRUST seconds (see :meth:`_distrust_claims`).
    CLAIM_PROOF = 0.5
    PROOF_WAVE = 5
    CLAIM_DISTRUST = 30.0
    #: A 429 after this many accepted requests of the pace before it is lone; a run of such halving the pace
    #: proves them strays (see :meth:`_count_cut`).
    LONE_AFTER = 4
    LONE_OVER = 1.2
    STRAY_CUT = 0.5
    SENDS_KEPT = 64
    #: How long after a 429 the bound its reset set on the server's rate holds the probing pace.
    CEILING_HOLD = 1.0
    CEILING_SLOTS = 10.0
    #: How many accepted answers' ``Date`` narrow the offset of a server's clock (after its first reset said as a time).
    OFFSET_SAMPLES = 200
    #: A server's clock further off ours than this is taken for a broken Date header, not corrected for.
    OFFSET_MAX = 600.0
    #: A window whose start was read with an offset since corrected by more than this counts no rate.
    OFFSET_SLACK = 0.01

    def __init__(self, governor: RateGovernor, origin: str, tenant: Hashable, preset: RateLimit | None) -> None:
        self._governor = governor
        self.origin = origin
        self.tenant = tenant
        self.preset = preset
        self.stats = GovernorStats()
        self._burst = max(1.0, preset.burst if preset and preset.burst else 1.0)
        # The pace a documented limit sets. One without a burst has nothing to absorb a request that arrives a
        # little early (the way there varies, clocks tick apart): paced exactly at it, a 3/s bucket turned
        # away one call in twenty-four, each 429 slowing the lane for seconds (1.17x the ideal). It is paced
        # as a measured rate is, a little under it.
        self._documented = (
            None if preset is None else preset.rate * (self.MEASURED_SHARE if self._burst <= 1.0 else 1.0)
        )
        self._rate: float | None = self._documented
        self._tat = 0.0  # GCRA: the theoretical arrival time of the next request
        self._queue: deque[anyio.Event] = deque()  # tasks waiting for a slot, in order (see acquire)
        self._paused_until = 0.0
        self._epoch = 0
        self._measured = preset is not None  # whether _rate reflects a measurement (or a documented limit)
        self._ceiling = math.inf  # what the resets of token buckets said the server's rate is under
        self._last_throttle = -math.inf
        self._last_growth = 0.0
        self._bound_at = -math.inf  # when the pace last made a request wait
        self._ok_since_throttle = 0
        # Accepted requests sent since the end of the last limiting pause: the server's bucket was empty
        # then, and is empty again at its next 429, so they count its rate (see _measure).
        self._window_start = math.inf
        self._window_ok = 0
        self._window_slack = False  # whether a request of the window left without waiting for the pace
        self._window_offset = 0.0  # the server's clock offset its start was read with
        self._pooled: deque[tuple[float, int, float]] = deque(maxlen=self.POOL_KEPT)  # (ended, accepted, span)
        self._round_trips: deque[float] = deque(maxlen=16)  # of recent accepted requests, while paced
        self._provisional: float | None = None  # until when the answers that follow a first pace set blind may raise it
        self._consecutive_unknown = 0
        self._throttle_started = 0.0
        self._oks: deque[float] = deque()
        self._recent: deque[bool] = deque(maxlen=self.WINDOW)  # whether each recent answer was a 429
        self._sends: deque[float] = deque(maxlen=self.SENDS_KEPT)  # when the last requests left
        self._claims: deque[_Claim] = deque(maxlen=self.CLAIMS_KEPT)  # short resets not yet borne out
        self._cut_claim: _Claim | None = None  # the claim of the latest slow-down
        # The pace before the first slow-down no count of the server's rate has backed since (see _test_claims).
        self._guess_base: _Pace | None = None
        self._stray_until = -math.inf  # till then, short resets here may be strays (see _test_claims)
        self._undone: _Undone | None = None  # the slow-down a refuted claim last undid (see CLAIM_PROOF)
        self._claims_off_until = -math.inf  # no claims tested before this (see CLAIM_PROOF)
        self._epoch_ok = 0  # requests sent under the current pace and accepted
        self._cuts: tuple[_Pace, float] | None = None  # a run of lone slow-downs: the pace before, its rate
        self._first_answer = math.inf
        self._offset = 0.0  # the server's clock less ours, where its Date headers show one (_clock_offset)
        self._offset_bounds = (-math.inf, math.inf)
        self._offset_samples = 0  # accepted answers whose Date to read yet
        #: The rate the server was last counted taking (see _measure): a 429 at a pace under it is not its bucket's.
        self._sustained = 0.0
        self._hold_until = -math.inf  # no growth of the pace before this (after a sporadic 429)
        cold = governor.cold_start
        self._cold = None if preset or cold is None else cold.fresh()  # until the server speaks
        self._in_flight = 0  # requests sent and not answered yet, counted during the cold start
        self._clock: Callable[[], float] = governor.clock or time.time
        self._wall_clock: Callable[[], float] = governor.wall_clock or time.time
        self._sleep: Callable[[float], Awaitable[None]] = governor.sleep or anyio.sleep
        self._timed_by: RetryPolicy | None = None  # the policy whose clocks those are (RateGovernor.acquire)

    def __repr__(self) -> str:
        return f"Lane(rate={self._rate!r}, throttled={self.stats.throttled})"

    @property
    def rate(self) -> float | None:
        """Requests per second this lane allows now (``None``: no limit known)."""
        return self._rate

    async def acquire(
        self, attempt: int = 1, not_before: float = 0.0, probe: tuple[float, float, int] | None = None
    ) -> Ticket:
        """Wait for this request's slot (not before ``not_before`` on this lane's clock).

        Tasks that cannot go at once queue up in order; only the first of them waits for a time, which
        it works out again each time it wakes, from the lane's pace and pause *then*. So the lane sends
        at its current pace, however long the queue: a slot handed out in advance would keep the pace
        of when it was handed out (too fast after a 429, too slow while the pace grows).
        """
        self.stats.requests += 1
        now = self._clock()
        if self._rate is None and self._cold is None and self._paused_until <= now >= not_before:
            # Nothing holds the lane back (no pace, no cold start, no pause; then no queue either): the usual
            # case of a lane without a limit, what the rest of this method would conclude.
            if now >= self._window_start:
                self._window_slack = True
            self._sends.append(now)
            return Ticket(self, self._epoch, attempt, sent=now)
        waited = 0.0
        if probe is not None:
            not_before = max(not_before, probe[0])
        own_wait = not_before - now
        if own_wait > 0:
            await self._sleep(own_wait)
            waited += own_wait
            now = self._clock()
        if probe is not None and now < min(probe[1], self._paused_until):
            # It tests the claim of the pause it goes in: it takes no slot of the pace, and its 429, if the
            # claim holds, is one more of the wave that set the pause, not a new one.
            if waited:
                self.stats.waits += 1
                self.stats.waited += waited
            self._sends.append(now)
            return Ticket(self, probe[2], attempt, sent=now)
        if (self._queue and self._paced(now)) or self._slot(now) > now:
            waited += await self._wait_in_line(now)
        elif now >= self._window_start:
            self._window_slack = True  # the caller, not the pace, set how fast this went
        now = self._clock()
        self._take(now)
        if waited:
            self.stats.waits += 1
            self.stats.waited += waited
        ticket = Ticket(self, self._epoch, attempt, sent=now)
        self._sends.append(now)
        if self._cold is not None:
            self._in_flight += 1
            ticket.in_flight = True
        return ticket

    def release(self, ticket: Ticket) -> None:
        """The request of ``ticket`` is answered, failed or abandoned: it is no longer in flight."""
        if ticket.in_flight:
            ticket.in_flight = False
            self._in_flight -= 1

    def _slot(self, now: float) -> float:
        """The earliest time the next request may leave: after any pause, and within the pace (GCRA)."""
        start = max(now, self._paused_until)
        rate = self._rate
        if rate is None:
            cold = self._cold
            if cold is None or not self._in_flight:  # a request alone floods no one
                return start
            slot = cold.slot(now)
            if slot is None:
                self._cold = None
                return start
            return max(start, slot)
        return max(start, self._tat - (self._burst - 1.0) / rate)

    def _burst_credit(self) -> float:
        """How far ahead of its pace a burst lets the lane send (GCRA's tolerance; none for a learned pace).

        After a 429 the server's bucket is empty, so the theoretical arrival time is set this far past the
        pause: the next request leaves when it ends and the ones after it at the pace, not in a burst that
        would only buy 429s.
        """
        rate = self._rate
        return (self._burst - 1.0) / rate if rate else 0.0

    def _take(self, now: float) -> None:
        rate = self._rate
        if rate is None and self._cold is not None and self._in_flight:
            self._cold.take(now)
        elif rate is not None:
            interval = 1.0 / rate
            # A request that leaves a little after its slot (the event loop was busy) does not push the
            # next ones back: the lane keeps its pace on average, never getting ahead of it.
            self._tat = max(self._tat, now - min(self.LATE_SLOT * interval, self.LATE_MAX)) + interval

    async def _wait_in_line(self, now: float) -> float:
        """Queue up behind the tasks already waiting; return the seconds waited."""
        started = now
        turn = anyio.Event()
        queue = self._queue
        queue.append(turn)
        try:
            if queue[0] is not turn:
                await turn.wait()
            while True:
                now = self._clock()
                send_at = self._slot(now)
                if send_at <= now:
                    return now - started
                if queue[0] is not turn:
                    # Woken with every other waiting task while the lane had no pace, and it has one again:
                    # back to waiting for its turn, so that only the first of the queue waits for a time.
                    fresh = anyio.Event()
                    queue[queue.index(turn)] = turn = fresh
                    await turn.wait()
                    continue
                if send_at > self._paused_until:
                    self._bound_at = now  # the pace, not a pause, holds requests back
                await self._sleep(send_at - now)
        finally:
            if queue and queue[0] is turn:
                queue.popleft()
                if queue:
                    # The turn passes on one task per pass of the event loop; with no pace any more, that
                    # would hold every task arriving meanwhile behind the queue, however fast the server.
                    for waiting in queue if not self._paced(self._clock()) else (queue[0],):
                        waiting.set()
            else:
                queue.remove(turn)  # cancelled while waiting for its turn

    def _paced(self, now: float) -> bool:
        """Whether anything holds this lane's requests back now: a pace, the cold start or a pause."""
        return self._rate is not None or self._cold is not None or self._paused_until > now

    def observe(self, ticket: Ticket, response: Answered) -> bool:
        """Learn from a response; return whether it was a rate-limit rejection."""
        self.release(ticket)
        gov = self._governor
        if response.status_code < 400 and _remaining(response) is None:
            throttle = _NOT_LIMITED  # what parse_throttle says of it, without reading the clocks and headers
            if self._offset_samples:  # the server's clock is off ours: its next answers say by how much
                self._offset_samples -= 1
                self._clock_offset(response, self._wall_clock(), ticket)
        else:
            wall = self._wall_clock()
            throttle = parse_throttle(response, now=wall)
            if throttle.delay is not None and (offset := self._clock_offset(response, wall, ticket)):
                throttle = parse_throttle(response, now=wall + offset)
        now = self._clock()
        if self._claims:
            self._test_claims(ticket, throttle.limited, now)
        if not throttle.limited:
            if self._undone is not None:
                self._after_undoing(ticket, False, now)
            self._recent.append(False)
            if ticket.sent >= self._window_start:
                self._window_ok += 1
            if self._rate is not None:
                self._round_trips.append(now - ticket.sent)
            if ticket.epoch == self._epoch:
                self._epoch_ok += 1
            self._on_success(now, throttle)
            return False
        self._recent.append(True)
        self.stats.throttled += 1
        gov.total_throttled += 1
        undone = self._undone
        if undone is not None and self._after_undoing(ticket, True, now):
            offset = self._offset
            self._distrust_claims(now, undone.offset_at_least)
            if ticket.epoch != self._epoch:
                # The wave's slow-down read its reset late: its pause was that much long, its bound too low.
                self._paused_until = max(now, self._paused_until - max(0.0, self._offset - offset))
                if self._rate is not None:
                    # As for a reset that passed in transit (see _slow_down): what got through, or a few times it.
                    oks = [t for t in self._oks if t >= now - 1.0]
                    accepted = len(oks) / max(now - oks[0], 0.25) if oks else 0.0
                    if len(oks) < self.MEASURE_MIN_OK / 2:
                        accepted = min(0.5 * self._send_rate(ticket.sent), 4.0 * accepted)
                    self._rate = max(self._rate, accepted)
                    self._tat = min(self._tat, self._paused_until + 1.0 / self._rate)
            if throttle.delay is not None and self._offset:  # the reset again, on the server's clock as now known
                throttle = parse_throttle(response, now=self._wall_clock() + self._offset)
        ticket.asked = throttle.delay or 0.0
        slot = self._is_slot(throttle)
        # A reset said to the millisecond claims the server takes nothing before it: a token bucket's next slot
        # (under half a second) or the end of a full window alike; a stray 429 with the same reset does not.
        testable = (
            throttle.fine
            and throttle.delay is not None
            and throttle.delay >= self.CLAIM_MIN
            and now >= self._claims_off_until
        )
        if self._sporadic(throttle, now):
            if testable:
                self._claim(ticket, throttle, None, now)
            ticket.retry_at = now + (throttle.delay if throttle.delay is not None else self.DEFAULT_DELAY)
            if self._measured and not (self._rate is not None and self._rate <= self._sustained):
                # Near a limit it measured, the pace stops growing a while: this may be its edge. A pace
                # that is a first guess keeps probing upwards, or steady stray 429s would hold it down
                # until RECOVER_AFTER (B6: 5 % of them kept a fan-out at its first guess for ten seconds).
                self._hold_until = now + self.SPORADIC_HOLD
            return True
        before = self._pace() if slot or testable else None
        self._cold = None  # the server spoke: the pace is learned from here
        delay = throttle.delay
        if delay is None:
            # No word of when: wait longer for each wave rejected in a row (the others of a wave are
            # answers to requests sent together, not new evidence); an accepted answer starts over.
            if ticket.epoch == self._epoch or not self._consecutive_unknown:
                self._consecutive_unknown += 1
            delay = min(30.0, self.DEFAULT_DELAY * 2.0 ** (self._consecutive_unknown - 1))
        else:
            self._consecutive_unknown = 0
        # A reset well under a second is the time to a token bucket's next slot; one near a second (or
        # longer) is the end of a counting window, and says nothing of the rate inside it.
        precise = slot
        # A precise reset is cut to whole milliseconds: come back just after it, not just before.
        # Capped: a lane paused for a day would hold every call of its host until its deadline (or for ever);
        # after max_wait a call goes and, told the same, fails at once (see RateGovernor.may_retry).
        pause = min(delay + (self.RESET_MARGIN if precise else 0.0), gov.max_wait)
        self._paused_until = max(self._paused_until, now + pause)
        self._last_throttle = now
        if ticket.epoch == self._epoch:
            # The first 429 of requests sent under the current pace: slow down once.
            rate = self._rate
            lone = self._epoch_ok >= self.LONE_AFTER
            self._epoch += 1
            self._epoch_ok = 0
            if self._guess_base is None:
                self._guess_base = before
            self._slow_down(now, precise, delay, ticket.sent)
            # Lone: after many accepted requests, and at a pace the server's rate (as last counted, by this 429 too)
            # does not explain: a pace probing at twice a counted 10/s met its 429 as a lone one, and the next cut
            # undid the first.
            lone = lone and not (rate is not None and self._sustained and rate > self.LONE_OVER * self._sustained)
            if before is not None and precise:
                self._count_cut(lone, before, now)
        else:
            before = None  # the slow-down was the wave's first 429's; a refuted claim of its own changes nothing
            if precise and delay > 0.0 and self._rate is not None and now >= self._claims_off_until:
                # More rejections of the same wave refine the estimate (the emptiest bucket waits longest).
                self._ceiling = min(self._ceiling, 1.0 / delay)
                self._rate = max(self.MIN_RATE, min(self._rate, 0.97 / delay))
        self._tat = max(self._tat, self._paused_until + self._burst_credit())
        if precise:
            # The bucket is empty until the reset: what the server accepts from then on is its rate (not after a
            # wait for answers, past a reset that passed in transit: the bucket was filling meanwhile).
            self._window_start = self._paused_until if self._provisional is None else math.inf
            self._window_offset = self._offset
            self._window_ok = 0
            self._window_slack = False
        if testable:
            self._claim(ticket, throttle, before, now)
        return True

    def _clock_offset(self, response: Answered, wall: float, ticket: Ticket) -> float:
        """How far the server's clock is ahead of ours (behind: negative), as far as its ``Date`` headers tell.

        A reset said as a time (epoch ms or s, an HTTP date) is read on the server's clock: one 2 s ahead
        made every pause 2 s longer (100 calls against a 20/s bucket took 7.9 s instead of 5), one behind
        made resets look past. A ``Date`` says the second the answer was made in, so each bounds the offset
        to two seconds (a cached header lags) and the way back, and the ``Date`` of the next answers narrows
        them. While our clock is within the bounds it is trusted; else it is corrected by the least they
        require (a server ahead of us is then read to the time its headers take to arrive; one behind, to
        about a second).
        """
        value = _header(response, "date")
        date = None if value is None else http_date(value)
        if date is None or abs(date - wall) > self.OFFSET_MAX:
            return self._offset  # none, or no clock of this world: nothing to go by
        if math.isinf(self._offset_bounds[0]):  # the first: read the next answers' too, to narrow the bounds
            self._offset_samples = self.OFFSET_SAMPLES
        way_back = min(1.0, max(0.0, self._clock() - ticket.sent))
        # Made in the second it names, or the one after: servers cache the header (uvicorn for a second).
        low, high = date - wall, date + 2.0 - wall + way_back
        lowest, highest = max(self._offset_bounds[0], low), min(self._offset_bounds[1], high)
        if lowest > highest:  # the server's clock was set (or another server answered): start over
            lowest, highest = low, high
        self._offset_bounds = (lowest, highest)
        self._offset = lowest if lowest > 0.0 else highest if highest < 0.0 else 0.0
        return self._offset

    def _pace(self) -> _Pace:
        return _Pace(
            self._rate,
            self._measured,
            self._ceiling,
            self._cold,
            self._paused_until,
            self._tat,
            self._last_throttle,
        )

    def _claim(self, ticket: Ticket, throttle: Throttle, before: _Pace | None, now: float) -> None:
        """Note what a short reset claims, to test it (see :meth:`_test_claims`).

        The server turned the request away when it arrived and takes nothing until the reset, so it rejects a
        request sent up to ``delay`` after this one: the answer may have taken all of its round trip to come
        back (a 429 is often sent at the gateway, before anything else is done) and the next request as long
        to arrive. If the 429 slowed the lane and the middle of that time is still to come, its own call tries
        again then (see :meth:`acquire`), whatever else is on its way.
        """
        span = throttle.delay or 0.0
        if span < self.CLAIM_MIN or now < self._claims_off_until:
            return  # too short to tell from the jitter of the way there, or claims are not tested here a while
        edge = self.CLAIM_EDGE * span
        claim = _Claim(ticket.sent + edge, ticket.sent + span - edge, self._epoch, before, now + span, self._offset)
        self._claims.append(claim)
        if before is not None:
            self._cut_claim = claim  # kept apart: the 429s after it may push it out of the deque
        middle = (claim.opens + claim.closes) / 2.0
        if before is not None and now < middle < self._paused_until:
            ticket.probe = (middle, claim.closes, claim.epoch - 1)

    def _test_claims(self, ticket: Ticket, limited: bool, now: float) -> None:
        """Check the claims of precise resets against this answer; undo the slow-down of one it refutes.

        A token bucket that answers "next slot in 50 ms" rejects whatever reaches it in those 50 ms. A
        gateway that rejects a share of requests at random, with the same short reset, accepts most of
        them: read as the limit, each of its 429s cut the pace again (random 429s drive any AIMD towards
        nothing). So a request sent well inside a claimed interval and accepted proves that claim's 429 a
        stray: the pace goes back to what it was, and for a while this lane's short resets are judged
        like other 429s, by their share (see :meth:`_sporadic`).
        """
        claims = self._claims
        while claims and now - claims[0].closes > self.CLAIM_EXPIRY:
            claims.popleft()
        cut = self._cut_claim
        if cut is not None and now - cut.closes > self.CLAIM_EXPIRY:
            cut = self._cut_claim = None
        if limited:
            return
        sent = ticket.sent
        if cut is not None and cut.opens < sent < cut.closes:
            refuted: _Claim | None = cut
        else:
            refuted = next((claim for claim in claims if claim.opens < sent < claim.closes), None)
        if refuted is None:
            return
        if refuted is cut:
            self._cut_claim = None
        if refuted in claims:
            claims.remove(refuted)
        self._stray_until = now + self.STRAY_MEMORY
        # Its own slow-down is undone, unless a later 429 set the pace now in force.
        before = refuted.before if refuted.epoch == self._epoch else None
        base = self._guess_base
        if base is not None and not (self._measured if before is None else before.measured):
            # Strays are proven here, and what the pace would rest on was never counted: the slow-downs
            # since the last count rest on resets whose tests may have met strays too (one in ten, with a
            # tenth of requests rejected at random: the lane then crept back from 20/s, S1 taking 3 s, not 0.2).
            before = base
        if before is not None:
            self._restore(before, now)
            # Were the server's clock ahead of ours, the reset came before this request arrived (see CLAIM_PROOF).
            self._undone = _Undone(now, refuted.offset + refuted.reset - (sent + (now - sent) / 2.0))
        self._ceiling = math.inf  # what the resets said of the server's rate: they include strays

    def _after_undoing(self, ticket: Ticket, rejected: bool, now: float) -> bool:
        """Count an answer to a request sent since a refuted claim undid a slow-down; return whether they prove
        the slow-down the limit's: a wave of 429s, as many as accepted answers (strays are a few among many)."""
        undone = self._undone
        assert undone is not None
        if now - undone.at > self.CLAIM_PROOF:
            self._undone = None
            return False
        if ticket.sent < undone.at:
            return False
        if not rejected:
            undone.accepted += 1
            return False
        undone.rejected += 1
        return undone.rejected >= self.PROOF_WAVE and undone.rejected >= undone.accepted

    def _distrust_claims(self, now: float, offset_at_least: float) -> None:
        """The slow-down a refuted claim undid was the limit's after all: the lane met a new wave of 429s at once.

        A server whose clock is ahead of ours by a few tenths of a second (too little for its ``Date`` headers to
        show: they say whole seconds, and may lag one) has each reset read that much late. A request sent after
        the true reset, inside the claimed interval, is accepted, and undoing the slow-down sent the whole queue
        into the empty bucket (0.3 s ahead: 462 429s for 600 calls against 100/s). So the server's clock is
        taken to be ahead by what that request shows (``offset_at_least``: it arrived after the reset), within
        what its ``Date`` headers allow, and the lane tests no claims a while: its short resets are the limit's.
        """
        self._claims_off_until = now + self.CLAIM_DISTRUST
        self._claims.clear()
        self._cut_claim = None
        self._guess_base = None
        self._stray_until = -math.inf
        self._undone = None
        self._ceiling = math.inf  # what the resets read late said of the server's rate
        lowest, highest = self._offset_bounds
        if offset_at_least > lowest:
            raised = min(highest, offset_at_least)
            self._offset_bounds = (raised, highest)
            self._offset = raised if raised > 0.0 else highest if highest < 0.0 else 0.0

    def _restore(self, before: _Pace, now: float) -> None:
        """Go back to the pace of ``before``: the 429s that changed it since were strays."""
        rate = self._rate
        self._rate = None if before.rate is None or rate is None else max(before.rate, rate)
        self._measured = before.measured
        self._ceiling = before.ceiling
        self._cold = before.cold
        self._last_throttle = before.last_throttle
        self._paused_until = min(self._paused_until, max(before.paused_until, now))
        self._tat = min(self._tat, max(before.tat, now))
        self._window_start = math.inf  # the pause it set no longer starts a count of the server's rate
        self._pooled.clear()  # nor did it end one
        self._provisional = None
        self._cuts = None
        self._guess_base = None

    def _count_cut(self, lone: bool, before: _Pace, now: float) -> None:
        """Note a slow-down for a short reset; undo the run of them if it proves them strays.

        Each came after many accepted requests of the pace before it (``lone``), as a token bucket's does
        when the pace is just above its rate. But such a bucket takes the pace 0.7 times that without a 429;
        a run of them halving the pace, each as lone, comes from a server that rejects a share at random,
        whatever the pace (a reset that passed in transit, as 50 ms ones do at 50 ms of latency, leaves no
        claim to test).
        """
        if not lone:
            self._cuts = None  # a 429 soon after the pace was set: that pace was too fast
            return
        if self._cuts is None:
            self._cuts = (before, before.rate if before.rate is not None else self._rate or math.inf)
            return
        first, reference = self._cuts
        if self._rate is not None and self._rate <= self.STRAY_CUT * reference:
            self._stray_until = now + self.STRAY_MEMORY
            self._restore(first, now)
            self._ceiling = math.inf

    def _is_slot(self, throttle: Throttle) -> bool:
        """Whether a 429's delay is the time to a token bucket's next slot (said to the millisecond)."""
        delay = throttle.delay
        return delay is not None and delay < self.SLOT_RESET and (throttle.fine or delay > 0.0)

    def _sporadic(self, throttle: Throttle, now: float) -> bool:
        """Whether this 429 stands alone among many accepted answers and says nothing of an empty window."""
        recent = self._recent
        if len(recent) < self.SPORADIC_MIN_SEEN or (throttle.remaining is not None and throttle.remaining <= 0):
            return False
        if (
            self._is_slot(throttle)
            and now >= self._stray_until
            and not self._outpaced(throttle, now)
            and not (self._rate is not None and self._rate <= self._sustained)
        ):
            return False  # the time to a token bucket's next slot: the limit itself speaking
        return sum(recent) <= self.SPORADIC_SHARE * len(recent)

    def _outpaced(self, throttle: Throttle, now: float) -> bool:
        """Whether the lane got more through in the last second than twice the rate a slot's reset allows.

        A bucket whose next slot is ``delay`` away takes at most ``1/delay`` a second (and a burst once): a
        lane that had hundreds of answers a second, told to come back in 50 ms, met a gateway's hiccup with
        a short retry, not its limit. Read as the limit, each such 429 would cut the pace again (random
        rejections drive AIMD towards nothing: 200 calls took 17-41 s instead of 3).
        """
        delay = throttle.delay
        if not delay:
            return False
        accepted = sum(1 for sent in self._oks if sent >= now - 1.0)
        return accepted > 2.0 / delay + self.SPORADIC_MIN_SEEN

    def _measure(self, sent: float, now: float) -> float | None:
        """The server's rate, from the requests it accepted between moments its bucket was empty.

        Those are the end of the last limiting pause (its reset: one token) and the sending of the request
        just rejected (none). The requests are counted by when they were sent, which latency does not move;
        but the first one reached the server a one-way trip after its reset, when the bucket held that much
        more (10 % of a 100/s rate at 50 ms each way), so the span counts the trip too (half the shortest
        recent round trip). The last token is as likely spent as not when the rejected request arrives.

        A slow bucket trips a pace that probes upwards before one window holds ``MEASURE_MIN_OK`` requests
        (a 10/s bucket: 5-8 a window, never counted, so the pace went up and down by half for good, a 429 in
        every seven calls); windows of the last ``POOL_AGE`` seconds count together.
        """
        span = sent - self._window_start
        pooled = self._pooled
        if self._window_slack:
            pooled.clear()  # the server's bucket may have filled up while the caller was slower
            return None
        if not span > 0.0 or not self._window_ok:
            return None  # no window (a probe sent in the pause), or the reset's own request turned away
        if abs(self._offset - self._window_offset) > self.OFFSET_SLACK:
            # Its start was read on a clock since found off: the bucket was filling (or empty) for that long.
            pooled.clear()
            return None
        if span >= self.MEASURE_SPAN and self._window_ok >= self.MEASURE_MIN_OK:
            pooled.clear()
            return (self._window_ok - 1) / span  # one of them took the token of the reset itself
        if now < self._stray_until:
            # Where strays were seen, a short window may have ended at one: pooled, such windows count what the
            # lane sent, not what the server takes, and a pace held there grows slowly.
            pooled.clear()
            return None
        while pooled and now - pooled[0][0] > self.POOL_AGE:
            pooled.popleft()
        lead = min(self._round_trips, default=0.0) / 2.0
        pooled.append((now, self._window_ok, span + lead))
        accepted = sum(window[1] for window in pooled)
        if accepted < self.POOL_MIN_OK:
            return None
        counted = sum(window[2] for window in pooled)
        pooled.clear()
        return accepted / counted

    def _slow_down(self, now: float, precise: bool, delay: float, sent: float) -> None:
        current = self._rate
        self._provisional = None
        window_start = max(now - 1.0, self._oks[0] if self._oks else now)
        recent = sum(1 for t in self._oks if t >= window_start)
        span = now - self._throttle_started
        if precise:
            # A sub-second reset is the time to the server's next free slot, so 1/delay bounds its rate
            # (from above only: the answer took some of that time to arrive, and the slot may have been
            # partly filled already). Until the rate was counted, the pace probes no higher.
            # Not where resets were found read late (see _distrust_claims): by how much is known from below only.
            bounds = delay > 0.0 and now >= self._claims_off_until
            bound = 0.97 / delay if bounds else math.inf
            if bounds:
                self._ceiling = min(self._ceiling, 1.0 / delay)
            measured = self._measure(sent, now)
            if measured is not None:
                self._sustained = measured
            if measured is not None and current is not None:
                # The server's rate, counted: pace a little under it (and halve the pace at most: fewer
                # accepted requests than it takes, when the caller was slower for a while, mean a deeper
                # cut, which the growth of the pace makes up).
                new = max(current * 0.5, min(self.MEASURED_SHARE * measured, current * self.MEASURED_SHARE))
                self._measured = True
            elif current is not None:
                # Too soon after the last pause to count: a measured pace was tripped by little, a pace
                # still probing by an unknown share.
                new = min(bound, current * (0.95 if self._measured else self.BETA))
            else:
                # The first wave: 1/delay bounds the rate, but a reset that passed (or was near) while
                # the answer travelled bounds nothing; what the server took over the last moment does.
                # Either is a first pace only, probed upwards (under the bound) until the rate is counted.
                # With few answers back, half of what the lane was sending when the server said no, as TCP's
                # slow start does.
                sending = self._send_rate(sent)
                accepted = recent / max(now - window_start, 0.25)  # over a quarter second at least: bursts
                if math.isinf(bound):
                    # A reset that passed in transit bounds nothing, and the lane's sending rate is no guide
                    # (half of it flooded a 20/s bucket at 80 ms of latency: 190 429s for 160 calls): what got
                    # through is, or a few times it when little has come back yet.
                    new = accepted if recent >= self.MEASURE_MIN_OK / 2 else min(0.5 * sending, 4.0 * accepted)
                    if not recent:
                        # The answers of requests sent with this one may still be on their way: read after it,
                        # 5 accepted ones set a 20/s bucket's pace at 20, read before, at 1 (80 ms each way: 11 s
                        # for 160 calls instead of 8). The lane waits for them a moment (at most a round trip),
                        # and what they show raises the pace (_on_success).
                        until = now + min(self.PROVISIONAL, now - sent)
                        self._provisional = until
                        self._paused_until = max(self._paused_until, until)
                elif recent >= self.MEASURE_MIN_OK / 2:
                    # What was accepted, and a quarter of what the lane was sending (the few answers of a burst,
                    # all back within 20 ms, paced a 300/s server at 40/s).
                    new = min(bound, max(accepted, 0.25 * sending))
                else:
                    new = min(bound, 0.5 * sending)
                new = max(new, 1.0)
                if math.isinf(new):
                    new = 1.0  # one request alone, told nothing of when
                self._measured = False
        elif current is not None and not self._measured and self._ok_since_throttle and span >= 1.0:
            # The second 429 while probing: what got through since the first one is the server's rate.
            new = min(current * self.BETA, 0.97 * self._ok_since_throttle / span)
            self._measured = True
        elif current is None:
            # A coarse reset (whole seconds) or none: the rate accepted over the last second (or since the
            # first answer, a quarter second at least) is a safe first pace, probed upwards from there.
            new = max(1.0, recent / max(now - window_start, 0.25))
        else:
            new = current * self.BETA
        if not precise and recent:
            # Never below what the server took in the last second: stray 429s in a row cut no deeper.
            new = max(new, 0.9 * recent / max(now - window_start, 0.25))
        elif recent and now - self._first_answer > 1.0:
            # Nor below half of it for a short reset: read a little long (the server's clock a few tenths of a
            # second ahead), 1/delay bounds far too low (a 100/s lane went to 4/s). Not in the first second,
            # which a burst of the server's bucket may fill.
            new = max(new, 0.5 * recent / max(now - window_start, 0.25))
        self._rate = max(self.MIN_RATE, new)
        self._throttle_started = now
        self._ok_since_throttle = 0
        self._last_growth = now
        # The new pace starts at the end of the pause, without the credit of a burst.
        self._tat = max(now, self._paused_until) + self._burst_credit()

    def _send_rate(self, at: float) -> float:
        """Requests per second the lane sent over the quarter second up to ``at`` (infinite if it sent few)."""
        times = [sent for sent in self._sends if at - 0.25 <= sent <= at]
        if len(times) < 3:
            return math.inf
        return (len(times) - 1) / max(times[-1] - times[0], 0.02)

    def _on_success(self, now: float, throttle: Throttle) -> None:
        self._ok_since_throttle += 1
        self._consecutive_unknown = 0
        oks = self._oks
        if not oks and math.isinf(self._first_answer):
            self._first_answer = now
        oks.append(now)
        while oks and oks[0] < now - 1.0:
            oks.popleft()
        if throttle.remaining is not None and throttle.remaining <= 0 and throttle.delay:
            # CF says the window is used up: everyone waits for its reset instead of collecting 429s (CF's
            # windows last an hour: a call then goes after max_wait and meets the 429 itself).
            self._paused_until = max(self._paused_until, now + min(throttle.delay, self._governor.max_wait))
        rate = self._rate
        if rate is None:
            return
        provisional = self._provisional
        if provisional is not None:
            if now > provisional:
                self._provisional = None
            else:
                guess = len(oks) / max(now - oks[0], 0.25)  # what got through, no more: few answers are in
                if guess > rate:
                    self._rate = rate = guess
                    self._tat = min(self._tat, max(now, self._paused_until) + 1.0 / guess)
        if now - self._last_throttle >= self.RECOVER_AFTER and rate != self._documented:
            if now - self._bound_at >= 1.0:
                # The 429s stopped and the pace holds no one back: back to the documented limit, or to the
                # caller's own pace.
                self._rate = self._documented
                self._measured = self.preset is not None
                self._ceiling = math.inf
                self._cuts = None
                self._guess_base = None
                self._sustained = 0.0
                self._pooled.clear()
                return
            if self._measured:
                # The pace still holds a fan-out back, and is why no 429 came: dropped at once, it sent the
                # whole queue into the server's bucket (40 429s every RECOVER_AFTER seconds against 100/s).
                # It probes upwards instead, doubling each second, so a limit raised meanwhile is found soon.
                self._measured = False
                self._ceiling = math.inf
                self._cuts = None
                self._guess_base = None  # the pace it probes from was counted
        # Capped: a lane quiet for longer is back at its preset anyway (RECOVER_AFTER), and a clock of epoch
        # seconds since the lane's first answer must not raise the pace to a power past float's range.
        elapsed = min(now - self._last_growth, self.RECOVER_AFTER)
        self._last_growth = now
        if elapsed > 0 and now - self._bound_at < 1.0 and now >= max(self._paused_until, self._hold_until):
            ceiling = math.inf if self._documented is None else self._documented  # never above a documented limit
            if self._measured:
                growth = min(self.STEADY_GROWTH, 1.0 + self.STEADY_RAMP * (now - self._last_throttle))
            else:
                growth = self.PROBE_GROWTH
                if now - self._last_throttle < max(self.CEILING_HOLD, self.CEILING_SLOTS / self._ceiling):
                    # What the resets said bounds the probe a while, not for good: a reset read a few ms
                    # long (clocks a little apart, the way back) held a 100/s lane at 50/s until RECOVER_AFTER.
                    # A while is ten of the server's slots at least: a 2/s bucket's rate is seldom counted, and
                    # with the bound gone after a second its 24 calls met 39 429s.
                    ceiling = min(ceiling, self._ceiling)
            self._rate = max(rate, min(ceiling, rate * growth**elapsed))

    def note_retry(self) -> None:
        self.stats.retries += 1

    def snapshot(self) -> GovernorStats:
        stats = GovernorStats(**{**self.stats.__dict__, "rate": self._rate})
        return stats


# -- the governor --------------------------------------------------------------------------------------


_LaneKey = tuple[str, str, Hashable, RateLimit | None]


def _first_match(presets: tuple[RateLimit, ...], host: str, method: str, path: str) -> RateLimit | None:
    for preset in presets:
        if preset.matches(host, method, path):
            return preset
    return None


def _tenant(auth: httpx.Auth | None) -> Hashable:
    grant = getattr(auth, "grant", None)
    if grant is None:
        return None
    # The user of a user's token too: Cloud Controller counts each user's requests (two admins on the
    # public `cf` client are two tenants); a client's own token has none.
    return (getattr(grant, "token_url", None), getattr(grant, "client_id", None), getattr(grant, "user", None))


@dataclass
class RateGovernor:
    """Every lane of a session (see the module doc). ``Session(governor=RateGovernor(...))`` replaces it.

    ``presets`` are known limits (default :data:`SAP_PRESETS`); ``enabled=False`` turns pacing off
    (429s are then retried like 503s, within ``max_retries``). Under the governor a rejected call tries
    again until its deadline (see :meth:`may_retry`). A host with no preset starts slowly, for a tenth
    of a second or until its first 429 (``cold_start``, see :class:`ColdStart`; ``None``: no slow
    start). ``clock`` (pacing), ``wall_clock`` (server dates) and ``sleep`` default to those of each
    request's :class:`RetryPolicy`, which is how tests that fake time for retries fake it here too.
    """

    presets: Iterable[RateLimit] = SAP_PRESETS
    enabled: bool = True
    max_wait: float = 60.0
    max_attempts: int = 100
    cold_start: ColdStart | None = field(default_factory=ColdStart)
    clock: Callable[[], float] | None = field(default=None, repr=False)
    wall_clock: Callable[[], float] | None = field(default=None, repr=False)
    sleep: Callable[[float], Awaitable[None]] | None = field(default=None, repr=False)
    total_throttled: int = field(default=0, init=False)
    _lanes: dict[tuple[str, str, Hashable, RateLimit | None], Lane] = field(
        default_factory=dict, init=False, repr=False
    )
    _presets: tuple[RateLimit, ...] = field(default=(), init=False, repr=False)
    _presets_by_host: dict[str, tuple[RateLimit, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._presets = tuple(self.presets)

    def lane(self, request: Addressed, auth: httpx.Auth | None = None) -> Lane:
        """The lane of ``request`` sent with ``auth`` (created on first use)."""
        url = request.url
        host = url.host
        candidates = self._presets_by_host.get(host)
        if candidates is None:  # matching host patterns on every request cost more than the lane itself
            candidates = self._presets_for(host)
        preset = _first_match(candidates, host, request.method, url.path) if candidates else None
        origin = f"{host}:{url.port}" if url.port else host
        tenant = _tenant(auth)
        key = (url.scheme, origin, tenant, preset if preset and preset.endpoint_specific else None)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self, origin, tenant, preset)
        return lane

    def _presets_for(self, host: str) -> tuple[RateLimit, ...]:
        candidates = tuple(p for p in self._presets if fnmatch.fnmatchcase(host, p.host))
        if len(self._presets_by_host) < 1024:
            self._presets_by_host[host] = candidates
        return candidates

    async def acquire(
        self,
        request: Addressed,
        auth: httpx.Auth | None = None,
        previous: Ticket | None = None,
        policy: RetryPolicy | None = None,
    ) -> Ticket | None:
        """Wait for ``request``'s slot (``None`` when the governor is off); ``previous`` is the call's last try."""
        attempts = ATTEMPTS.get()
        if attempts is not None:
            attempts[0] += 1
        if not self.enabled:
            return None
        lane = self.lane(request, auth)
        if policy is not None and lane._timed_by is not policy:  # a lane serves one policy in most programs
            lane._timed_by = policy
            lane._clock = self.clock or policy.clock
            lane._wall_clock = self.wall_clock or policy.clock
            lane._sleep = self.sleep or policy.sleep
        paused = lane._paused_until - lane._clock()
        if paused > 0.0 and paused >= (left := time_left()):
            # Waiting could only end in the deadline's timeout: say so now, and why (no attempt was made).
            if attempts is not None:
                attempts[0] -= 1
            raise ApiTimeoutError(
                f"the rate governor holds {lane.origin} for another {paused:.1f} s after a 429, and the call's"
                f" deadline leaves {left:.1f} s; nothing was sent",
                method=request.method,
                url=str(request.url),
            )
        try:
            if previous is None:
                return await lane.acquire(1)
            if previous.lane is not lane:
                return await lane.acquire(previous.attempt + 1)
            return await lane.acquire(previous.attempt + 1, previous.retry_at, previous.probe)
        except BaseException:
            # Its deadline ended (or it was cancelled) while it waited for its slot: nothing was sent.
            lane.stats.requests -= 1
            if attempts is not None:
                attempts[0] -= 1
            raise

    def stats(self) -> GovernorStats:
        """Counters summed over every lane."""
        total = GovernorStats()
        for lane in self._lanes.values():
            total = total + lane.stats
        return total

    def lanes(self) -> Mapping[str, GovernorStats]:
        """Counters and current pace per lane, keyed ``"host[:port] (tenant n)"``."""
        result: dict[str, GovernorStats] = {}
        tenants: dict[Hashable, int] = {}
        for lane in self._lanes.values():
            number = tenants.setdefault(lane.tenant, len(tenants) + 1)
            name = f"{lane.origin} (tenant {number})"
            if lane.preset is not None and lane.preset.endpoint_specific:
                name += f" {lane.preset.method} {lane.preset.path}"
            result[name] = lane.snapshot()
        return result

    def may_retry(self, ticket: Ticket, policy: RetryPolicy | None = None) -> bool:
        """Whether a call whose request was rejected may try again.

        Yes while its deadline (the call's, or an enclosing cancel scope's) leaves time for the lane's pause and the
        server asked for no more than ``max_wait`` (nor than the call's ``policy.max_retry_after``); a call without
        a deadline gets ``max_attempts`` tries, and one whose policy allows no retries (``max_retries=0``) none.
        """
        lane = ticket.lane
        wait = max(0.0, lane._paused_until - lane._clock(), ticket.retry_at - lane._clock(), ticket.asked)
        left = time_left()
        cap = self.max_wait
        if policy is not None:
            if policy.max_retries <= 0:
                return False
            cap = min(cap, policy.max_retry_after)
        if wait > cap or wait >= left:
            return False
        if math.isinf(left) and ticket.attempt >= self.max_attempts:
            return False
        lane.note_retry()
        return True
