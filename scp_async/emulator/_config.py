"""Options of the emulator: seed sizes, credentials, token lifetime and fault injection."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ._clock import Clock, SystemClock

#: Every API the emulator serves, with the path prefix it is mounted under (its "host").
API_PREFIXES: dict[str, str] = {
    "accounts": "/accounts",
    "entitlements": "/entitlements",
    "provisioning": "/provisioning",
    "saas_provisioning": "/saas_provisioning",
    "service_manager": "/service_manager",
    "events": "/events",
    "resource_consumption": "/resource_consumption",
    "audit_log": "/audit_log",
    "cf_v3": "/cf",
    "multiapps": "/multiapps",
    "xsuaa": "/xsuaa",
}
#: Where the UAA / XSUAA token server also answers on the API origin (kept for clients written before each
#: identity zone got its own origin; keys point at the zone's origin).
UAA_PREFIX = "/uaa"
#: In-process (no sockets), each identity zone's UAA is the host ``<zone>.authentication.<API host>``, the way
#: XSUAA names them (``<subdomain>.authentication.<region>.hana.ondemand.com``).
UAA_HOST_LABEL = ".authentication."
#: The root URL of an emulator that is not serving (reached through ``httpx.ASGITransport``).
IN_PROCESS_ROOT = "http://btp-emulator.local"


def default_specs_dir() -> Path:
    """``$SCP_ASYNC_SPECS_DIR``, else ``specs/`` of the source checkout this package lives in, else the
    copy an installed wheel carries (``scp_async/emulator/_specs``)."""
    env = os.environ.get("SCP_ASYNC_SPECS_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "specs"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "_specs"


@dataclass(frozen=True)
class FaultConfig:
    """What to inject into the requests a rule applies to. All rates are probabilities in [0, 1].

    ``rate_limit`` (requests per second) with ``burst`` turns on a token bucket per tenant (the token's
    identity zone, else its client id); an empty bucket answers 429. ``drop_rate`` closes the connection
    after part of the response has been sent (a real server drops the TCP connection; in-process the ASGI
    app raises :class:`ConnectionDropped`).
    """

    latency: float = 0.0
    jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float = 1.0
    rate_5xx: float = 0.0
    status_5xx: int = 503
    drop_rate: float = 0.0
    rate_limit: float | None = None
    burst: int | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.latency
            or self.jitter
            or self.rate_429
            or self.rate_5xx
            or self.drop_rate
            or self.rate_limit is not None
        )

    def with_changes(self, **changes: object) -> FaultConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


#: The audit log retrieval API's documented limit on EU10/US10: 8 requests/s with bursts to 40.
AUDIT_LOG_RATE_LIMIT = FaultConfig(rate_limit=8.0, burst=40)


@dataclass(frozen=True)
class FaultRule:
    """A fault configuration for the routes matching ``pattern``.

    ``pattern`` is an API name (``"audit_log"``), or ``"<api> <METHOD> <path template>"`` with shell-style
    wildcards, e.g. ``"cf_v3 GET /v3/apps*"`` or ``"* POST *"``. The last matching rule wins.
    """

    pattern: str
    faults: FaultConfig

    def matches(self, api: str, route_id: str) -> bool:
        if self.pattern in {api, "*"}:
            return True
        return fnmatch.fnmatchcase(route_id, self.pattern)


@dataclass(frozen=True)
class Credentials:
    """One OAuth client of the emulator's token server. ``identityzone`` is the subdomain of its identity zone
    (each zone has its own UAA origin)."""

    client_id: str
    client_secret: str
    xsappname: str
    identityzone: str = "emulator"


def zone_id(seed: int, identityzone: str) -> str:
    """The GUID of an identity zone (the subaccount id in its tokens and keys), stable for a seed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"scp-async-emulator/{seed}/zone/{identityzone}"))


def _default_clients() -> dict[str, Credentials]:
    return {
        "cis": Credentials("sb-cis-emulator!b1", "cis-emulator-secret", "cis-emulator!b1"),
        "audit_log": Credentials("sb-auditlog-emulator!b2", "auditlog-emulator-secret", "auditlog-management!b2"),
        "service_manager": Credentials("sb-sm-emulator!b3", "sm-emulator-secret", "service-manager!b3"),
        "resource_consumption": Credentials("sb-uas-emulator!b4", "uas-emulator-secret", "uas!b4"),
        "xsuaa": Credentials("sb-xsuaa-emulator!b5", "xsuaa-emulator-secret", "xsuaa!b5"),
        "cf": Credentials("cf", "", "cf"),
    }


@dataclass
class EmulatorConfig:
    """Everything that shapes one emulator instance. The defaults give a small but realistic landscape."""

    subaccounts: int = 50
    seed: int = 42
    regions: tuple[str, ...] = ("eu10", "us10", "ap21", "eu20", "jp10")
    directories: int = 5
    audit_log_records: int | None = None  # default: max(2_200, 20 per subaccount)
    events_per_subaccount: int = 4
    token_ttl: float = 43_199.0
    refresh_token_ttl: float = 30 * 86_400.0
    #: Seconds a created/deleted resource stays in its transitional state (STARTED, DELETING, PROCESSING...).
    transition_delay: float = 2.0
    clock: Clock = field(default_factory=SystemClock)
    specs_dir: Path | None = None
    clients: dict[str, Credentials] = field(default_factory=_default_clients)
    users: dict[str, str] = field(default_factory=lambda: {"admin@example.com": "emulator-password"})
    #: Faults for every route, then the rules in order (the last matching rule wins).
    faults: FaultConfig = field(default_factory=FaultConfig)
    fault_rules: list[FaultRule] = field(default_factory=list)
    #: Apply the audit log's documented token bucket (8 req/s, burst 40) to ``audit_log``.
    audit_log_rate_limit: bool = False
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 32 << 20
    csrf_protection: bool = True
    token_format: str = "jwt"  # or "opaque"
    #: Enforce the rate limits SAP documents per API (``_faults.DOCUMENTED_RATE_LIMITS``), each limit
    #: multiplied by ``rate_limit_factor`` (``make demo`` runs with generous numbers).
    rate_limits: bool = False
    rate_limit_factor: float = 1.0
    #: Serve HTTPS with a self-signed certificate (``@sap/xssec`` and ``sap-xssec`` fetch keys over https only).
    tls: bool = False

    def resolved_specs_dir(self) -> Path:
        return self.specs_dir if self.specs_dir is not None else default_specs_dir()
