"""``scp-async fan-out API OPERATION``: one operation for every subaccount, with progress and a summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import click

from ._common import (
    CliError,
    OperationInfo,
    Target,
    api_name,
    bind_arguments,
    dump_json,
    find_operation,
    jsonable,
    make_target,
    open_api,
    open_session,
    target_options,
)

_SUBACCOUNT_PARAMETERS = ("subaccountguid", "subaccountid", "subaccount")


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    retries: int = 0
    throttled: int = 0
    duration: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"ok {self.ok}, failed {self.failed}, retries {self.retries}, 429s {self.throttled}, "
            f"duration {self.duration:.2f} s"
        )


def subaccount_parameter(op: OperationInfo) -> str:
    for param in op.parameters():
        if param.key in _SUBACCOUNT_PARAMETERS:
            return param.name
    raise CliError(f"{op.name} has no subaccount parameter; fan-out needs one (subaccount_guid, subaccount_id)", 2)


async def fan_out_operation(
    target: Target,
    op: OperationInfo,
    pairs: tuple[str, ...],
    body: str | None,
    subaccounts: list[str],
    *,
    label_selector: str | None,
    limit: int,
    progress: bool,
    write: Any = click.echo,
) -> Summary:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .._fan_out import fan_out_stream

    param = subaccount_parameter(op)
    summary = Summary()
    started = time.perf_counter()
    async with open_session(target) as (session, keys):
        if not subaccounts:
            cis = session.cloud_management(keys["cis"])
            listed = await (
                cis.accounts.get_subaccounts(label_selector=label_selector)
                if label_selector
                else cis.accounts.get_subaccounts()
            )
            subaccounts = [str(s.guid) for s in (jsonable_list(listed))]
        api = await open_api(session, keys, op.api)
        method = getattr(api, op.name)

        async def call(guid: str) -> Any:
            args, kwargs = bind_arguments(op, (*pairs, f"{param}={guid}"), body)
            return await method(*args, **kwargs)

        bar = Progress(
            TextColumn(op.name),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not progress,
        )
        with bar:
            task = bar.add_task(op.name, total=len(subaccounts))
            async with fan_out_stream(
                call, subaccounts, limit=limit, progress=lambda done, _total, _o: bar.update(task, completed=done)
            ) as outcomes:
                async for outcome in outcomes:
                    # The first attempt is the call itself; every further one was a retry (429s included).
                    summary.retries += max(outcome.attempts - 1, 0)
                    if outcome.error is None:
                        summary.ok += 1
                        line = {"subaccount": outcome.item, "ok": True, "result": jsonable(outcome.value)}
                    else:
                        summary.failed += 1
                        kind = type(outcome.error).__name__
                        summary.errors[kind] = summary.errors.get(kind, 0) + 1
                        line = {"subaccount": outcome.item, "ok": False, "error": f"{kind}: {outcome.error}"}
                    write(dump_json(line, indent=None))
        summary.throttled = session.governor.stats().throttled
    summary.duration = time.perf_counter() - started
    return summary


def jsonable_list(page: Any) -> list[Any]:
    value = getattr(page, "value", None)
    return list(value) if isinstance(value, list) else []


@click.command(name="fan-out")
@target_options
@click.option("--subaccount", "subaccounts", multiple=True, metavar="GUID", help="Only these (repeatable).")
@click.option("--label-selector", help="Only subaccounts matching this label selector (e.g. team=team-1).")
@click.option("--limit", type=click.IntRange(1, 500), default=16, show_default=True, help="Concurrent calls at most.")
@click.option("--body", metavar="@FILE|-|JSON", help="Request body for every call.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@click.argument("api")
@click.argument("operation")
@click.argument("pairs", nargs=-1, metavar="[NAME=VALUE]...")
def fan_out_command(
    key: Any,
    keys_dir: Any,
    emulator: bool,
    emulator_subaccounts: int,
    deadline: float | None,
    subaccounts: tuple[str, ...],
    label_selector: str | None,
    limit: int,
    body: str | None,
    progress: bool,
    api: str,
    operation: str,
    pairs: tuple[str, ...],
) -> None:
    """Run OPERATION once per subaccount of the global account (or per --subaccount).

    The operation's subaccount parameter is filled in; results are JSON lines on stdout as they
    complete ({"subaccount", "ok", "result" | "error"}); the summary (ok, failed, retries, 429s,
    duration) goes to stderr. Exits 1 when any call failed.
    """
    target = make_target(key, keys_dir, emulator, emulator_subaccounts, deadline)
    op = find_operation(api_name(api), operation)
    param = subaccount_parameter(op)
    if body == "-":
        body = sys.stdin.read()
    # Wrong names or values fail here once, not once per subaccount.
    bind_arguments(op, (*pairs, f"{param}=00000000-0000-0000-0000-000000000000"), body)
    summary = anyio.run(
        lambda: fan_out_operation(
            target, op, pairs, body, list(subaccounts), label_selector=label_selector, limit=limit, progress=progress
        )
    )
    click.echo(summary.line(), err=True)
    if summary.failed:
        raise CliError(f"{summary.failed} of {summary.ok + summary.failed} calls failed")
