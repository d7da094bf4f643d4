"""Fault injection (latency, 429, 5xx, dropped connections, token buckets) and the counters tests read."""

from __future__ import annotations

import math
import random
import threading
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
    """What to do with one request."""

    status: int = 0  # 0 = serve normally
    delay: float = 0.0
    drop: bool = False
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    message: str = ""


_NOTHING = Decision()


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

    def decide(self, api: str, route_id: str, tenant: str) -> Decision:
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
