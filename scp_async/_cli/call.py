"""``scp-async call API OPERATION [name=value ...]``: any generated operation from the shell."""

from __future__ import annotations

from typing import Any

import anyio
import click

from ._common import (
    API_KEYS,
    OUTPUT_OPTION,
    CliError,
    OperationInfo,
    Target,
    api_name,
    bind_arguments,
    describe_type,
    emit,
    find_operation,
    jsonable,
    make_target,
    open_api,
    open_session,
    operations,
    rows_of,
    target_options,
)


async def run_operation(
    target: Target, op: OperationInfo, args: list[Any], kwargs: dict[str, Any], *, all_pages: bool
) -> Any:
    """The operation's result as plain JSON data (every item of every page with ``all_pages``)."""
    import json

    from .._pagination import paginate

    async with open_session(target) as (session, keys):
        api = await open_api(session, keys, op.api)
        if all_pages:
            return [jsonable(item) async for item in paginate(getattr(api, op.name), *args, **kwargs)]
        raw = await getattr(api.with_raw_response, op.name)(*args, **kwargs)
        if raw.parsed is not None and not isinstance(raw.parsed, str | bytes):
            return jsonable(raw.parsed)
        if not raw.content:
            return None
        try:
            return json.loads(raw.content)
        except ValueError:
            return raw.content.decode("utf-8", "replace")


def _operation_command(op: OperationInfo) -> click.Command:
    lines = ["\b", f"{op.method} {op.path}  ({op.operation_id})", "", "\b", "Parameters (name=value):"]
    for p in op.parameters():
        if p.name == "body":
            optional = "" if p.required else " (optional)"
            lines.append(f"  --body             {describe_type(p.annotation)} as JSON{optional}")
            continue
        flag = "required" if p.required else "optional"
        lines.append(f"  {p.name + '=':<18} {describe_type(p.annotation)} ({flag})")
    if len(lines) == 5:
        lines.append("  none")

    @click.command(name=op.name, help=op.summary or op.operation_id, epilog="\n".join(lines))
    @target_options
    @click.option("--body", metavar="@FILE|-|JSON", help="Request body: @file.json, - (stdin) or JSON text.")
    @click.option("--all", "all_pages", is_flag=True, help="Every item of every page (lists only).")
    @OUTPUT_OPTION
    @click.argument("pairs", nargs=-1, metavar="[NAME=VALUE]...")
    def command(
        key: Any,
        keys_dir: Any,
        emulator: bool,
        emulator_subaccounts: int,
        deadline: float | None,
        body: str | None,
        all_pages: bool,
        output: str,
        pairs: tuple[str, ...],
    ) -> None:
        target = make_target(key, keys_dir, emulator, emulator_subaccounts, deadline)
        args, kwargs = bind_arguments(op, pairs, body)
        result = anyio.run(lambda: run_operation(target, op, args, kwargs, all_pages=all_pages))
        if result is None:
            return
        if output == "jsonl" and not all_pages:
            rows = rows_of(result)
            result = rows if rows is not None else result
        emit(result, output)

    return command


class ApiGroup(click.Group):
    """``call API``: one command per operation, made when asked for."""

    def __init__(self, api: str) -> None:
        super().__init__(
            name=api,
            help=f"Operations of the {api} API (key: {API_KEYS[api]}.json). `OPERATION --help` lists its parameters.",
        )
        self.api = api

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(operations(self.api))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            return _operation_command(find_operation(self.api, cmd_name))
        except CliError:
            if ctx.resilient_parsing:
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(op.name, op.summary or op.operation_id) for op in operations(self.api).values()]
        with formatter.section("Operations"):
            formatter.write_dl(rows)


class CallGroup(click.Group):
    """``call``: one group per API."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(API_KEYS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            return ApiGroup(api_name(cmd_name))
        except CliError:
            if ctx.resilient_parsing:
                return None
            raise


call = CallGroup(
    name="call",
    help=(
        "Call any operation of any API: `scp-async call accounts get_global_account --emulator`. "
        "Arguments are name=value (converted by the operation's signature); results are JSON on stdout."
    ),
)
