"""Fault injection (latency, 429, 5xx, dropped connections, token buckets) and the counters tests read."""

from __future__ import annotations

import dataclasses
import email.utils
import fnmatch
import json
import math
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._clock import Clock
from ._config import AUDIT_LOG_RATE_LIMIT, EmulatorConfig, FaultConfig, FaultRule


@dataclass
class Counters:
    """What the emulator did. ``requests`` is keyed by route id (``"<api> <METHOD> <template>"``)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    rate_limited: int = 0  # 429 responses sent (injected or from a token bucket)
    unauthorized: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def requests_for(self, api: str) -> int:
        prefix = api + " "
        return sum(v for k, v in self.requests.items() if k.startswith(prefix))

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "faults": dict(self.faults),
            "tokens_issued": self.tokens_issued,
            "rate_limited": self.rate_limited,
            "unauthorized": self.unauthorized,
            "total_requests": self.total_requests,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.faults.clear()
        self.tokens_issued = 0
        self.rate_limited = 0
        self.unauthorized = 0


@dataclass(slots=True)
class Decision:
    """What to do with one request. With ``status`` 0 the request is served and ``headers`` are added to the
    answer (CF's ``X-RateLimit-*``); otherwise the answer is ``body`` if set, else an error in the API's format."""

    status: int = 0  # 0 = serve normally
    delay: float = 0.0
    drop: bool = False
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    message: str = ""
    code: str | int | None = None
    body: bytes | None = None


_NOTHING = Decision()


@dataclass(frozen=True)
class RateLimit:
    """A limit SAP documents: ``limit`` requests per ``per`` seconds (a token bucket of ``burst`` tokens, default
    ``limit``) for requests of ``api`` whose ``"<METHOD> <path template>"`` matches ``route`` (shell pattern),
    counted per ``by`` = ``caller`` (user, else OAuth client) or ``tenant`` (identity zone / subaccount).
    Limits with the same ``group`` count together."""

    api: str
    route: str
    limit: float
    per: float
    burst: float | None = None
    by: str = "caller"
    group: str = ""

    @property
    def key(self) -> str:
        return self.group or f"{self.api} {self.route} {self.limit}/{self.per}"


#: The limits the services document, with where they are documented. ``EmulatorConfig.rate_limits`` turns them
#: on; ``rate_limit_factor`` multiplies every number.
DOCUMENTED_RATE_LIMITS: tuple[RateLimit, ...] = (
    # Cloud Management (cis) APIs limit each endpoint per caller; the 429 says so with error code 11006 and a
    # detail 11007, and X-Ratelimit-Reset in epoch milliseconds. Published example (SAP Help, SAP Cloud
    # Management service, "Rate Limiting"): 5 GET /accounts/v1/globalAccounts per 3 s. Other endpoints' numbers
    # are not published, so none are invented here.
    RateLimit("accounts", "GET /accounts/v1/globalAccount*", 5, 3.0),
    # Audit log retrieval API v2 (SAP Help, "Audit Log Retrieval API Usage for the Cloud Foundry Environment"):
    # per token/tenant 8 requests/s with bursts to 40 on CF EU10, EU20, US10, US30 (4/20 in EU11, EU30, US20,
    # US21, JP10, JP20, BR10); the emulator's landscape is EU10.
    RateLimit("audit_log", "*", 8, 1.0, burst=40, by="tenant"),
    # Service Manager (SAP-docs/btp-service-manager, "Rate Limiting", 97be679): per caller, all APIs together
    # 1,000/minute and 10,000/hour; /v1/service_bindings and /v1/service_instances 600/min and 6,000/h each;
    # offerings and plans 100/min and 1,000/h; creating instances 50/min. 429 carries Retry-After as HTTP date.
    RateLimit("service_manager", "*", 1000, 60.0, group="sm all/min"),
    RateLimit("service_manager", "*", 10_000, 3600.0, group="sm all/h"),
    RateLimit("service_manager", "* /v1/service_bindings*", 600, 60.0, group="sm bindings/min"),
    RateLimit("service_manager", "* /v1/service_bindings*", 6000, 3600.0, group="sm bindings/h"),
    RateLimit("service_manager", "* /v1/service_instances*", 600, 60.0, group="sm instances/min"),
    RateLimit("service_manager", "* /v1/service_instances*", 6000, 3600.0, group="sm instances/h"),
    RateLimit("service_manager", "POST /v1/service_instances", 50, 60.0, group="sm create instance/min"),
    RateLimit("service_manager", "* /v1/service_offerings*", 100, 60.0, group="sm offerings/min"),
    RateLimit("service_manager", "* /v1/service_offerings*", 1000, 3600.0, group="sm offerings/h"),
    RateLimit("service_manager", "* /v1/service_plans*", 100, 60.0, group="sm plans/min"),
    RateLimit("service_manager", "* /v1/service_plans*", 1000, 3600.0, group="sm plans/h"),
    # XSUAA (SAP-docs/btp-cloud-platform, "Rate Limiting", d203e2d): per subaccount, the token endpoint serves
    # up to 60 requests/s and answers 429 with Retry-After (seconds) once queueing would exceed ~5 s; the
    # authorization REST API 45/s and SCIM (/Users, /Groups) 3/s per subaccount.
    RateLimit("uaa", "POST /oauth/token", 60, 1.0, burst=300, by="tenant"),
    RateLimit("xsuaa", "* /sap/rest/*", 45, 1.0, by="tenant"),
    RateLimit("xsuaa", "* /Users*", 3, 1.0, by="tenant", group="xsuaa scim"),
    RateLimit("xsuaa", "* /Groups*", 3, 1.0, by="tenant", group="xsuaa scim"),
    # Cloud Foundry (docs.cloudfoundry.org, "Rate limit information returned by the Cloud Controller API"):
    # X-RateLimit-Limit/-Remaining/-Reset (epoch seconds) on every answer, 429 CF-RateLimitExceeded (10013).
    # SAP does not publish its operator setting; this is cloud_controller_ng's default general limit, 2,000
    # requests per user per hour.
    RateLimit("cf_v3", "*", 2000, 3600.0),
    # Usage data management (uas) reporting API (SAP Help, "Monitoring Usage Information Using APIs of the SAP
    # Usage Data Management Service"): 120 requests/s; the 429 comes from the router as an HTML page.
    RateLimit("resource_consumption", "*", 120, 1.0, by="tenant"),
)

_JSON = (b"content-type", b"application/json")
_CIS_APIS = frozenset({"accounts", "entitlements", "provisioning", "saas_provisioning", "events"})


class FaultInjector:
    def __init__(self, config: EmulatorConfig, clock: Clock, counters: Counters) -> None:
        self.clock = clock
        self.counters = counters
        self.rng = random.Random(config.seed * 7919 + 1)
        self._lock = threading.Lock()
        self.default = config.faults
        self.rules: list[FaultRule] = list(config.fault_rules)
        if config.audit_log_rate_limit:
            self.rules.insert(0, FaultRule("audit_log", AUDIT_LOG_RATE_LIMIT))
        self._cache: dict[str, tuple[FaultConfig, str] | None] = {}
        self._buckets: dict[tuple[str, str], list[float]] = {}
        factor = config.rate_limit_factor
        self.limits: tuple[RateLimit, ...] = (
            tuple(
                dataclasses.replace(r, limit=r.limit * factor, burst=r.burst * factor if r.burst is not None else None)
                for r in DOCUMENTED_RATE_LIMITS
            )
            if config.rate_limits
            else ()
        )
        self._limit_cache: dict[str, tuple[RateLimit, ...]] = {}
        self._limit_buckets: dict[tuple[str, str], list[float]] = {}

    def configure(self, faults: FaultConfig | None = None, *, route: str | None = None) -> None:
        """Set the default faults (``route=None``) or add/replace the rule for pattern ``route``.

        ``faults=None`` with a route removes that rule; with no route it clears everything.
        """
        with self._lock:
            if route is None:
                self.default = faults or FaultConfig()
                if faults is None:
                    self.rules.clear()
            else:
                self.rules = [r for r in self.rules if r.pattern != route]
                if faults is not None:
                    self.rules.append(FaultRule(route, faults))
            self._cache.clear()
            self._buckets.clear()

    def config_for(self, api: str, route_id: str) -> tuple[FaultConfig, str] | None:
        """The faults for a route and the scope of its token bucket (the rule's pattern)."""
        try:
            return self._cache[route_id]
        except KeyError:
            pass
        chosen, scope = self.default, "*"
        for rule in self.rules:
            if rule.matches(api, route_id):
                chosen, scope = rule.faults, rule.pattern
        result = (chosen, scope) if chosen.active else None
        self._cache[route_id] = result
        return result

    def limits_for(self, api: str, route_id: str) -> tuple[RateLimit, ...]:
        try:
            return self._limit_cache[route_id]
        except KeyError:
            pass
        method_path = route_id.partition(" ")[2]
        found = tuple(r for r in self.limits if r.api == api and fnmatch.fnmatchcase(method_path, r.route))
        self._limit_cache[route_id] = found
        return found

    def decide(
        self,
        api: str,
        route_id: str,
        caller: str,
        tenant: str = "-",
        bucket_key: str | None = None,
        *,
        injected: bool = True,
    ) -> Decision:
        """``caller`` (user or client) and ``tenant`` (identity zone) are who documented limits count;
        ``bucket_key`` (default ``caller``) is who a fault rule's token bucket counts. ``injected=False``
        applies the documented limits only (the token endpoint, which fault injection leaves alone)."""
        limited = self.limits_for(api, route_id) if self.limits else ()
        if not injected:
            return self._documented(api, limited, caller, tenant) if limited else _NOTHING
        if limited:
            refused = self._documented(api, limited, caller, tenant)
            if refused.status or refused.headers:
                if refused.status:
                    return refused
                extra = refused.headers
                decision = self._decide_faults(api, route_id, bucket_key or caller)
                if decision is _NOTHING:
                    return Decision(headers=extra)
                decision.headers = [*decision.headers, *extra] if not decision.status else decision.headers
                return decision
        return self._decide_faults(api, route_id, bucket_key or caller)

    def _documented(self, api: str, limits: tuple[RateLimit, ...], caller: str, tenant: str) -> Decision:
        now = self.clock.now()
        with self._lock:
            states = []
            for r in limits:
                who = tenant if r.by == "tenant" else caller
                capacity = float(r.burst if r.burst is not None else r.limit)
                rate = r.limit / r.per
                bucket = self._limit_buckets.get((r.key, who))
                if bucket is None:
                    if len(self._limit_buckets) > 50_000:
                        self._limit_buckets.clear()
                    bucket = self._limit_buckets[(r.key, who)] = [capacity, now]
                tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
                bucket[0], bucket[1] = tokens, now
                states.append((r, bucket, capacity, rate))
            short = [(r, (1.0 - b[0]) / rate) for r, b, _, rate in states if b[0] < 1.0]
            if not short:
                for _, bucket, _, _ in states:
                    bucket[0] -= 1.0
        if short:
            limit, wait = max(short, key=lambda item: item[1])
            self.counters.faults["rate limit"] += 1
            return _too_many_as_documented(api, limit, wait, now)
        if api == "cf_v3":
            r, bucket, capacity, rate = states[0]
            reset = now + (capacity - bucket[0]) / rate
            return Decision(
                headers=[
                    (b"x-ratelimit-limit", str(int(r.limit)).encode()),
                    (b"x-ratelimit-remaining", str(max(0, int(bucket[0]))).encode()),
                    (b"x-ratelimit-reset", str(math.ceil(reset)).encode()),
                ]
            )
        return _NOTHING

    def _decide_faults(self, api: str, route_id: str, tenant: str) -> Decision:
        found = self.config_for(api, route_id)
        if found is None:
            return _NOTHING
        cfg, scope = found
        rng = self.rng
        decision = Decision()
        if cfg.rate_limit is not None and cfg.rate_limit > 0:
            wait = self._take(scope, tenant, cfg)
            if wait > 0:
                return self._too_many(decision, wait, "bucket")
        if cfg.rate_429 and rng.random() < cfg.rate_429:
            return self._too_many(decision, cfg.retry_after, "429")
        if cfg.rate_5xx and rng.random() < cfg.rate_5xx:
            self.counters.faults["5xx"] += 1
            decision.status = cfg.status_5xx
            decision.message = "Injected server error"
            return decision
        if cfg.latency or cfg.jitter:
            decision.delay = cfg.latency + (rng.uniform(0.0, cfg.jitter) if cfg.jitter else 0.0)
            self.counters.faults["latency"] += 1
        if cfg.drop_rate and rng.random() < cfg.drop_rate:
            decision.drop = True
            self.counters.faults["drop"] += 1
        return decision

    def _too_many(self, decision: Decision, wait: float, kind: str) -> Decision:
        self.counters.faults[kind] += 1
        now = self.clock.now()
        decision.status = 429
        decision.message = "Rate limit exceeded"
        decision.headers = [
            (b"retry-after", str(max(1, math.ceil(wait))).encode()),
            (b"x-ratelimit-reset", str(int((now + wait) * 1000)).encode()),
        ]
        return decision

    def _take(self, scope: str, tenant: str, cfg: FaultConfig) -> float:
        """Take one token from the tenant's bucket; return 0 or the seconds until one is available."""
        rate = float(cfg.rate_limit or 0.0)
        burst = float(cfg.burst if cfg.burst is not None else max(1.0, rate))
        now = self.clock.now()
        with self._lock:
            bucket = self._buckets.get((scope, tenant))
            if bucket is None:
                if len(self._buckets) > 50_000:
                    self._buckets.clear()
                bucket = [burst, now]
                self._buckets[(scope, tenant)] = bucket
            tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / rate


def _too_many_as_documented(api: str, limit: RateLimit, wait: float, now: float) -> Decision:
    """The 429 each API sends when one of its documented limits is exceeded."""
    seconds = max(1, math.ceil(wait))
    if api in _CIS_APIS:
        return Decision(
            status=429,
            headers=[_JSON, (b"x-ratelimit-reset", str(int((now + wait) * 1000)).encode())],
            body=json.dumps(
                {
                    "error": {
                        "code": 11006,
                        "message": "Request rate limit exceeded",
                        "correlationID": str(uuid.uuid4()),
                        "details": [
                            {
                                "code": 11007,
                                "message": f"At most {limit.limit:g} requests per {limit.per:g} s to this endpoint",
                            }
                        ],
                    }
                }
            ).encode(),
            code=11006,
        )
    if api == "service_manager":
        when = email.utils.formatdate(now + seconds, usegmt=True)
        text = f"The allowed limit of {limit.limit:g} requests has been reached; retry after the Retry-After time."
        return Decision(
            status=429,
            headers=[_JSON, (b"retry-after", when.encode())],
            body=json.dumps({"description": text}).encode(),
        )
    if api == "resource_consumption":
        page = (
            b"<html><head><title>429 Too Many Requests</title></head><body><h1>429 Too Many Requests</h1></body></html>"
        )
        return Decision(status=429, headers=[(b"content-type", b"text/html")], body=page)
    headers = [(b"retry-after", str(seconds).encode())]
    if api == "cf_v3":
        headers += [
            (b"x-ratelimit-limit", str(int(limit.limit)).encode()),
            (b"x-ratelimit-remaining", b"0"),
            (b"x-ratelimit-reset", str(math.ceil(now + wait)).encode()),
        ]
        return Decision(status=429, headers=headers, message="Rate Limit Exceeded", code="CF-RateLimitExceeded")
    if api == "uaa":
        return Decision(status=429, headers=headers, message="Too many requests", code="too_many_requests")
    return Decision(status=429, headers=headers, message="Rate limit exceeded")
