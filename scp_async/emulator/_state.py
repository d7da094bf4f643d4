"""The emulator's in-memory landscape and its deterministic seed.

Everything is generated from ``EmulatorConfig.seed`` with one ``random.Random``: identical options give
identical ids, names and relative timestamps. Timestamps are anchored at midnight UTC of the clock's current
day, so that "the last 30 days" (the audit log's default window) always holds the seeded records.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import random
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from ._clock import Clock
from ._config import EmulatorConfig

DAY = 86_400.0
MAX_EVENTS = 200_000


def _trim(store: dict[str, Any], limit: int) -> None:
    """Drop the oldest half of a dict that outgrew ``limit`` (dicts keep insertion order)."""
    if len(store) > limit:
        for key in list(store)[: limit // 2]:
            del store[key]


SERVICES: list[tuple[str, str, str, list[tuple[str, str, int | None]]]] = [
    # (name, display name, business category, [(plan, category, amount or None = unlimited)])
    ("cloudfoundry", "Cloud Foundry Runtime", "FOUNDATION_CROSS_SERVICES", [("MEMORY", "PLATFORM", 8)]),
    ("kymaruntime", "Kyma Runtime", "FOUNDATION_CROSS_SERVICES", [("aws", "ENVIRONMENT", 1)]),
    ("xsuaa", "Authorization and Trust Management", "FOUNDATION_CROSS_SERVICES", [("application", "SERVICE", None)]),
    ("destination", "Destination Service", "INTEGRATION", [("lite", "SERVICE", None)]),
    ("auditlog-management", "Audit Log Management", "FOUNDATION_CROSS_SERVICES", [("default", "SERVICE", None)]),
    ("hana-cloud", "SAP HANA Cloud", "DATA_AND_ANALYTICS", [("hana", "ELASTIC_SERVICE", 2)]),
    ("connectivity", "Connectivity Service", "INTEGRATION", [("lite", "SERVICE", None)]),
    (
        "html5-apps-repo",
        "HTML5 Application Repository",
        "APPLICATION_DEVELOPMENT_AND_AUTOMATION",
        [("app-host", "SERVICE", 5)],
    ),
]

SAAS_APPS: list[tuple[str, str, str, str]] = [
    # (appName, displayName, planName, category)
    ("business-app-studio", "Business Application Studio", "standard-edition", "Application Development"),
    ("launchpad", "Launchpad Service", "standard", "Foundation"),
    ("auditlog-viewer", "Audit Log Viewer", "free", "Security"),
    ("cloud-alm", "Cloud ALM", "standard", "Operations"),
    ("integration-suite", "Integration Suite", "enterprise_agreement", "Integration"),
    ("workzone", "Work Zone", "standard", "User Experience"),
]

AUDIT_CATEGORIES = ("audit.security-events", "audit.configuration", "audit.data-access", "audit.data-modification")
MTA_STATES = ("FINISHED", "FINISHED", "FINISHED", "ERROR", "ABORTED", "ACTION_REQUIRED", "RUNNING")


@functools.lru_cache(maxsize=65536)  # every listing of a CF app derives its droplet's id again
def derived_id(*parts: str) -> str:
    """A stable id for a resource derived from others (drawn from no generator, so seeding more of them
    leaves every other seeded id as it was)."""
    return str(uuid.UUID(bytes=hashlib.sha256("/".join(parts).encode()).digest()[:16], version=4))


def plan_guid(offering: str, plan: str) -> str:
    """The CF service plan guid of ``offering``/``plan`` in the seeded marketplace."""
    return str(uuid.UUID(bytes=hashlib.md5(f"{offering}/{plan}".encode()).digest(), version=4))


def iso(ts: float, millis: bool = False) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def zoned(ts: float, zone: str = "UTC") -> str:
    """``java.time``'s ``ISO_ZONED_DATE_TIME`` as SAP's Java services write it: ``2017-11-24T13:35:45.831Z[UTC]``."""
    return f"{iso(ts, True)}[{zone}]"


def ms(ts: float) -> int:
    return int(ts * 1000)


class BySpace(dict[str, dict[str, Any]]):
    """CF resources by GUID that also know which are in a space: CF lists them space by space (an
    inventory asks for every space's apps), and a pass over every app of a large landscape per page was
    the emulator's largest cost. The index is made on the first lookup after any change to the dict
    (a resource never moves to another space)."""

    __slots__ = ("_by_space",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_space: dict[str, list[dict[str, Any]]] | None = None

    def in_spaces(self, spaces: Iterable[str]) -> list[dict[str, Any]]:
        index = self._by_space
        if index is None:
            index = {}
            for item in self.values():
                index.setdefault(item["space"], []).append(item)
            self._by_space = index
        return [item for space in spaces for item in index.get(space, ())]

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self._by_space = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._by_space = None
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self._by_space = None
        return super().pop(*args)

    def popitem(self) -> tuple[str, dict[str, Any]]:
        self._by_space = None
        return super().popitem()

    def clear(self) -> None:
        self._by_space = None
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._by_space = None
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._by_space = None
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> BySpace:  # type: ignore[override,misc]  # dict's |= skips update()
        self._by_space = None
        return super().__ior__(other)


@dataclass
class Transition:
    """A resource in a transitional state until ``until``; then ``final`` (or removal when None)."""

    until: float
    final: str | None


@dataclass
class Job:
    id: str
    kind: str
    created: float
    until: float
    description: str
    resource: str | None = None
    failed: bool = False
    params: dict[str, Any] = field(default_factory=dict)


class State:
    """All resources of all emulated APIs. Mutations happen under ``lock``."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(config.seed)
        self.anchor = (clock.now() // DAY) * DAY  # midnight UTC today
        self.global_account: dict[str, Any] = {}
        self.directories: dict[str, dict[str, Any]] = {}
        self.subaccounts: dict[str, dict[str, Any]] = {}
        self.transitions: dict[str, Transition] = {}
        self.jobs: dict[str, Job] = {}
        self.entitlements: dict[str, dict[tuple[str, str], float]] = {}  # subaccount -> (svc, plan) -> amount
        self.environments: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[tuple[str, str], dict[str, Any]] = {}  # (subaccount, app) -> subscription
        self.events: list[dict[str, Any]] = []
        self.audit_records: AuditLog
        self.audit_times: Sequence[float]
        self.sm_offerings: dict[str, dict[str, Any]] = {}
        self.sm_plans: dict[str, dict[str, Any]] = {}
        self.sm_instances: dict[str, dict[str, Any]] = {}
        self.sm_bindings: dict[str, dict[str, Any]] = {}
        self.sm_platforms: dict[str, dict[str, Any]] = {}
        self.sm_operations: dict[str, dict[str, Any]] = {}
        self.cf_orgs: dict[str, dict[str, Any]] = {}
        self.cf_spaces: dict[str, dict[str, Any]] = {}
        self.cf_apps = BySpace()
        self.cf_service_instances: dict[str, dict[str, Any]] = {}
        self.cf_jobs: dict[str, Job] = {}
        self.cf_domains: dict[str, dict[str, Any]] = {}
        self.cf_routes: dict[str, dict[str, Any]] = {}
        self.cf_processes: dict[str, dict[str, Any]] = {}
        self.cf_tasks: dict[str, dict[str, Any]] = {}
        self.cf_offerings: dict[str, dict[str, Any]] = {}
        self.cf_plans: dict[str, dict[str, Any]] = {}
        self.cf_credential_bindings: dict[str, dict[str, Any]] = {}
        self.cf_route_bindings: dict[str, dict[str, Any]] = {}
        self.cf_stacks: dict[str, dict[str, Any]] = {}
        self.cf_security_groups: dict[str, dict[str, Any]] = {}
        self.mta_operations: dict[str, dict[str, Any]] = {}  # id -> operation
        self.mtas: dict[str, list[dict[str, Any]]] = {}  # space -> mtas
        self.mta_files: dict[str, list[dict[str, Any]]] = {}  # space -> files
        self.labels: dict[str, dict[str, list[str]]] = {}
        self._event_id = 1_000_000
        self.home_subaccount = ""
        self._seed()

    # -- helpers ------------------------------------------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> float:
        return self.clock.now()

    def past(self, max_days: float) -> float:
        return self.anchor - self.rng.uniform(1.0, max_days) * DAY

    def add_event(self, event_type: str, entity_id: str, entity_type: str, ts: float, details: dict[str, Any]) -> None:
        self._event_id += 1
        if len(self.events) >= MAX_EVENTS:  # memory stays flat under sustained writes: drop the oldest
            del self.events[: MAX_EVENTS // 4]
        self.events.append(
            {
                "id": self._event_id,
                "actionTime": ms(ts),
                "creationTime": ms(ts) + 250,
                "details": details,
                "entityId": entity_id,
                "entityType": entity_type,
                "eventOrigin": "accounts-service" if entity_type != "EnvironmentInstance" else "provisioning-service",
                "eventType": event_type,
                "globalAccountGUID": self.global_account["guid"],
            }
        )

    def new_job(self, kind: str, description: str, resource: str | None = None, **params: Any) -> Job:
        now = self.now()
        job = Job(self.new_id(), kind, now, now + self.config.transition_delay, description, resource, params=params)
        self.jobs[job.id] = job
        _trim(self.jobs, 20_000)
        return job

    def settle(self) -> None:
        """Apply every transition whose time has come (called before reads)."""
        if not self.transitions:
            return
        now = self.now()
        due = [k for k, t in self.transitions.items() if t.until <= now]
        if not due:
            return
        with self.lock:
            for key in due:
                t = self.transitions.pop(key, None)
                if t is None:
                    continue
                self._apply_transition(key, t)

    def _apply_transition(self, key: str, t: Transition) -> None:
        for store, state_key in (
            (self.subaccounts, "state"),
            (self.directories, "entityState"),
            (self.environments, "state"),
        ):
            obj = store.get(key)
            if obj is not None:
                if t.final is None:
                    del store[key]
                    if store is self.subaccounts:
                        self.entitlements.pop(key, None)
                else:
                    obj[state_key] = t.final
                    obj["stateMessage"] = f"{t.final}"
                    if "status" in obj:  # environment instances: the broker operation's own status
                        obj["status"] = "Processed"
                    obj["modifiedDate"] = ms(t.until)
                return
        for sub_key, sub in list(self.subscriptions.items()):
            if sub["subscriptionGUID"] == key:
                if t.final is None:
                    del self.subscriptions[sub_key]
                else:
                    sub["state"] = t.final
                return

    # -- the seed -----------------------------------------------------------------------------------
    def _seed(self) -> None:
        cfg = self.config
        rng = self.rng
        ga_guid = self.new_id()
        created = self.anchor - 900 * DAY
        self.global_account = {
            "guid": ga_guid,
            "displayName": "Emulated Global Account",
            "description": "Global account of the scp-async BTP emulator",
            "subdomain": "emulated-ga-" + ga_guid[:8],
            "commercialModel": "Subscription",
            "consumptionBased": True,
            "licenseType": "CUSTOMER",
            "geoAccess": "STANDARD",
            "entityState": "OK",
            "stateMessage": "Global account is active",
            "contractStatus": "ACTIVE",
            "origin": "ORDER",
            "useFor": "Production",
            "createdDate": ms(created),
            "modifiedDate": ms(created + 10 * DAY),
            "costCenter": "101",
        }
        self.add_event("GlobalAccount_Creation", ga_guid, "GlobalAccount", created, {"displayName": "Emulated"})
        self._seed_cf_marketplace(iso(created))
        self._seed_cf_stacks(iso(created))
        self._seed_cf_security_groups(iso(created))
        dir_ids: list[str] = []
        for d in range(cfg.directories):
            guid = self.new_id()
            ts = self.past(600)
            self.directories[guid] = {
                "guid": guid,
                "globalAccountGUID": ga_guid,
                "parentGUID": ga_guid,
                "parentGuid": ga_guid,
                "parentType": "ROOT",
                "directoryType": "FOLDER",
                "displayName": f"Directory {d + 1:02d}",
                "description": f"Emulated directory {d + 1}",
                "directoryFeatures": ["DEFAULT", "ENTITLEMENTS", "AUTHORIZATIONS"] if d % 2 == 0 else ["DEFAULT"],
                "entityState": "OK",
                "stateMessage": "Directory created.",
                "contractStatus": "ACTIVE",
                "createdBy": "admin@example.com",
                "createdDate": ms(ts),
                "modifiedDate": ms(ts),
                "subdomain": f"dir-{d + 1:02d}-{guid[:8]}",
                "labels": {"costcenter": [f"CC-{100 + d}"]},
                "customProperties": [{"accountGUID": guid, "key": "owner", "value": f"team-{d % 4 + 1}"}],
            }
            dir_ids.append(guid)
        n_records = cfg.audit_log_records if cfg.audit_log_records is not None else max(2_200, 20 * cfg.subaccounts)
        stages = ("dev", "test", "prod")
        service_items = [(s, p, amt) for s, _dn, _cat, plans in SERVICES for p, _c, amt in plans]
        for i in range(cfg.subaccounts):
            guid = self.new_id()
            region = cfg.regions[i % len(cfg.regions)]
            parent = dir_ids[i % len(dir_ids)] if dir_ids and i % 3 != 0 else ga_guid
            ts = self.past(500)
            stage = stages[i % 3]
            sub: dict[str, Any] = {
                "guid": guid,
                "technicalName": guid,
                "displayName": f"Subaccount {i + 1:04d} {region} {stage}",
                "description": f"Emulated {stage} subaccount in {region}",
                "globalAccountGUID": ga_guid,
                "parentGUID": parent,
                "parentType": "ROOT" if parent == ga_guid else "FOLDER",
                "region": region,
                "subdomain": f"sub-{i + 1:04d}-{guid[:8]}",
                "betaEnabled": i % 7 == 0,
                "usedForProduction": "USED_FOR_PRODUCTION" if stage == "prod" else "NOT_USED_FOR_PRODUCTION",
                "state": "OK",
                "stateMessage": "Subaccount created.",
                "createdBy": "admin@example.com",
                "createdDate": ms(ts),
                "modifiedDate": ms(ts + rng.uniform(0, 30) * DAY),
                "lastModifiedBy": "admin@example.com",
                "contractStatus": "ACTIVE",
                "labels": {"stage": [stage], "team": [f"team-{i % 4 + 1}"]},
            }
            self.subaccounts[guid] = sub
            if i == 0:
                self.home_subaccount = guid
            self.add_event("Subaccount_Creation", guid, "Subaccount", ts, {"region": region})
            ents: dict[tuple[str, str], float] = {}
            for svc, plan, amount in service_items:
                if rng.random() < 0.6 or svc in ("cloudfoundry", "xsuaa"):
                    ents[(svc, plan)] = float(amount) if amount is not None else 1.0
            self.entitlements[guid] = ents
            if ("cloudfoundry", "MEMORY") in ents and i % 5 != 4:
                self._seed_cf_environment(sub, ts)
            for app, _dn, plan, _cat in SAAS_APPS:
                if rng.random() < 0.35:
                    self._add_subscription(guid, app, plan, ts + DAY, "SUBSCRIBED")
            for k in range(cfg.events_per_subaccount - 1):
                self.add_event(
                    ("Subaccount_Update", "SubaccountEntitlements_Update", "SubaccountAppSubscription_Creation")[k % 3],
                    guid,
                    "Subaccount",
                    self.past(200),
                    {"change": k},
                )
        self.events.sort(key=lambda e: (e["actionTime"], e["id"]))
        for group in self.cf_security_groups.values():  # each also bound to the first space by name
            group["running_spaces"], group["staging_spaces"] = list(self.cf_spaces)[:1], list(self.cf_spaces)[:1]
        self._seed_service_manager()
        self._seed_audit_log(n_records)

    def _seed_cf_environment(self, sub: dict[str, Any], ts: float) -> None:
        rng = self.rng
        org_guid = self.new_id()
        env_id = self.new_id()
        region = sub["region"]
        org_name = sub["subdomain"].replace("-", "_")[:40] + "_org"
        self.environments[env_id] = {
            "id": env_id,
            "name": org_name,
            "brokerId": "emulated-cf-broker",
            "globalAccountGUID": sub["globalAccountGUID"],
            "subaccountGUID": sub["guid"],
            "tenantId": sub["guid"],
            "serviceName": "cloudfoundry",
            "planName": "standard",
            "planId": "fc5ed9d0-0000-4b1c-9c2b-000000000001",
            "serviceId": "fa31b750-0000-4a5e-b0a7-000000000001",
            "environmentType": "cloudfoundry",
            "landscapeLabel": f"cf-{region}",
            "platformId": org_guid,
            "state": "OK",
            "stateMessage": "Environment instance created.",
            "type": "Provision",
            "status": "Processed",
            "operation": "provision",
            "createdDate": ms(ts + 3600),
            "modifiedDate": ms(ts + 3600),
            "labels": f'{{"Org Name:":"{org_name}","Org ID:":"{org_guid}"}}',
            "parameters": f'{{"instance_name":"{org_name}"}}',
            "customLabels": {},
        }
        created = iso(ts + 3600)
        self.cf_orgs[org_guid] = {
            "guid": org_guid,
            "name": org_name,
            "suspended": False,
            "created_at": created,
            "updated_at": created,
            "labels": {"subaccount": sub["guid"][:8]},
        }
        for space_name in ("dev", "prod"):
            space_guid = self.new_id()
            self.cf_spaces[space_guid] = {
                "guid": space_guid,
                "name": space_name,
                "org": org_guid,
                "created_at": created,
                "updated_at": created,
            }
            srv_app: dict[str, Any] | None = None
            for a in range(3):
                app_guid = self.new_id()
                app_ts = iso(ts + 7200 + a * 60)
                self.cf_apps[app_guid] = {
                    "guid": app_guid,
                    "name": ("approuter", "srv", "db-deployer")[a] + f"-{space_name}",
                    "state": "STOPPED" if a == 2 else "STARTED",
                    "space": space_guid,
                    "created_at": app_ts,
                    "updated_at": app_ts,
                    "buildpacks": [("nodejs_buildpack", "nodejs_buildpack", "nodejs_buildpack")[a]],
                    "env": {"NODE_ENV": "production"} if a < 2 else {},
                }
                self._seed_cf_app_parts(self.cf_apps[app_guid], org_name, region)
                if a == 1:
                    srv_app = self.cf_apps[app_guid]
            for s, (offering, plan) in enumerate((("xsuaa", "application"), ("destination", "lite"))):
                si_guid = self.new_id()
                self.cf_service_instances[si_guid] = {
                    "guid": si_guid,
                    "name": f"{offering}-{space_name}-{s}",
                    "type": "managed",
                    "space": space_guid,
                    "plan": plan,
                    "offering": offering,
                    "created_at": created,
                    "updated_at": created,
                    "state": "succeeded",
                    "op_type": "create",
                    "tags": [offering],
                }
                self._seed_cf_bindings(self.cf_service_instances[si_guid], srv_app)
            mtas = []
            if rng.random() < 0.8:
                mtas.append(
                    {
                        "metadata": {
                            "id": "com.example.bookshop",
                            "version": f"1.{rng.randint(0, 9)}.0",
                            "namespace": None,
                        },
                        "modules": [
                            {
                                "moduleName": m,
                                "appName": f"{m}-{space_name}",
                                "createdOn": created,
                                "updatedOn": created,
                                "providedDendencyNames": [],
                                "services": [],
                                "uris": [],
                            }
                            for m in ("approuter", "srv", "db-deployer")
                        ],
                        "services": [f"xsuaa-{space_name}-0", f"destination-{space_name}-1"],
                    }
                )
            self.mtas[space_guid] = mtas
            self.mta_files[space_guid] = []
            for k in range(rng.randint(1, 4)):
                op_id = self.new_id()
                started = ts + 8000 + k * 600
                state = MTA_STATES[rng.randrange(len(MTA_STATES))]
                self.mta_operations[op_id] = {
                    "processId": op_id,
                    "processType": ("DEPLOY", "BLUE_GREEN_DEPLOY", "UNDEPLOY")[k % 3],
                    "startedAt": zoned(started),
                    "endedAt": zoned(started + 240) if state in ("FINISHED", "ERROR", "ABORTED") else None,
                    "spaceId": space_guid,
                    "mtaId": "com.example.bookshop",
                    "namespace": None,
                    "user": "admin@example.com",
                    "acquiredLock": state in ("RUNNING", "ACTION_REQUIRED"),
                    "state": state,
                    "errorType": "CONTENT" if state == "ERROR" else None,
                    "messages": [],
                    "parameters": {},
                }

    def _seed_cf_stacks(self, created: str) -> None:
        for name, state, default in (("cflinuxfs4", "ACTIVE", True), ("cflinuxfs3", "DEPRECATED", False)):
            guid = derived_id("cf-stack", name)
            self.cf_stacks[guid] = {
                "guid": guid,
                "name": name,
                "description": f"Cloud Foundry Linux-based filesystem ({name})",
                "state": state,
                "state_reason": None if state == "ACTIVE" else "Use cflinuxfs4",
                "default": default,
                "created_at": created,
                "updated_at": created,
            }

    def _seed_cf_security_groups(self, created: str) -> None:
        """The platform's default groups: public networks for running apps, DNS for staging and running."""
        for name, running, staging, rules in (
            ("public_networks", True, False, [{"protocol": "tcp", "destination": "0.0.0.0/0", "ports": "443,80"}]),
            ("dns", True, True, [{"protocol": "udp", "destination": "0.0.0.0/0", "ports": "53"}]),
            (
                "internal",
                False,
                False,
                [
                    {"protocol": "tcp", "destination": "10.0.0.0/8", "ports": "8080"},
                    {"protocol": "icmp", "destination": "10.0.0.0/8", "type": 8, "code": 0, "description": "Ping"},
                ],
            ),
        ):
            guid = derived_id("cf-security-group", name)
            self.cf_security_groups[guid] = {
                "guid": guid,
                "name": name,
                "globally_enabled": {"running": running, "staging": staging},
                "rules": rules,
                "running_spaces": [],
                "staging_spaces": [],
                "created_at": created,
                "updated_at": created,
            }

    def _seed_cf_marketplace(self, created: str) -> None:
        """CF service offerings and plans: the services of the global account's catalogue."""
        for svc, display, _cat, plans in SERVICES:
            off_guid = derived_id("cf-offering", svc)
            self.cf_offerings[off_guid] = {
                "guid": off_guid,
                "name": svc,
                "description": display,
                "tags": [svc],
                "created_at": created,
                "updated_at": created,
            }
            for plan, _c, _a in plans:
                guid = plan_guid(svc, plan)
                self.cf_plans[guid] = {
                    "guid": guid,
                    "name": plan,
                    "description": f"{display} {plan}",
                    "offering": off_guid,
                    "free": plan in ("lite", "application", "default"),
                    "created_at": created,
                    "updated_at": created,
                }

    def cf_shared_domain(self, region: str) -> dict[str, Any]:
        """The shared apps domain of a CF region (created the first time it is needed)."""
        guid = derived_id("cf-domain", region)
        domain = self.cf_domains.get(guid)
        if domain is None:
            created = iso(self.anchor - 900 * DAY)
            domain = {
                "guid": guid,
                "name": f"cfapps.{region}.hana.ondemand.com",
                "internal": False,
                "org": None,
                "created_at": created,
                "updated_at": created,
            }
            self.cf_domains[guid] = domain
        return domain

    def _seed_cf_app_parts(self, app: dict[str, Any], org_name: str, region: str) -> None:
        """An app's web process, its route on the region's shared domain and (for deployers) a task."""
        g, ts = app["guid"], app["created_at"]
        web = derived_id(g, "process", "web")
        self.cf_processes[web] = {
            "guid": web,
            "type": "web",
            "app": g,
            "command": "npm start",
            "instances": 1 if app["state"] == "STARTED" else 0,
            "memory_in_mb": 256,
            "disk_in_mb": 1024,
            "created_at": ts,
            "updated_at": ts,
        }
        domain = self.cf_shared_domain(region)
        route = derived_id(g, "route")
        host = f"{app['name']}-{org_name}".replace("_", "-")[:63]
        self.cf_routes[route] = {
            "guid": route,
            "host": host,
            "path": "",
            "domain": domain["guid"],
            "space": app["space"],
            "destinations": [{"guid": derived_id(route, g), "app": g, "process": "web", "port": 8080}],
            "created_at": ts,
            "updated_at": ts,
        }
        if app["name"].startswith("db-deployer"):
            task = derived_id(g, "task", "1")
            self.cf_tasks[task] = {
                "guid": task,
                "app": g,
                "sequence_id": 1,
                "name": "deploy",
                "command": "npm run deploy",
                "state": "SUCCEEDED",
                "memory_in_mb": 256,
                "disk_in_mb": 1024,
                "created_at": ts,
                "updated_at": ts,
            }

    def _seed_cf_bindings(self, si: dict[str, Any], app: dict[str, Any] | None) -> None:
        """A managed instance is bound to its space's ``srv`` app (``app``) and has one service key."""
        for kind, name, app_guid in (
            ("app", si["name"], app["guid"] if app else None),
            ("key", f"{si['name']}-key", None),
        ):
            if kind == "app" and app_guid is None:
                continue
            guid = derived_id(si["guid"], "binding", kind)
            self.cf_credential_bindings[guid] = {
                "guid": guid,
                "name": name,
                "type": kind,
                "app": app_guid,
                "service_instance": si["guid"],
                "credentials": {
                    "url": f"https://{si['offering']}.example.com",
                    "clientid": f"sb-{guid[:8]}!b1|{si['offering']}!b2",
                    "clientsecret": derived_id(guid, "secret"),
                },
                "created_at": si["created_at"],
                "updated_at": si["updated_at"],
            }

    def _add_subscription(self, subaccount: str, app: str, plan: str, ts: float, state: str) -> dict[str, Any]:
        sub = self.subaccounts[subaccount]
        guid = self.new_id()
        record = {
            "subscriptionGUID": guid,
            "appName": app,
            "planName": plan,
            "state": state,
            "subaccountId": subaccount,
            "tenantId": subaccount,
            "globalAccountId": sub["globalAccountGUID"],
            "subdomain": sub["subdomain"],
            "url": f"https://{sub['subdomain']}.{app}.example.com",
            "createdDate": ms(ts),
            "modifiedDate": ms(ts),
            "labels": {},
            "parameters": {},
        }
        self.subscriptions[(subaccount, app)] = record
        return record

    def _seed_service_manager(self) -> None:
        ts = self.anchor - 400 * DAY
        for svc, display, _cat, plans in SERVICES:
            off_id = self.new_id()
            self.sm_offerings[off_id] = {
                "id": off_id,
                "ready": True,
                "name": svc,
                "description": display,
                "bindable": True,
                "instances_retrievable": True,
                "bindings_retrievable": True,
                "plan_updateable": False,
                "allow_context_updates": False,
                "tags": [svc, _cat.lower()],
                "metadata": {
                    "displayName": display,
                    "longDescription": f"{display} (emulated)",
                    "documentationUrl": "https://help.sap.com/docs/btp",
                    "supportUrl": "https://support.sap.com",
                    "imageUrl": "",
                    "serviceInventoryId": f"SERVICE-{len(self.sm_offerings) + 1}",
                    "createInstanceDocumentationUrl": "https://help.sap.com/docs/btp",
                    "updateInstanceDocumentationUrl": "https://help.sap.com/docs/btp",
                    "createBindingDocumentationUrl": "https://help.sap.com/docs/btp",
                },
                "broker_id": "emulated-broker",
                "catalog_id": off_id,
                "catalog_name": svc,
                "created_at": iso(ts, True),
                "updated_at": iso(ts, True),
            }
            for plan, _c, _a in plans:
                plan_id = self.new_id()
                self.sm_plans[plan_id] = {
                    "id": plan_id,
                    "ready": True,
                    "name": plan,
                    "description": f"{display} {plan}",
                    "catalog_id": plan_id,
                    "catalog_name": plan,
                    "free": plan in ("lite", "application", "default"),
                    "service_offering_id": off_id,
                    "service_offering_name": svc,
                    "data_center": "cf-eu10",
                    "metadata": {"displayName": plan},
                    "created_at": iso(ts, True),
                    "updated_at": iso(ts, True),
                    "labels": {},
                }
        plan_ids = sorted(self.sm_plans)
        for i, sub_guid in enumerate(self.subaccounts):
            if i >= 200:  # a few hundred instances are plenty for paging
                break
            for k in range(3):
                inst_id = self.new_id()
                plan_id = plan_ids[(i + k) % len(plan_ids)]
                created = iso(self.past(300), True)
                name = f"instance-{i + 1:04d}-{k}"
                self.sm_instances[inst_id] = {
                    "id": inst_id,
                    "ready": True,
                    "last_operation": self.sm_last_operation(inst_id, "service_instances", created),
                    "name": name,
                    "service_plan_id": plan_id,
                    "platform_id": "service-manager",
                    "context": self.sm_context(sub_guid, name),
                    "usable": True,
                    "subaccount_id": sub_guid,
                    "protected": None,
                    "created_by": "admin@example.com",
                    "created_at": created,
                    "updated_at": created,
                    "labels": {"subaccount_id": [sub_guid]},
                }
                if k == 0:
                    bid = self.new_id()
                    self.sm_bindings[bid] = {
                        "id": bid,
                        "ready": True,
                        "last_operation": self.sm_last_operation(bid, "service_bindings", created),
                        "name": f"binding-{i + 1:04d}",
                        "service_instance_id": inst_id,
                        "service_instance_name": name,
                        "context": self.sm_binding_context(sub_guid, name, inst_id),
                        "credentials": {"url": "https://example.com", "clientid": f"sb-{bid[:8]}"},
                        "subaccount_id": sub_guid,
                        "created_by": "admin@example.com",
                        "created_at": created,
                        "updated_at": created,
                        "labels": {"subaccount_id": [sub_guid]},
                    }
        pid = self.new_id()
        self.sm_platforms[pid] = {
            "id": pid,
            "name": "cf-eu10-emulated",
            "type": "cloudfoundry",
            "description": "Emulated Cloud Foundry platform",
            "created_at": iso(ts, True),
            "updated_at": iso(ts, True),
            "ready": True,
            "labels": {},
        }

    def sm_context(self, subaccount: str, instance_name: str) -> dict[str, Any]:
        """The OSB context Service Manager records for an instance created in ``subaccount``."""
        sub = self.subaccounts.get(subaccount, {})
        return {
            "origin": "sapcp",
            "region": f"cf-{sub.get('region', 'eu10')}",
            "zone_id": subaccount,
            "env_type": "sapcp",
            "platform": "sapcp",
            "subdomain": sub.get("subdomain", ""),
            "license_type": "CUSTOMER",
            "instance_name": instance_name,
            "subaccount_id": subaccount,
            "crm_customer_id": "",
            "global_account_id": self.global_account["guid"],
        }

    def sm_binding_context(self, subaccount: str, instance_name: str, instance_id: str) -> dict[str, Any]:
        context = self.sm_context(subaccount, instance_name)
        del context["env_type"]  # bindings carry the instance's context without its environment type
        return {**context, "service_instance_id": instance_id}

    def sm_last_operation(self, resource_id: str, resource_type: str, when: str) -> dict[str, Any]:
        return {
            "id": derived_id(resource_id, "operation"),
            "ready": True,
            "type": "create",
            "state": "succeeded",
            "resource_id": resource_id,
            "resource_type": f"/v1/{resource_type}",
            "platform_id": "service-manager",
            "correlation_id": derived_id(resource_id, "correlation"),
            "reschedule": False,
            "reschedule_timestamp": "0001-01-01T00:00:00Z",
            "deletion_scheduled": "0001-01-01T00:00:00Z",
            "created_at": when,
            "updated_at": when,
        }

    def _seed_audit_log(self, count: int) -> None:
        tenants = list(self.subaccounts) or [self.global_account["guid"]]
        self.audit_records = AuditLog(self.config.seed, count, self.anchor - 29 * DAY, 29 * DAY, tenants)
        self.audit_times = self.audit_records.times


#: Every order of the four categories: each aligned block of four records holds each category once, in
#: one of these orders, so the n-th record of a category is found by arithmetic instead of a scan.
_CATEGORY_ORDERS = tuple(itertools.permutations(range(len(AUDIT_CATEGORIES))))
_AUDIT_USERS = ("admin@example.com", "developer@example.com", "auditor@example.com", "$USER")


class AuditLog(Sequence[dict[str, Any]]):
    """The seeded audit log, made record by record when read: a page costs what the page holds, whatever
    the size of the log (``materialized`` counts the records made, ``probes`` the cheaper lookups).

    Record ``i`` follows from the seed and ``i`` alone; times rise with ``i`` (so a time window is two
    binary searches over :attr:`times`) and categories rotate in blocks of four (so a category filter
    seeks by arithmetic).
    """

    def __init__(self, seed: int, count: int, start: float, span: float, tenants: list[str]) -> None:
        self._seed = seed
        self._count = count
        self._start = start
        self._step = span / max(count, 1)
        self._tenants = tenants
        self.materialized = 0
        self.probes = 0  # times and categories computed without making a record
        self.times = _AuditTimes(self)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._record(i) for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("audit record index out of range")
        return self._record(index)

    def _digest(self, i: int) -> bytes:
        return hashlib.blake2b(f"{self._seed}:{i}".encode(), digest_size=24).digest()

    def time_of(self, i: int) -> float:
        self.probes += 1
        fraction = int.from_bytes(self._digest(i)[:4], "big") / 2**32
        return self._start + (i + fraction) * self._step

    def category_of(self, i: int) -> int:
        self.probes += 1
        block = hashlib.blake2b(f"{self._seed}:block:{i // 4}".encode(), digest_size=2).digest()
        return _CATEGORY_ORDERS[int.from_bytes(block, "big") % len(_CATEGORY_ORDERS)][i % 4]

    def _record(self, i: int) -> dict[str, Any]:
        self.materialized += 1
        h = self._digest(i)
        ts = self._start + (i + int.from_bytes(h[:4], "big") / 2**32) * self._step
        x = h[4:20].hex()  # a version-4 UUID formatted by hand: uuid.UUID costs a third of a record
        msg_uuid = f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[int(x[16], 16) & 3]}{x[17:20]}-{x[20:]}"
        tenant = self._tenants[i % len(self._tenants)]
        user = _AUDIT_USERS[h[20] % len(_AUDIT_USERS)]
        category = AUDIT_CATEGORIES[self.category_of(i)]
        when = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
        # JSON text by hand (ids and numbers need no escaping): json.dumps per record costs as much again
        data = f'{{"object":{{"type":"subaccount","id":{{"guid":"{tenant}"}}}},"attributes":[{{"name":"n{i}"}}]}}'
        return {
            "message_uuid": msg_uuid,
            "time": when,
            "tenant": tenant,
            "org_id": "",
            "space_id": "",
            "app_or_service_id": "auditlog-emulator",
            "als_service_id": "auditlog-emulator",
            "user": user,
            "category": category,
            "format_version": "",
            "message": {
                "uuid": msg_uuid,
                "user": user,
                "time": when,
                "ip": f"10.0.{h[21]}.{h[22]}",
                "data": data,
                "id": msg_uuid,
                "category": category,
                "tenant": tenant,
            },
        }

    def window(self, t_from: float, t_to: float) -> tuple[int, int]:
        """The index range of the records with ``t_from <= time <= t_to``."""
        return bisect.bisect_left(self.times, t_from), bisect.bisect_right(self.times, t_to)

    def select(self, lo: int, hi: int, categories: frozenset[int], offset: int, limit: int) -> tuple[list[int], bool]:
        """Indices of up to ``limit`` records in ``[lo, hi)`` from the ``offset``-th one that matches
        ``categories`` (all when empty), and whether more follow."""
        if not categories:
            first = lo + offset
            last = min(hi, first + limit)
            return list(range(first, last)), last < hi
        i = self._nth(lo, hi, categories, offset)
        out: list[int] = []
        while i < hi and len(out) < limit:
            if self.category_of(i) in categories:
                out.append(i)
            i += 1
        # any seven records in a row hold a whole block, hence one of each category
        more = any(self.category_of(k) in categories for k in range(i, min(hi, i + 7)))
        return out, more

    def _nth(self, lo: int, hi: int, categories: frozenset[int], n: int) -> int:
        i = lo
        while i < hi and i % 4:
            if self.category_of(i) in categories:
                if n == 0:
                    return i
                n -= 1
            i += 1
        per_block = len(categories)
        base = (i // 4 + n // per_block) * 4
        n %= per_block
        for k in range(base, base + 4):
            if self.category_of(k) in categories:
                if n == 0:
                    return k
                n -= 1
        return hi


class _AuditTimes(Sequence[float]):
    """The records' times, computed without making the records (what ``bisect`` searches)."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    def __len__(self) -> int:
        return len(self._log)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> list[float]: ...
    def __getitem__(self, index: int | slice) -> float | list[float]:
        if isinstance(index, slice):
            return [self._log.time_of(i) for i in range(*index.indices(len(self._log)))]
        if index < 0:
            index += len(self._log)
        if not 0 <= index < len(self._log):
            raise IndexError("audit time index out of range")
        return self._log.time_of(index)
