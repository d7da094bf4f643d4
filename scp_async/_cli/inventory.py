"""``scp-async inventory``: one JSON document of a global account; ``inventory diff OLD NEW``: what changed."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import anyio
import click
import httpx

from .._namespace import Namespace
from ._common import (
    CliError,
    Keys,
    Target,
    dump_json,
    jsonable,
    make_target,
    open_session,
    operations,
    target_options,
)

FORMAT = "scp-async/inventory/1"
# Facts about the snapshot itself, not about the account: never a difference.
META = "snapshot"


async def _json(call: Awaitable[Any]) -> Any:
    response = await call
    return json.loads(response.content) if response.content else None


def _get(namespace: Namespace, api: str, operation: str, **params: str) -> Awaitable[httpx.Response]:
    """GET an operation's path as sent, unparsed: a snapshot keeps what the service said, field for field."""
    return namespace.request("GET", operations(api)[operation].path, params=params or None)


def _directories(children: Any, into: dict[str, Any]) -> None:
    for item in children or []:
        if not isinstance(item, dict) or "guid" not in item:
            continue
        into[item["guid"]] = {k: v for k, v in item.items() if k not in ("children", "subaccounts")}
        _directories(item.get("children"), into)


def _assignments(document: Any) -> dict[str, Any]:
    """``service/plan`` → the plan's facts and its assignments by entity GUID."""
    plans: dict[str, Any] = {}
    for service in (document or {}).get("assignedServices") or []:
        for plan in service.get("servicePlans") or []:
            name = f"{service.get('name')}/{plan.get('name')}"
            facts = {k: v for k, v in plan.items() if k not in ("assignmentInfo",) and not isinstance(v, dict | list)}
            facts["assignments"] = {
                str(a.get("entityId")): {k: v for k, v in a.items() if not isinstance(v, dict | list)}
                for a in plan.get("assignmentInfo") or []
            }
            plans[name] = facts
    return plans


def _entitled(document: Any) -> dict[str, Any]:
    plans: dict[str, Any] = {}
    for service in (document or {}).get("entitledServices") or []:
        for plan in service.get("servicePlans") or []:
            plans[f"{service.get('name')}/{plan.get('name')}"] = {
                k: v for k, v in plan.items() if not isinstance(v, dict | list)
            }
    return plans


async def snapshot(target: Target) -> dict[str, Any]:
    """The inventory document (sections that could not be read are named under ``errors``)."""
    errors: dict[str, str] = {}
    document: dict[str, Any] = {}
    async with open_session(target) as (session, keys):
        cis = session.cloud_management(keys["cis"])
        account = await _json(_get(cis.accounts, "accounts", "get_global_account", expand="true"))
        directories: dict[str, Any] = {}
        _directories(account.get("children"), directories)
        document["global_account"] = {
            k: v for k, v in account.items() if k not in ("children", "subaccounts", "modifiedDate")
        }
        document["directories"] = directories
        listed = await _json(_get(cis.accounts, "accounts", "get_subaccounts"))
        subaccounts: dict[str, Any] = {}
        for item in listed.get("value") or []:
            subaccounts[item["guid"]] = {**item, "labels": item.get("labels") or {}}
        document["subaccounts"] = subaccounts

        async def section(name: str, coroutine: Awaitable[Any]) -> None:
            try:
                document[name] = await coroutine
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"

        async def entitlements() -> Any:
            assigned = await _json(_get(cis.entitlements, "entitlements", "get_global_account_assignments"))
            return {"entitled": _entitled(assigned), "assigned": _assignments(assigned)}

        async def environments() -> Any:
            page = await _json(_get(cis.provisioning, "provisioning", "get_environment_instances"))
            return _by_subaccount(page.get("environmentInstances") or [], "subaccountGUID", "id")

        async def subscriptions() -> Any:
            page = await _json(_get(cis.saas_provisioning, "saas_provisioning", "get_entitled_applications"))
            subscribed = [a for a in page.get("applications") or [] if a.get("state") not in (None, "NOT_SUBSCRIBED")]
            return _by_subaccount(subscribed, "subscribedSubaccountId", "appName")

        await section("entitlements", entitlements())
        await section("environment_instances", environments())
        await section("subscriptions", subscriptions())
        await section("service_instances", _service_instances(session, keys))
    document[META] = {
        "format": FORMAT,
        "taken_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "errors": errors,
    }
    return document


async def _service_instances(session: Any, keys: Keys) -> Any:
    from .._pagination import paginate

    if not keys.has("service_manager"):
        return {}
    sm = session.service_manager(keys["service_manager"])
    items = [jsonable(item) async for item in paginate(sm.get_all_service_instances)]
    return _by_subaccount(items, "subaccount_id", "id")


def _by_subaccount(items: list[Any], subaccount_field: str, id_field: str) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        owner = item.get(subaccount_field) or (item.get("context") or {}).get(subaccount_field) or "unknown"
        grouped.setdefault(str(owner), {})[str(item.get(id_field))] = item
    return grouped


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` next to ``path`` first, then rename: a reader never sees half a document."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CliError(f"{path}: {exc.strerror}") from None


# -- diff ----------------------------------------------------------------------------------------------------


def _pointer(parts: list[str]) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def diff(old: Any, new: Any, parts: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Added, removed and changed values between two documents, by JSON pointer (lists compare whole)."""
    parts = parts or []
    result: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            if not parts and name == META:
                continue
            here = [*parts, str(name)]
            if name not in old:
                result["added"].append({"path": _pointer(here), "value": new[name]})
            elif name not in new:
                result["removed"].append({"path": _pointer(here), "value": old[name]})
            else:
                inner = diff(old[name], new[name], here)
                for kind in result:
                    result[kind].extend(inner[kind])
    elif old != new:
        result["changed"].append({"path": _pointer(parts), "old": old, "new": new})
    return result


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or (data.get(META) or {}).get("format") != FORMAT:
        raise CliError(f"{path}: not an inventory written by `scp-async inventory`")
    return data


def _short(value: Any, width: int = 100) -> str:
    text = dump_json(value, indent=None)
    return text if len(text) <= width else text[: width - 3] + "..."


@click.group(name="inventory", invoke_without_command=True)
@target_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE (else stdout).")
@click.pass_context
def inventory(
    ctx: click.Context,
    key: Any,
    keys_dir: Any,
    emulator: bool,
    emulator_subaccounts: int,
    deadline: float | None,
    output: Path | None,
) -> None:
    """Snapshot a global account into one JSON document.

    Directories, subaccounts with labels, entitlements and their assignments, environment instances,
    subscriptions and service instances per subaccount. Compare two with `inventory diff OLD NEW`.
    """
    if ctx.invoked_subcommand is not None:
        return
    target = make_target(key, keys_dir, emulator, emulator_subaccounts, deadline)
    document = anyio.run(lambda: snapshot(target))
    text = dump_json(document) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)
        counts = ", ".join(
            f"{len(document.get(name) or {})} {name.replace('_', ' ')}" for name in ("directories", "subaccounts")
        )
        click.echo(f"inventory written to {output} ({counts})", err=True)
    failed = document[META]["errors"]
    if failed:
        raise CliError(f"inventory incomplete: {'; '.join(f'{k}: {v}' for k, v in failed.items())}")


@inventory.command(name="diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff_command(old: Path, new: Path, output: str) -> None:
    """What changed from OLD to NEW: added (+), removed (-), changed (~), by path. Exits 1 if anything did."""
    changes = diff(_load(old), _load(new))
    if output == "json":
        click.echo(dump_json(changes))
    else:
        lines = [(c["path"], f"+ {c['path']}: {_short(c['value'])}") for c in changes["added"]]
        lines += [(c["path"], f"- {c['path']}") for c in changes["removed"]]
        lines += [
            (c["path"], f"~ {c['path']}: {_short(c['old'], 60)} -> {_short(c['new'], 60)}") for c in changes["changed"]
        ]
        for _, line in sorted(lines):
            click.echo(line)
        total = sum(len(v) for v in changes.values())
        click.echo(
            f"{len(changes['added'])} added, {len(changes['removed'])} removed, {len(changes['changed'])} changed"
            if total
            else "no changes",
            err=True,
        )
    if any(changes.values()):
        raise SystemExit(1)
