"""The emulator answers with the keys the real services send, in the same JSON types.

Each body in ``../shared/real-payloads`` (or ``$SCP_ASYNC_REAL_PAYLOADS``; under ``CI=true`` a missing
directory fails) names the operation that answered it. The emulator is asked the same operation, for
one of its own resources of the same kind, and both answers are compared as shapes: the same keys at
every level (maps keyed by data, such as labels, are compared by their values only), the same JSON
type for every value that is not null on either side. Known differences are listed in ``EXCEPTIONS``,
each with its reason; an exception that no longer applies fails the test, so the list stays true.

An answer synthesized from the spec's schema must carry keys that the recordings of its operation carry:
a key every recording has (in every item of a list) is required, a key only some have is optional, and a
key none has must not be there. Properties the services send only in some situations are marked in the
spec (``x-scp-sent-when``, see specs/overlays) and left out of synthesized answers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_async.emulator import Emulator, ManualClock

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(os.environ.get("SCP_ASYNC_REAL_PAYLOADS") or ROOT.parent / "shared" / "real-payloads")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ANY_ID = "00000000-0000-4000-8000-000000000000"

#: Objects whose keys are data (names chosen by users or services), not part of the shape.
MAPS = frozenset(
    {
        "labels",
        "annotations",
        "credentials",
        "parameters",
        "var",
        "environment_variables",
        "customLabels",
        "processes",  # a CF revision's processes, keyed by process type
        "process_types",  # a CF droplet's start commands, keyed by process type (a list elsewhere: not a map)
        "custom",  # the operator's own entries of CF's /v3/info
        "keys",  # XSUAA's signing keys, keyed by key id
        "request",  # a CF audit event's request as sent, keyed by the request's own fields
    }
)
#: Broker-provided free-form objects (OSB ``metadata``), compared like maps.
MAP_PATHS = ("broker_catalog.metadata", "broker_provided_metadata.attributes", "broker_provided_metadata.labels")
#: Maps of one API only: Service Manager's ``metadata`` is the broker's free-form catalogue metadata.
API_MAPS = {"service_manager": frozenset({"metadata"})}

#: Known differences of the emulator's stateful answers from the recordings, each with its reason.
EXCEPTIONS: dict[str, dict[str, str]] = {
    "accounts.getSubaccount": {
        "$.description: not sent by the service": "set on the seeded subaccounts; sent when set (optional)",
        "$.labels: not sent by the service": "set on the seeded subaccounts; sent when set (optional)",
        "$.forceDeleteRequestTime: missing": "the recorded subaccounts were pending forced deletion",
        "$.forceDeleteTargetTime: missing": "the recorded subaccounts were pending forced deletion",
    },
    "accounts.getSubaccounts": {
        "$.value[].description: not sent by the service": "set on the seeded subaccounts; sent when set",
        "$.value[].labels: not sent by the service": "set on the seeded subaccounts; sent when set",
    },
    "cf_v3.getDomain": {
        "$.links.organization: missing": "the docs' domain is private (owned by an org); the seeded ones are shared",
        "$.links.shared_organizations: missing": "the docs' domain is private; shared domains have no such link",
        "$.relationships.shared_organizations.data: empty, real has items": "no seeded domain is shared with orgs",
    },
    "cf_v3.listDomains": {
        "$.resources[].links.router_group: missing": "the docs' first domain is a TCP domain with a router group",
    },
    "cf_v3.getJob": {
        "$.errors: empty, real has items": "the docs' job failed; the emulator's jobs succeed",
        "$.warnings: empty, real has items": "the docs' job has warnings; the emulator's jobs have none",
    },
    "cf_v3.getProcess": {
        "$.health_check.data.interval: not sent by the service": "the docs' single-process example predates "
        "`interval`, which their process list example has",
        "$.health_check.data.invocation_timeout: not sent by the service": "as above: the list example has it",
        "$.readiness_health_check.data.interval: not sent by the service": "as above: the list example has it",
    },
    "cf_v3.getRoute": {"$.port: missing": "the docs' route is a TCP route (port); the seeded routes are HTTP"},
    "cf_v3.getServiceCredentialBindingDetails": {
        "$.volume_mounts: empty, real has items": "the docs' binding is to a volume service",
    },
    "cf_v3.listServiceCredentialBindings": {
        "$.resources[].links.parameters: not sent by the service": "the docs' list example predates the "
        "`parameters` link, which their single-binding examples have",
    },
}


@dataclass(frozen=True)
class Payload:
    id: str
    api: str
    operation: str
    file: Path


def _payloads() -> list[Payload]:
    manifest = PAYLOADS / "manifest.json"
    if not manifest.is_file():
        return []
    entries = json.loads(manifest.read_text(encoding="utf-8"))["payloads"]
    return [Payload(e["id"], e["api"], e["operation"], PAYLOADS / e["file"]) for e in entries]


PAYLOAD_LIST = _payloads()


def test_the_real_payloads_are_there() -> None:
    if not PAYLOAD_LIST:
        message = f"no real payloads at {PAYLOADS} (set SCP_ASYNC_REAL_PAYLOADS)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


# -- shapes ---------------------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _free_form(api: str, where: str) -> bool:
    return where.rsplit(".", 1)[-1] in API_MAPS.get(api, ()) or where.endswith(MAP_PATHS)


def differences(real: Any, emulated: Any, where: str = "$", api: str = "") -> Iterator[str]:
    """Where ``emulated`` has another shape than ``real``: ``<json path>: <what differs>``."""
    if real is None or emulated is None:
        return
    if _kind(real) != _kind(emulated):
        yield f"{where}: {_kind(emulated)}, real {_kind(real)}"
        return
    if isinstance(real, dict):
        if _free_form(api, where):  # keys and values are the broker's own
            return
        if where.rsplit(".", 1)[-1] in MAPS:
            theirs = list(emulated.values())
            if real and theirs:
                yield from differences(next(iter(real.values())), theirs[0], f"{where}[*]", api)
            return
        for key in sorted(real.keys() - emulated.keys()):
            yield f"{where}.{key}: missing"
        for key in sorted(emulated.keys() - real.keys()):
            yield f"{where}.{key}: not sent by the service"
        for key in sorted(real.keys() & emulated.keys()):
            yield from differences(real[key], emulated[key], f"{where}.{key}", api)
    elif isinstance(real, list):
        if real and not emulated:
            yield f"{where}: empty, real has items"
        elif real and emulated:
            yield from differences(real[0], emulated[0], f"{where}[]", api)


# -- asking the emulator the same question --------------------------------------------------------------
def _operations(emu: Emulator) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for payload in PAYLOAD_LIST:
        spec = emu.app.spec(payload.api)
        assert spec is not None, payload.api
        for op in spec.operations():
            if op.operation_id == payload.operation:
                out[(payload.api, payload.operation)] = (op.method, op.template)
    return out


#: Payloads that describe one variant of a resource: the emulator is asked for one of the same variant.
VARIANTS: dict[str, Callable[[Emulator], str]] = {
    "cf_v3/ccng-single_user_provided_service_instance": lambda emu: next(
        g for g, s in emu.state.cf_service_instances.items() if s["type"] == "user-provided"
    ),
    "cf_v3/ccng-single_managed_service_instance": lambda emu: next(
        g for g, s in emu.state.cf_service_instances.items() if s["type"] == "managed"
    ),
    "cf_v3/ccng-user_provided_service_instance_credentials": lambda emu: next(
        g for g, s in emu.state.cf_service_instances.items() if s["type"] == "user-provided"
    ),
    "cf_v3/ccng-single_service_credential_binding_app": lambda emu: next(
        g for g, b in emu.state.cf_credential_bindings.items() if b["type"] == "app"
    ),
    "cf_v3/ccng-single_service_credential_binding_key": lambda emu: next(
        g for g, b in emu.state.cf_credential_bindings.items() if b["type"] == "key"
    ),
}
#: Query parameters the recordings were made with (the btp CLI expands the global account).
QUERIES = {"getGlobalAccount": {"expand": "true"}}
NAMED = {"name": "ssh", "appName": "launchpad", "origin": "sap.default", "username": "admin@example.com"}


def _enum_path_values(api: str, template: str) -> dict[str, str]:
    spec = json.loads((Path(__file__).resolve().parents[2] / "specs" / f"{api}.json").read_text(encoding="utf-8"))
    values: dict[str, str] = {}
    for operation in spec.get("paths", {}).get(template, {}).values():
        for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
            enum = parameter.get("schema", {}).get("enum") if parameter.get("in") == "path" else None
            if enum:
                values[parameter["name"]] = str(enum[0])
    return values


async def _path(c: httpx.AsyncClient, emu: Emulator, payload: Payload, template: str) -> str:
    variant = VARIANTS.get(payload.id)
    state = emu.state
    ids: dict[str, str] = {
        "subaccountGUID": state.home_subaccount,
        "directoryGUID": next(iter(state.directories), ANY_ID),
        "environmentInstanceId": next(iter(state.environments), ANY_ID),
        "serviceInstanceID": next(iter(state.sm_instances), ANY_ID),
        "serviceBindingID": next(iter(state.sm_bindings), ANY_ID),
        "serviceOfferingID": next(iter(state.sm_offerings), ANY_ID),
        "servicePlanID": next(iter(state.sm_plans), ANY_ID),
        "platformID": next(iter(state.sm_platforms), ANY_ID),
    }
    # A path parameter with an enum (CF feature flag names, environment variable groups) is checked by
    # the emulator like any other: ask for one of its values.
    ids.update(_enum_path_values(payload.api, template))
    if payload.operation == "getJob":
        ids["guid"] = next(iter(state.cf_jobs))
    if payload.api == "cf_v3" and "{guid}" in template and "guid" not in ids:
        if variant is not None:
            ids["guid"] = variant(emu)
        else:
            collection = template.split("/")[2]
            r = await c.get(f"{emu.base_url('cf_v3')}/v3/{collection}", params={"per_page": 1})
            resources = r.json().get("resources") if r.status_code == 200 else None
            ids["guid"] = resources[0]["guid"] if resources else ANY_ID

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return ids.get(name) or NAMED.get(name) or ANY_ID

    return re.sub(r"\{([^}]+)\}", fill, template)


@pytest.fixture(scope="module")
def emulated() -> tuple[Emulator, dict[str, Any]]:
    """The emulator's answer to every payload's operation (asked once per module)."""
    import anyio

    emu = Emulator(subaccounts=6, clock=ManualClock(1_800_000_000.0), transition_delay=5.0)
    answers: dict[str, Any] = {}

    async def ask() -> None:
        token = emu.issue_token("cf", user="admin@example.com")
        async with emu.client(token=token) as c:
            space = next(iter(emu.state.cf_spaces))
            ups = {"name": "ups-1", "type": "user-provided", "credentials": {"uri": "https://db.example.com"}}
            ups["tags"] = ["db"]
            ups["relationships"] = {"space": {"data": {"guid": space}}}
            made = await c.post("/cf/v3/service_instances", json=ups)
            assert made.status_code == 201
            route = next(iter(emu.state.cf_routes))
            rb = {"service_instance": {"data": {"guid": made.json()["guid"]}}, "route": {"data": {"guid": route}}}
            assert (await c.post("/cf/v3/service_route_bindings", json={"relationships": rb})).status_code == 201
            doomed = next(g for g, a in emu.state.cf_apps.items() if a["name"].startswith("db-deployer"))
            assert (await c.delete(f"/cf/v3/apps/{doomed}")).status_code == 202  # a job to read
            operations = _operations(emu)
            for payload in PAYLOAD_LIST:
                method, template = operations[(payload.api, payload.operation)]
                path = await _path(c, emu, payload, template)
                query = QUERIES.get(payload.operation, {})
                r = await c.request(method, emu.base_url(payload.api) + path, params=query)
                route = emu.app.router(payload.api).match(method, path)[0]
                stateful = route is not None and route.handler is not None
                answers[payload.id] = (r.status_code, r.json() if r.content else None, stateful)

    if PAYLOAD_LIST:
        anyio.run(ask)
    return emu, answers


_KEY_PROBLEMS = ("missing", "not sent by the service")

#: Operations answered from the spec's schema whose keys the overlays have made the recordings' own: their
#: answers must have the keys all their recordings have and no key that none has (``key_differences``).
SCHEMA_KEYS_MATCH = frozenset(
    {
        "cf_v3.getAppUsageEvent",
        "cf_v3.listAppUsageEvents",
        "cf_v3.getServiceUsageEvent",
        "cf_v3.listServiceUsageEvents",
        "cf_v3.getDeployment",
        "cf_v3.getServiceInstanceUsageSummaryInSharedSpaces",
        "cf_v3.getRevision",
        "cf_v3.listRevisionsForApp",
        "cf_v3.getProcessStats",
        "cf_v3.getPlatformInfo",
        "cf_v3.getUsageSummaryForSpace",
        "cf_v3.getSidecar",
        "cf_v3.listAppSidecars",
        "cf_v3.getOrganizationQuota",
        "cf_v3.listOrganizationQuotas",
        "cf_v3.getSpaceQuota",
        "cf_v3.getAuditEvent",
        "cf_v3.listAuditEvents",
        "cf_v3.listSpacesForIsolationSegment",
        "cf_v3.listServiceInstanceSharedSpaces",
        "cf_v3.listBuilds",
        "cf_v3.getBuild",
        "cf_v3.listDeployments",
        "cf_v3.getDroplet",
        "cf_v3.listDroplets",
        "cf_v3.getPackage",
        "cf_v3.listPackages",
        "cf_v3.getRole",
        "cf_v3.listRoles",
        "cf_v3.listServiceBrokers",
        "cf_v3.getServiceBroker",
        "cf_v3.getServiceInstanceCredentials",
        "cf_v3.getServiceInstanceParameters",
        "cf_v3.getServicePlanVisibility",
        "cf_v3.listSpaceQuotas",
        "xsuaa.getRoleByAppAndRoleTemplate",
        "xsuaa.getRoles",
        "xsuaa.getRoleCollectionByName",
        "xsuaa.getRoleCollections",
        "xsuaa.getUserByName",
        "xsuaa.getAppById",
        "xsuaa.getApps",
        "xsuaa.readSettings",
        "service_manager.getServiceBrokerId",
    }
)


def _problems(emulated: tuple[Emulator, dict[str, Any]]) -> dict[str, set[str]]:
    """Per operation: type differences in any payload; a missing or extra key only when every payload of
    the operation agrees (a key some recordings have and others lack is optional)."""
    _emu, answers = emulated
    by_op: dict[str, list[set[str]]] = {}
    for payload in PAYLOAD_LIST:
        status, body, stateful = answers[payload.id]
        if not stateful:
            continue
        key = f"{payload.api}.{payload.operation}"
        if status != 200:
            by_op.setdefault(key, []).append({f"$: status {status}"})
            continue
        real = json.loads(payload.file.read_text(encoding="utf-8"))
        by_op.setdefault(key, []).append(set(differences(real, body, api=payload.api)))
    out: dict[str, set[str]] = {}
    for key, found in by_op.items():
        keys = set.intersection(*found)
        types = {p for f in found for p in f if not p.endswith(_KEY_PROBLEMS)}
        out[key] = {p for p in keys if p.endswith(_KEY_PROBLEMS)} | types
    return out


def test_stateful_answers_have_the_keys_and_types_the_services_send(
    emulated: tuple[Emulator, dict[str, Any]],
) -> None:
    if not PAYLOAD_LIST:
        pytest.skip("no real payloads")
    problems = _problems(emulated)
    assert len(problems) >= 40  # the emulator's own state answers most of the recorded operations
    unexplained = {f"{op} {p}" for op, found in problems.items() for p in found if p not in EXCEPTIONS.get(op, {})}
    assert not unexplained, "\n".join(sorted(unexplained))
    stale = {f"{op} {p}" for op, listed in EXCEPTIONS.items() for p in listed if p not in problems.get(op, set())}
    assert not stale, "exceptions that no longer apply:\n" + "\n".join(sorted(stale))


#: A list operation whose items are recordings of the resource its single GET answers, and where its items
#: sit: the two pool their recordings (a key the list's items have and the single answer lacks, or the other
#: way round, is optional for both).
SAME_RESOURCE = {
    # the docs' list shows a rolling deployment, their single deployment a canary one
    "cf_v3.listDeployments": ("cf_v3.getDeployment", "$.resources[]"),
    # the docs' single broker is space-scoped; their list has a global one first
    "cf_v3.listServiceBrokers": ("cf_v3.getServiceBroker", "$.resources[]"),
}

#: Known differences of schema answers from every recording of their operation, each with its reason.
SCHEMA_EXCEPTIONS: dict[str, dict[str, str]] = {
    "cf_v3.listSpaceQuotas": {
        "$.resources[].relationships.organization: not sent by the service": "the docs' list example "
        "misspells it `organizations`; their single space quota and cloud_controller_ng's presenter send "
        "`organization`",
        "$.resources[].relationships.organizations: missing": "as above: a typo of the docs' list example",
    },
}


def _ancestors(path: str) -> Iterator[str]:
    for i, char in enumerate(path):
        if char in ".[" and i:
            yield path[:i]


def key_paths(value: Any, where: str = "$", api: str = "") -> tuple[set[str], set[str], set[str]]:
    """The keys of ``value`` as JSON paths: those it may have (any item of a list has them), those it must
    have (every item has them), and where it is null or an empty list or map (what is below is not known).
    Maps keyed by data are seen through their values (``[*]``), free-form objects not at all."""
    if value is None:
        return set(), set(), {where}
    if isinstance(value, dict) and _free_form(api, where):
        return set(), set(), set()
    if isinstance(value, dict) and where.rsplit(".", 1)[-1] not in MAPS:
        may: set[str] = set()
        must: set[str] = set()
        nulls: set[str] = set()
        for key, item in value.items():
            path = f"{where}.{key}"
            below = key_paths(item, path, api)
            may |= {path} | below[0]
            must |= {path} | below[1]
            nulls |= below[2]
        return may, must, nulls
    # the items of a list, or the values of a map: a key some of them lack is optional; none, nothing known
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    parts = [key_paths(v, f"{where}[*]" if isinstance(value, dict) else f"{where}[]", api) for v in items]
    if not parts:
        return set(), set(), {where} if isinstance(value, (dict, list)) else set()
    return (
        set.union(*(p[0] for p in parts)),
        set.intersection(*(p[1] for p in parts)),
        set.union(*(p[2] for p in parts)),
    )


def _rerooted(paths: set[str], old: str, new: str) -> set[str]:
    return {new + p[len(old) :] for p in paths if p == old or p.startswith((old + ".", old + "["))}


def _recorded_keys(operation: str) -> tuple[set[str], set[str], set[str]]:
    """What every recording of ``operation`` (and of the same resource, ``SAME_RESOURCE``) lets an answer
    carry: the keys any has, the keys all have, and where any is null."""

    def recordings(op: str) -> list[tuple[set[str], set[str], set[str]]]:
        return [
            key_paths(json.loads(p.file.read_text(encoding="utf-8")), api=p.api)
            for p in PAYLOAD_LIST
            if f"{p.api}.{p.operation}" == op
        ]

    own = recordings(operation)
    may = set.union(*(r[0] for r in own))
    must = set.intersection(*(r[1] for r in own))
    nulls = set.union(*(r[2] for r in own))
    pairs = [(op, at, "$") for op, (other, at) in SAME_RESOURCE.items() if other == operation]
    pairs += [(other, "$", at) for op, (other, at) in SAME_RESOURCE.items() if op == operation]
    for other, theirs, ours in pairs:
        for r_may, r_must, r_nulls in recordings(other):
            may |= _rerooted(r_may, theirs, ours)
            nulls |= _rerooted(r_nulls, theirs, ours)
            mine = {p for p in must if p == ours or p.startswith((ours + ".", ours + "["))}
            must -= mine - _rerooted(r_must, theirs, ours)
    return may, must, nulls


#: Operations whose whole answer is a free-form map (its keys are data): only its JSON type is compared.
FREE_FORM_ANSWERS = frozenset({"cf_v3.getServiceInstanceCredentials", "cf_v3.getServiceInstanceParameters"})


def key_differences(operation: str, emulated: Any, api: str) -> set[str]:
    """Keys of a schema answer that no recording has, and keys every recording has that it lacks."""
    if operation in FREE_FORM_ANSWERS:
        return set()
    may, must, nulls = _recorded_keys(operation)
    has, _all, emu_nulls = key_paths(emulated, api=api)
    extra = {p for p in has - may if not any(a in nulls for a in _ancestors(p))}
    lacking = {p for p in must - has if not any(a in emu_nulls for a in _ancestors(p))}
    extra = {p for p in extra if not any(a in extra for a in _ancestors(p))}  # the topmost of each
    lacking = {p for p in lacking if not any(a in lacking for a in _ancestors(p))}
    return {f"{p}: not sent by the service" for p in extra} | {f"{p}: missing" for p in lacking}


def test_key_paths_tell_required_from_optional_keys() -> None:
    may, must, nulls = key_paths({"a": [{"x": 1, "y": None}, {"x": 2}], "labels": {"k": {"v": 1}}})
    assert may == {"$.a", "$.a[].x", "$.a[].y", "$.labels", "$.labels[*].v"}
    assert must == {"$.a", "$.a[].x", "$.labels", "$.labels[*].v"}
    assert nulls == {"$.a[].y"}
    assert key_paths({"a": [], "labels": {}}) == ({"$.a", "$.labels"}, {"$.a", "$.labels"}, {"$.a", "$.labels"})


def test_schema_answers_have_the_json_types_the_services_send(emulated: tuple[Emulator, dict[str, Any]]) -> None:
    """Operations without state are answered from the spec's schema, so which keys they carry is the
    spec's business (specs/overlays hold it to the recordings); every value both have is of the same JSON
    type, and a list is one last page."""
    if not PAYLOAD_LIST:
        pytest.skip("no real payloads")
    _emu, answers = emulated
    checked = 0
    keyed: set[str] = set()
    for payload in PAYLOAD_LIST:
        status, body, stateful = answers[payload.id]
        if stateful:
            continue
        real = json.loads(payload.file.read_text(encoding="utf-8"))
        assert status == 200, payload.id
        assert _kind(body) == _kind(real), payload.id
        found = list(differences(real, body, api=payload.api))
        kinds = [d for d in found if not d.endswith(_KEY_PROBLEMS)]
        assert not kinds, f"{payload.id}: {kinds}"
        operation = f"{payload.api}.{payload.operation}"
        if operation in SCHEMA_KEYS_MATCH:
            keyed.add(operation)
            known = SCHEMA_EXCEPTIONS.get(operation, {})
            found_keys = key_differences(operation, body, payload.api)
            assert found_keys <= known.keys(), f"{payload.id}: {sorted(found_keys - known.keys())}"
            stale = known.keys() - found_keys
            assert not stale, f"{operation}: exceptions that no longer apply: {sorted(stale)}"
        if isinstance(real, dict) and "pagination" in real:
            assert body["pagination"]["next"] is None, payload.id
        checked += 1
    assert checked > 0
    assert keyed == SCHEMA_KEYS_MATCH, f"not answered from the schema: {sorted(SCHEMA_KEYS_MATCH - keyed)}"
    assert SCHEMA_EXCEPTIONS.keys() <= SCHEMA_KEYS_MATCH
