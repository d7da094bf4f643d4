"""What the subcommands share: where calls go (keys, emulator), the generated operations, argument
conversion from ``name=value`` text, JSON-safe output and one-line errors."""

from __future__ import annotations

import contextlib
import datetime
import enum
import importlib
import inspect
import json
import os
import sys
import types
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .._session import Session

# Which key each API needs (file name in a --keys-dir: `<key>.json`, as `scp-async emulator --write-keys` writes).
API_KEYS: dict[str, str] = {
    "accounts": "cis",
    "entitlements": "cis",
    "provisioning": "cis",
    "saas_provisioning": "cis",
    "events": "cis",
    "service_manager": "service_manager",
    "resource_consumption": "resource_consumption",
    "audit_log": "audit_log",
    "xsuaa": "xsuaa",
    "cf_v3": "cf",
    "multiapps": "cf",
}
_ALIASES = {
    "cf": "cf_v3",
    "cis": "accounts",
    "sm": "service_manager",
    "mta": "multiapps",
    "usage": "resource_consumption",
}


class CliError(click.ClickException):
    """A one-line error; the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.code = exit_code


def api_name(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in API_KEYS:
        raise CliError(f"unknown API {text!r}; one of: {', '.join(API_KEYS)}", exit_code=2)
    return name


# -- where calls go ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """``--key FILE``, ``--keys-dir DIR`` or ``--emulator`` (in-process, no sockets)."""

    key: Path | None = None
    keys_dir: Path | None = None
    emulator: bool = False
    emulator_subaccounts: int = 20
    deadline: float | None = None

    def key_for(self, name: str) -> Any:
        if self.key is not None:
            return _key_file(self.key)
        if self.keys_dir is not None:
            return _key_file(self.keys_dir / f"{name}.json")
        raise CliError("say where to call: --key FILE, --keys-dir DIR (or SCP_ASYNC_KEYS_DIR) or --emulator", 2)


def _key_file(path: Path) -> Path:
    if not path.exists():
        raise CliError(f"{path}: no such key file")
    return path


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say where calls go (shared by call, curl, fan-out, inventory)."""
    options = [
        click.option("--key", type=click.Path(dir_okay=True, path_type=Path), help="Service key file of this API."),
        click.option(
            "--keys-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="SCP_ASYNC_KEYS_DIR",
            help="Directory of keys named cis.json, service_manager.json, cf.json, ... [env: SCP_ASYNC_KEYS_DIR]",
        ),
        click.option("--emulator", is_flag=True, help="Call an in-process emulator (no account, no network)."),
        click.option(
            "--emulator-subaccounts",
            type=click.IntRange(0, 5000),
            default=20,
            show_default=True,
            help="Size of the --emulator account.",
        ),
        click.option("--deadline", type=click.FloatRange(min=0.1), help="Seconds one call may take at most."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_target(
    key: Path | None, keys_dir: Path | None, emulator: bool, emulator_subaccounts: int, deadline: float | None
) -> Target:
    if emulator and (key is not None):
        raise CliError("--emulator and --key exclude each other", 2)
    return Target(
        key=key,
        keys_dir=None if emulator else keys_dir,
        emulator=emulator,
        emulator_subaccounts=emulator_subaccounts,
        deadline=deadline,
    )


class Keys:
    """Keys by name, from the emulator or from files."""

    def __init__(self, target: Target, emulated: Mapping[str, Any] | None) -> None:
        self._target = target
        self._emulated = emulated

    def __getitem__(self, name: str) -> Any:
        if self._emulated is not None:
            return self._emulated[name]
        return self._target.key_for(name)

    def has(self, name: str) -> bool:
        if self._emulated is not None:
            return name in self._emulated
        if self._target.key is not None:
            return True
        return self._target.keys_dir is not None and (self._target.keys_dir / f"{name}.json").exists()


@contextlib.asynccontextmanager
async def open_session(target: Target) -> AsyncIterator[tuple[Session, Keys]]:
    from .._options import DEFAULT_DEADLINE
    from .._session import Session

    deadline = target.deadline if target.deadline is not None else DEFAULT_DEADLINE
    if target.emulator:
        try:
            from ..emulator import Emulator
        except ImportError as exc:  # pragma: no cover - the emulator has no import-time extras today
            raise CliError(f"--emulator needs `pip install scp-async[emulator]` ({exc})") from None
        emulator = Emulator(subaccounts=target.emulator_subaccounts)
        async with Session(transport=emulator.transport(), deadline=deadline) as session:
            yield session, Keys(target, emulator.service_keys())
        return
    if target.key is None and target.keys_dir is None:
        raise CliError("say where to call: --key FILE, --keys-dir DIR (or SCP_ASYNC_KEYS_DIR) or --emulator", 2)
    async with Session(deadline=deadline) as session:
        yield session, Keys(target, None)


async def open_api(session: Session, keys: Keys, api: str) -> Any:
    """The typed namespace of ``api`` bound to its key."""
    key = keys[API_KEYS[api]]
    if API_KEYS[api] == "cis":
        return getattr(session.cloud_management(key), api)
    if api == "service_manager":
        return session.service_manager(key)
    if api == "resource_consumption":
        return session.resource_consumption(key)
    if api == "audit_log":
        return session.audit_log(key)
    if api == "xsuaa":
        return session.xsuaa(key)
    cf = await session.cloud_foundry(key=key)
    return cf.multiapps if api == "multiapps" else cf


# -- operations ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: Any
    required: bool
    positional: bool
    default: Any

    @property
    def key(self) -> str:
        return _normal(self.name)


@dataclass(frozen=True)
class OperationInfo:
    api: str
    name: str
    operation_id: str
    method: str
    path: str
    module: str

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(getattr(namespace_class(self.api), self.name, None)) or ""
        return doc.split(" `", 1)[0].strip()

    def parameters(self) -> list[Parameter]:
        function = importlib.import_module(f"scp_async_clients.{self.api}.{self.module}")._get_kwargs
        hints = typing.get_type_hints(function)
        result = []
        for p in inspect.signature(function).parameters.values():
            result.append(
                Parameter(
                    name=p.name,
                    annotation=hints.get(p.name, Any),
                    required=p.default is inspect.Parameter.empty,
                    positional=p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=p.default,
                )
            )
        return result


@cache
def operations(api: str) -> dict[str, OperationInfo]:
    index = importlib.import_module(f"scp_async_clients.{api}._operations")
    found: dict[str, OperationInfo] = {}
    for op in index.OPERATIONS:
        name = op.module.rsplit(".", 1)[1]
        found[name] = OperationInfo(api, name, op.operation_id, op.method, op.path, op.module)
    return dict(sorted(found.items()))


@cache
def namespace_class(api: str) -> type:
    from .._namespace import Namespace

    module = importlib.import_module(f"scp_async_clients.{api}._namespace")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Namespace)
            and value is not Namespace
            and not value.__name__.endswith("WithRawResponse")
        ):
            return value
    raise CliError(f"{api}: no namespace class")  # pragma: no cover - every generated package has one


def find_operation(api: str, text: str) -> OperationInfo:
    ops = operations(api)
    wanted = _normal(text)
    for name, op in ops.items():
        if wanted in (_normal(name), _normal(op.operation_id)):
            return op
    raise CliError(f"{api} has no operation {text!r}; see `scp-async call {api} --help`", exit_code=2)


def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def is_unset_type(tp: Any) -> bool:
    return getattr(tp, "__name__", "") == "Unset"


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if not is_unset_type(a) and a is not type(None)]
        return " | ".join(describe_type(a) for a in members)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"list[{describe_type(item)}]"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "{" + ",".join(str(m.value) for m in tp) + "}"
    return getattr(tp, "__name__", str(tp))


# -- name=value → typed value --------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def convert(text: str, tp: Any) -> Any:
    """``text`` as a value of type ``tp`` (raises ``ValueError`` saying what was expected)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if not is_unset_type(a) and a is not type(None)]
        # Strings accept anything: try them last.
        members.sort(key=lambda m: m is str)
        problems = []
        for member in members:
            try:
                return convert(text, member)
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(str(exc))
        raise ValueError("; ".join(problems) or f"cannot use {text!r}")
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        parts = json.loads(text) if text.lstrip().startswith("[") else [p for p in text.split(",") if p]
        return [p if not isinstance(p, str) else convert(p, item) for p in parts]
    if tp is Any or tp is object:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if tp is str:
        return text
    if tp is bool:
        lowered = text.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if tp is uuid.UUID:
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ValueError(f"expected a UUID, got {text!r}") from None
    if tp is datetime.datetime:
        return datetime.datetime.fromisoformat(text)
    if tp is datetime.date:
        return datetime.date.fromisoformat(text)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if str(member.value).lower() == text.lower() or member.name.lower() == text.lower():
                return member
        raise ValueError(f"expected one of {', '.join(str(m.value) for m in tp)}, got {text!r}")
    if hasattr(tp, "from_dict"):
        return tp.from_dict(json.loads(text))
    if isinstance(tp, type) and tp.__name__ == "File":
        raise ValueError("file uploads are not supported from the command line")
    raise ValueError(f"cannot convert to {describe_type(tp)}")


def read_body(spec: str) -> Any:
    """``@file.json``, ``-`` (standard input) or JSON text."""
    if spec == "-":
        text = sys.stdin.read()
        source = "standard input"
    elif spec.startswith("@"):
        path = Path(spec[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"--body {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
        source = str(path)
    else:
        text, source = spec, "--body"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"{source}: not JSON ({exc})", 2) from None


def body_value(data: Any, tp: Any) -> Any:
    """The decoded JSON ``data`` as the operation's body type (a model, a list of models, a plain value)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        problems = []
        for member in typing.get_args(tp):
            if is_unset_type(member) or member is type(None):
                continue
            try:
                return body_value(data, member)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                problems.append(f"{describe_type(member)}: {exc}")
        raise ValueError("; ".join(problems))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if not isinstance(data, list):
            raise ValueError("expected a JSON array")
        return [body_value(x, item) for x in data]
    if hasattr(tp, "from_dict"):
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return tp.from_dict(data)
    if isinstance(tp, type) and tp.__name__ == "File":
        raise ValueError("file uploads are not supported from the command line")
    return data


def bind_arguments(op: OperationInfo, pairs: Iterable[str], body: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``op`` from ``name=value`` pairs and ``--body``."""
    params = {p.key: p for p in op.parameters()}
    given: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{pair!r}: expected name=value", 2)
        param = params.get(_normal(name))
        if param is None or param.name == "body":
            known = ", ".join(p.name for p in params.values() if p.name != "body") or "none"
            raise CliError(f"{op.name} has no parameter {name!r} (parameters: {known})", 2)
        given.setdefault(param.name, []).append(value)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in params.values():
        if param.name == "body":
            if body is None:
                if param.required:
                    raise CliError(f"{op.name} needs a body: --body @file.json, --body - or --body '{{...}}'", 2)
                continue
            try:
                kwargs["body"] = body_value(read_body(body), param.annotation)
            except CliError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise CliError(f"--body: does not match {describe_type(param.annotation)} ({exc})", 2) from None
            continue
        values = given.get(param.name)
        if values is None:
            if param.required:
                raise CliError(f"{op.name} needs {param.name}=<{describe_type(param.annotation)}>", 2)
            continue
        try:
            if typing.get_origin(_strip_unset(param.annotation)) is list and len(values) > 1:
                converted: Any = [v for text in values for v in convert(text, param.annotation)]
            else:
                converted = convert(values[-1], param.annotation)
        except (ValueError, TypeError, KeyError) as exc:
            raise CliError(f"{param.name}: {exc}", 2) from None
        if param.positional:
            args.append(converted)
        else:
            kwargs[param.name] = converted
    if body is not None and "body" not in params:
        raise CliError(f"{op.name} takes no body", 2)
    return args, kwargs


def _strip_unset(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if not is_unset_type(a) and a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


# -- output --------------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON data for a model, a list of models, enums, dates, UUIDs (``Unset`` fields left out)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "to_dict"):
        try:
            return jsonable(value.to_dict())
        except (AttributeError, TypeError, ValueError):
            # A field the service sent as null where the spec wants an object: walk the attributes instead.
            return _walk_attrs(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if not is_unset_type(type(v))}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _walk_attrs(value: Any) -> Any:
    import attrs

    if not attrs.has(type(value)):
        return jsonable(value)
    out: dict[str, Any] = {}
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        if field.name == "additional_properties":
            out.update({str(k): jsonable(v) for k, v in item.items()})
        elif not is_unset_type(type(item)):
            out[field.name] = _walk_attrs(item) if attrs.has(type(item)) else jsonable(item)
    return out


def dump_json(data: Any, *, indent: int | None = 2) -> str:
    separators = None if indent else (",", ":")
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False, separators=separators)


def rows_of(data: Any) -> list[Any] | None:
    """The items of a list, or of a page (the one list-valued field of an object)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def emit(data: Any, output: str) -> None:
    """Write ``data`` to standard output as ``json``, ``jsonl``, ``yaml`` or ``table``."""
    if output == "json":
        click.echo(dump_json(data))
    elif output == "jsonl":
        rows = data if isinstance(data, list) else [data]
        for row in rows:
            click.echo(dump_json(row, indent=None))
    elif output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=True, allow_unicode=True), nl=False)
    else:
        _table(data)


def _table(data: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = rows_of(data)
    if rows is None:
        rows = [data]
    columns: list[str] = []
    for row in rows:
        if isinstance(row, dict):
            for name, value in row.items():
                if name not in columns and not isinstance(value, dict | list):
                    columns.append(name)
    table = Table(show_lines=False)
    if not columns:
        table.add_column("value")
        for row in rows:
            table.add_row(dump_json(row, indent=None))
    else:
        columns = columns[:8]
        for name in columns:
            table.add_column(name, overflow="fold")
        for row in rows:
            cells = row if isinstance(row, dict) else {}
            table.add_row(*("" if cells.get(c) is None else str(cells.get(c)) for c in columns))
    Console(width=max(120, os.get_terminal_size(1).columns if sys.stdout.isatty() else 160)).print(table)


OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    type=click.Choice(["json", "jsonl", "yaml", "table"]),
    default="json",
    show_default=True,
    help="Output format.",
)
