"""``scp-async curl API PATH``: any path of an API, authenticated like the typed calls (like ``cf curl``)."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import click

from ._common import CliError, Target, api_name, dump_json, make_target, open_api, open_session, target_options


async def send(
    target: Target, api: str, path: str, method: str, body: str | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    content: bytes | None = None
    if body is not None:
        content = body.encode("utf-8")
        if body.lstrip().startswith(("{", "[")):
            headers.setdefault("Content-Type", "application/json")
    async with open_session(target) as (session, keys):
        namespace = await open_api(session, keys, api)
        response = await namespace.request(method, path, content=content, headers=headers, raise_for_status=False)
        return response.status_code, response.content


def _body_text(data: str | None) -> str | None:
    if data is None:
        return None
    if data == "-":
        return sys.stdin.read()
    if data.startswith("@"):
        try:
            with open(data[1:], encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"-d {data[1:]}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return data


@click.command(name="curl")
@target_options
@click.option("-X", "--request", "method", default=None, help="HTTP method (default GET, or POST with -d).")
@click.option("-d", "--data", help="Body: text, @file or - (stdin); JSON bodies get Content-Type application/json.")
@click.option("-H", "--header", "header_lines", multiple=True, help="Extra header 'Name: value' (repeatable).")
@click.argument("api")
@click.argument("path")
def curl(
    key: Any,
    keys_dir: Any,
    emulator: bool,
    emulator_subaccounts: int,
    deadline: float | None,
    method: str | None,
    data: str | None,
    header_lines: tuple[str, ...],
    api: str,
    path: str,
) -> None:
    """Send METHOD PATH to API with its auth, retries and deadline; print the response body.

    PATH is relative to the API's base URL (e.g. `/v3/apps` for cf). Exits 1 on an HTTP error status.
    """
    target = make_target(key, keys_dir, emulator, emulator_subaccounts, deadline)
    name = api_name(api)
    headers: dict[str, str] = {}
    for line in header_lines:
        header, sep, value = line.partition(":")
        if not sep or not header.strip():
            raise CliError(f"-H {line!r}: expected 'Name: value'", 2)
        headers[header.strip()] = value.strip()
    body = _body_text(data)
    verb = (method or ("POST" if body is not None else "GET")).upper()
    status, content = anyio.run(lambda: send(target, name, path, verb, body, headers))
    if content:
        try:
            click.echo(dump_json(json.loads(content)))
        except ValueError:
            click.echo(content.decode("utf-8", "replace"))
    if status >= 400:
        raise CliError(f"{verb} {path}: HTTP {status}")
