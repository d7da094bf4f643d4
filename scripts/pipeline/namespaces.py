"""Typed async facade methods for every generated operation: `scp_async_clients.<api>._namespace`.

For each operation the generator produced (`api/<tag>/<operation>.py`), write one method named after
the operation, with the same parameters and the success type as its return type, into a class that
`scp_async` hands to users (e.g. `session.cloud_foundry(...).apps` → `CfV3Api`). The method imports
its operation module on first call, so an API's namespace costs nothing until it is used, and hands
`scp_async.Namespace` the module (whose `_get_kwargs` builds the request and `_build_response` parses
it) with the non-error statuses its spec lists (any other one is an `UnexpectedStatusError`).

A twin class (`...WithRawResponse`) returns the generated `Response[...]` (status, headers, parsed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE_MODULE = "_namespace.py"
# Names the namespace module imports itself; the operation modules' copies would repeat them.
_PROVIDED = frozenset({"Any", "cast", "UNSET", "Unset", "Response"})


@dataclass
class _Parameter:
    name: str
    annotation: str
    default: str | None
    keyword_only: bool


def class_name(api: str) -> str:
    return "".join(part.capitalize() for part in api.split("_")) + "Api"


def _success_statuses(tree: ast.Module) -> list[int]:
    """The statuses below 400 that the generated `_parse_response` has a branch for."""
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_parse_response")
    statuses = set()
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Compare)
            and ast.unparse(node.left) == "response.status_code"
            and isinstance(node.ops[0], ast.Eq)
            and isinstance(node.comparators[0], ast.Constant)
            and isinstance(node.comparators[0].value, int)
            and node.comparators[0].value < 400
        ):
            statuses.add(node.comparators[0].value)
    return sorted(statuses)


def _signature(source: str, module: Path) -> tuple[list[_Parameter], list[str]]:
    """Parameters of the generated `asyncio_detailed` (minus `client`) and the module's imports."""
    tree = ast.parse(source)
    imports = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 3 and node.module and node.module != "client":
            names = ", ".join(alias.name for alias in node.names if alias.name not in _PROVIDED)
            if names:
                imports.append(f"from .{node.module} import {names}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in ("http", "httpx"):
            names = ", ".join(alias.name for alias in node.names if alias.name not in _PROVIDED)
            if names:
                imports.append(f"from {node.module} import {names}")
        elif isinstance(node, ast.Import) and all(a.name not in ("httpx",) for a in node.names):
            imports.append(ast.unparse(node))
    function = next(
        node for node in tree.body if isinstance(node, ast.AsyncFunctionDef) and node.name == "asyncio_detailed"
    )
    arguments = function.args
    parameters = []
    positional_defaults = [None] * (len(arguments.args) - len(arguments.defaults)) + list(arguments.defaults)
    for arg, default in zip(arguments.args, positional_defaults, strict=True):
        parameters.append(_parameter(source, arg, default, keyword_only=False))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if arg.arg != "client":
            parameters.append(_parameter(source, arg, default, keyword_only=True))
    return parameters, imports


def _parameter(source: str, arg: ast.arg, default: ast.expr | None, keyword_only: bool) -> _Parameter:
    annotation = ast.get_source_segment(source, arg.annotation) if arg.annotation else "Any"
    text = ast.get_source_segment(source, default) if default is not None else None
    # Defaults that name a model (an enum member) would import it at class definition: the server applies
    # the same default when the argument is left out, so leave it out instead.
    if text is not None and text != "UNSET" and re.search(r"[A-Z]\w*\.", text):
        text = "UNSET"
    return _Parameter(arg.arg, annotation or "Any", text, keyword_only)


def _method(
    operation: dict[str, Any], parameters: list[_Parameter], returns: str, statuses: list[int], raw: bool
) -> str:
    name = operation["module"].rsplit(".", 1)[-1]
    tag_module = operation["module"].rsplit(".", 1)[0]
    positional = [p for p in parameters if not p.keyword_only]
    keyword = [p for p in parameters if p.keyword_only]
    signature = ["self"]
    signature += [f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default else "") for p in positional]
    if keyword:
        signature.append("*")
        signature += [f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default else "") for p in keyword]
    forwarded = [p.name for p in positional]
    given = ", ".join(f"{p.name}={p.name}" for p in keyword)
    call = ", ".join([*forwarded, f"**_given({given})" if keyword else ""]).rstrip(", ")
    summary = operation.get("summary") or ""
    doc = f"{summary} " if summary else ""
    doc += f"`{operation['method']} {operation['path']}` ({operation['operation_id']})."
    result = f"Response[{returns}]" if raw else returns
    runner = "_call_raw" if raw else "_call"
    return (
        f"    async def {name}({', '.join(signature)}) -> {result}:\n"
        f'        """{doc}"""\n'
        f"        from .{tag_module} import {name} as operation\n\n"
        f"        return await self.{runner}({operation['operation_id']!r}, operation, {tuple(statuses)!r}"
        f"{', ' + call if call else ''})\n"
    )


def render(api: str, title: str, package_dir: Path, operations: list[dict[str, Any]]) -> str:
    """The `_namespace.py` source for one generated API package."""
    type_imports: set[str] = {"from .types import Response, Unset"}
    methods: list[str] = []
    raw_methods: list[str] = []
    for operation in sorted(operations, key=lambda op: op["module"].rsplit(".", 1)[-1]):
        path = package_dir / (operation["module"].replace(".", "/") + ".py")
        source = path.read_text(encoding="utf-8")
        parameters, imports = _signature(source, path)
        statuses = _success_statuses(ast.parse(source))
        type_imports.update(imports)
        type_imports.update(operation["success_imports"])
        methods.append(_method(operation, parameters, operation["success_type"], statuses, raw=False))
        raw_methods.append(_method(operation, parameters, operation["success_type"], statuses, raw=True))
    name = class_name(api)
    checking = "\n".join(f"    {line}" for line in sorted(type_imports))
    return (
        f'"""Typed async methods for every operation of the {title} API, named after its operationIds."""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import TYPE_CHECKING, Any\n\n"
        "from scp_async._namespace import Namespace, given as _given\n\n"
        "from .types import UNSET\n\n"
        f"if TYPE_CHECKING:\n{checking}\n\n\n"
        f"class {name}(Namespace):\n"
        f'    """{title}: one method per operation; each returns the parsed success body.\n\n'
        f"    `.with_raw_response` has the same methods returning the whole response (status, headers).\n"
        f'    """\n\n'
        f'    _client_module = "scp_async_clients.{api}.client"\n\n'
        "    @property\n"
        f"    def with_raw_response(self) -> {name}WithRawResponse:\n"
        '        """The same operations, returning `Response` objects instead of parsed bodies."""\n'
        f"        return {name}WithRawResponse(self._context)\n\n"
        + "\n".join(methods)
        + f"\n\nclass {name}WithRawResponse(Namespace):\n"
        f'    """{title} operations returning the whole response: status code, headers, parsed body."""\n\n'
        f'    _client_module = "scp_async_clients.{api}.client"\n\n'
        + "\n".join(raw_methods)
        + f"\n\n__all__ = [{name!r}, {name + 'WithRawResponse'!r}]\n"
    )
