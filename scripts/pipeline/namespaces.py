"""Typed async facade methods for every generated operation: `scp_async_clients.<api>._namespace`.

For each operation the generator produced (`api/<tag>/<operation>.py`), write one method named after
the operation, with the same parameters and the success type as its return type, into a class that
`scp_async` hands to users (e.g. `session.cloud_foundry(...).apps` → `CfV3Api`). The method finds
its operation module in the namespace module's `OperationModules`, which imports it on first call, so an
API's namespace costs nothing until it is used, and hands
`scp_async.Namespace` the module (whose `_get_kwargs` builds the request and `_build_response` parses
it) with the non-error statuses its spec lists (any other one is an `UnexpectedStatusError`).

A twin class (`...WithRawResponse`) returns the generated `Response[...]` (status, headers, parsed).

Each method's docstring ends with a link to the operation's official reference page (reference.py).

Each method checks its arguments against their declared types before anything is built or sent, with
inline `isinstance` tests written here (no reflection per call): a wrong type raises `TypeError`, an empty
path segment `ValueError`, both naming the method and the parameter. GUID parameters (`UUID` in the spec)
take a `str` as well, as the URL needs only its text; GUID parameters the spec types as strings (path
segments named `...guid`, query filters named `...guid` or `...guids`) take a `UUID` as well.

Every method ends with the keyword-only per-call options (`timeout=`, `deadline=`, `max_retries=`,
`extra_headers=`, `extra_query=`, see `scp_async._namespace`), which `Namespace._call` checks and hands to
the session for that call only. An operation parameter of one of those names would be shadowed:
generation fails instead.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .reference import reference_link

NAMESPACE_MODULE = "_namespace.py"
# Names the namespace module imports itself; the operation modules' copies would repeat them.
_PROVIDED = frozenset({"Any", "cast", "UNSET", "Unset", "Response"})
# The per-call options every method takes after the operation's own parameters (scp_async._namespace's
# CALL_OPTIONS, in its order): annotation and default.
OPTIONS: dict[str, tuple[str, str]] = {
    "timeout": ("TimeoutTypes | NotGiven", "NOT_GIVEN"),
    "deadline": ("float | NotGiven | None", "NOT_GIVEN"),
    "max_retries": ("int | NotGiven", "NOT_GIVEN"),
    "extra_headers": ("Mapping[str, str] | None", "None"),
    "extra_query": ("Mapping[str, Any] | None", "None"),
}
# What the option annotations need; an operation importing a type of the same name would clash.
_OPTION_IMPORTS = {
    "from collections.abc import Mapping": "Mapping",
    "from scp_async._options import NotGiven, TimeoutTypes": "NotGiven TimeoutTypes",
}


@dataclass
class _Parameter:
    name: str
    annotation: str
    default: str | None
    keyword_only: bool
    deep_object: bool = False  # also taken as a mapping, made into the model before the request is built


# Scalar annotations: the runtime types they accept and how an error message names them.
_SCALARS: dict[str, tuple[tuple[str, ...], str]] = {
    "str": (("str",), "str"),
    "int": (("int",), "int"),
    "float": (("int", "float"), "float"),
    "bool": (("bool",), "bool"),
    "UUID": (("str", "_uuid.UUID"), "str or UUID"),
}


@dataclass
class _Accepted:
    """What one parameter accepts at run time, collected from the alternatives of its annotation."""

    types: list[str]
    names: list[str]
    lists: list[_Accepted]
    unset: bool = False
    none: bool = False
    no_bool: bool = False  # int/float declared without bool: True is an int to isinstance, not to the spec

    def add(self, expression: ast.expr, where: str) -> None:
        if isinstance(expression, ast.BinOp) and isinstance(expression.op, ast.BitOr):
            self.add(expression.left, where)
            self.add(expression.right, where)
        elif isinstance(expression, ast.Constant) and expression.value is None:
            self.none = True
        elif isinstance(expression, ast.Name) and expression.id == "Unset":
            self.unset = True
        elif isinstance(expression, ast.Name) and expression.id in _SCALARS:
            types, name = _SCALARS[expression.id]
            self.types += [t for t in types if t not in self.types]
            self.names.append(name)
            self.no_bool |= expression.id in ("int", "float")
        elif isinstance(expression, ast.Name) and expression.id[:1].isupper():
            self.types.append(f"operation.{expression.id}")  # a model or enum the operation module imports
            self.names.append(expression.id)
        elif (
            isinstance(expression, ast.Subscript)
            and isinstance(expression.value, ast.Name)
            and expression.value.id == "Mapping"
        ):
            self.types.append("_Mapping")  # imported at run time where a method takes one
            self.names.append("a mapping")
        elif (
            isinstance(expression, ast.Subscript)
            and isinstance(expression.value, ast.Name)
            and expression.value.id == "list"
        ):
            item = _Accepted([], [], [])
            item.add(expression.slice, where)
            if item.lists or item.unset or item.none:
                raise ValueError(f"{where}: no argument check for a list of {ast.unparse(expression.slice)}")
            self.lists.append(item)
            self.names.append(f"a list of {item.description()}")
        else:
            raise ValueError(f"{where}: no argument check for the annotation {ast.unparse(expression)!r}")

    def description(self) -> str:
        names = list(dict.fromkeys(self.names + (["None"] if self.none else [])))
        if "str or UUID" in names and "str" in names:  # a GUID widened to `UUID | str`
            names.remove("str")
        return " or ".join(names)

    def classes(self) -> str:
        return self.types[0] if len(self.types) == 1 else f"({', '.join(self.types)})"

    def wrong(self, value: str) -> str:
        """A condition that is true when `value` is none of the accepted types."""
        accepted = []
        if self.types:
            test = f"isinstance({value}, {self.classes()})"
            if self.no_bool and "bool" not in self.types:
                test = f"{test} and type({value}) is not bool"
            accepted.append(test)
        for item in self.lists:
            exclude = item.no_bool and "bool" not in item.types
            accepted.append(f"_list_of({value}, {item.classes()}{', no_bool=True' if exclude else ''})")
        if self.none:
            accepted.append(f"{value} is None")
        if len(accepted) == 1 and " and " not in accepted[0] and not accepted[0].endswith(" is None"):
            return f"not {accepted[0]}"
        return f"not ({' or '.join(accepted)})"


def _checks(method: str, parameters: list[_Parameter]) -> list[str]:
    """The argument checks at the top of a method's body."""
    lines = []
    for parameter in parameters:
        accepted = _Accepted([], [], [])
        accepted.add(ast.parse(parameter.annotation, mode="eval").body, f"{method}({parameter.name})")
        wrong = accepted.wrong(parameter.name)
        if accepted.unset or parameter.default == "UNSET":
            wrong = f"{parameter.name} is not UNSET and {wrong}"
        lines += [
            f"        if {wrong}:",
            f"            raise _wrong({method!r}, {parameter.name!r}, {accepted.description()!r}, {parameter.name})",
        ]
        if not parameter.keyword_only and set(accepted.types) <= {"str", "_uuid.UUID"}:
            # A path segment: an empty one would address another resource (or the list).
            lines += [f"        if not {parameter.name}:", f"            raise _empty({method!r}, {parameter.name!r})"]
    return lines


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
    annotation = annotation or "Any"
    if re.search(r"\bUUID\b", annotation) and not re.search(r"\bstr\b", annotation):
        annotation = re.sub(r"\bUUID\b", "UUID | str", annotation)  # a GUID's text is as good as the UUID
    elif not keyword_only and annotation == "str" and re.search(r"guid$", arg.arg, re.IGNORECASE):
        # A GUID in the path that its spec types as a plain string (the cis and XSUAA APIs): a UUID is
        # as good as its text there (the generated code formats it with str()).
        annotation = "UUID | str"
    elif keyword_only and re.search(r"guids?$", arg.arg, re.IGNORECASE):
        # GUID filters in the query (CF's space_guids=...): the GUIDs a model hands out are UUIDs, and
        # `list_apps(space_guids=[s.guid for s in spaces])` must work; the query takes their text (str()).
        annotation = re.sub(r"^(list\[)?str\b(\])?", lambda m: f"{m[1] or ''}UUID | str{m[2] or ''}", annotation)
    return _Parameter(arg.arg, annotation, text, keyword_only)


def _method(
    operation: dict[str, Any],
    parameters: list[_Parameter],
    returns: str,
    statuses: list[int],
    raw: bool,
    link: str | None = None,
) -> str:
    name = operation["module"].rsplit(".", 1)[-1]
    positional = [p for p in parameters if not p.keyword_only]
    keyword = [p for p in parameters if p.keyword_only]
    signature = ["self"]
    signature += [f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default else "") for p in positional]
    signature.append("*")
    signature += [f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default else "") for p in keyword]
    signature += [f"{option}: {annotation} = {default}" for option, (annotation, default) in OPTIONS.items()]
    forwarded = [p.name for p in positional] + [f"{option}={option}" for option in OPTIONS]
    given = ", ".join(f"{p.name}={p.name}" for p in keyword)
    call = ", ".join([*forwarded, f"**_given({given})" if keyword else ""]).rstrip(", ")
    summary = operation.get("summary") or ""
    doc = f"{summary} " if summary else ""
    doc += f"`{operation['method']} {operation['path']}` ({operation['operation_id']})."
    if link:
        doc += f"\n\n        Reference: {link}\n        "
    result = f"Response[{returns}]" if raw else returns
    runner = "_call_raw" if raw else "_call"
    checks = "".join(f"{line}\n" for line in _checks(name, parameters))
    for p in parameters:
        if p.deep_object:
            model = p.annotation.split(" | ", 1)[0]
            checks += f"        if isinstance({p.name}, _Mapping):\n"
            checks += f"            {p.name} = operation.{model}.from_dict(dict({p.name}))\n"
    return (
        f"    async def {name}({', '.join(signature)}) -> {result}:\n"
        f'        """{doc}"""\n'
        f"        operation = _operations[{operation['module']!r}]\n\n"
        f"{checks}"
        f"        return await self.{runner}({operation['operation_id']!r}, operation, {tuple(statuses)!r}"
        f"{', ' + call if call else ''})\n"
    )


def option_collisions(api: str, operation_id: str, parameters: list[_Parameter], imports: list[str]) -> list[str]:
    """Operation parameters (or imported types) named like a per-call option or its annotation's types."""
    found = [
        f"{operation_id} has a parameter {p.name!r}, which every method takes as a per-call option; rename it "
        f"(a parameter rename in specs/overlays/{api}.yaml)"
        for p in parameters
        if p.name in OPTIONS
    ]
    taken = {name for names in _OPTION_IMPORTS.values() for name in names.split()}
    for line in imports:
        if not line.startswith("from ."):  # the same standard names are no clash
            continue
        clash = taken & set(re.findall(r"\w+", line.partition(" import ")[2]))
        if clash:
            found.append(f"{operation_id} imports {sorted(clash)}, a name the per-call options need; rename the schema")
    return found


def render(api: str, title: str, package_dir: Path, operations: list[dict[str, Any]]) -> str:
    """The `_namespace.py` source for one generated API package (ValueError: what cannot be generated)."""
    type_imports: set[str] = {"from .types import Response, Unset", *_OPTION_IMPORTS}
    runtime_mapping = False  # whether a method takes a mapping for a deepObject (and tests for one)
    methods: list[str] = []
    raw_methods: list[str] = []
    for operation in sorted(operations, key=lambda op: op["module"].rsplit(".", 1)[-1]):
        path = package_dir / (operation["module"].replace(".", "/") + ".py")
        source = path.read_text(encoding="utf-8")
        parameters, imports = _signature(source, path)
        for parameter in parameters:
            if parameter.name in operation.get("deep_objects", ()):
                # A deepObject (CF's fields) is given as a plain mapping too: {"space": ["name", "guid"]}.
                parameter.annotation = re.sub(
                    r"^(\w+) \| Unset$", r"\1 | Mapping[str, str | list[str]] | Unset", parameter.annotation
                )
                parameter.deep_object = runtime_mapping = True
        collisions = option_collisions(api, operation["operation_id"], parameters, imports)
        if collisions:
            raise ValueError(collisions[0])
        statuses = _success_statuses(ast.parse(source))
        type_imports.update(imports)
        type_imports.update(operation["success_imports"])
        if any(re.search(r"\bUUID\b", parameter.annotation) for parameter in parameters):
            type_imports.add("from uuid import UUID")
        link = reference_link(api, operation["path"], operation.get("docs_anchor"))
        methods.append(_method(operation, parameters, operation["success_type"], statuses, False, link))
        raw_methods.append(_method(operation, parameters, operation["success_type"], statuses, True, link))
    name = class_name(api)
    checking = "\n".join(f"    {line}" for line in sorted(type_imports))
    return (
        f'"""Typed async methods for every operation of the {title} API, named after its operationIds."""\n\n'
        "from __future__ import annotations\n\n"
        "import uuid as _uuid\n"
        + ("from collections.abc import Mapping as _Mapping\n" if runtime_mapping else "")
        + "from typing import TYPE_CHECKING, Any\n\n"
        "from scp_async._namespace import NOT_GIVEN, Namespace, OperationModules, empty as _empty, given as _given, "
        "list_of as _list_of, wrong_type as _wrong\n\n"
        "from .types import UNSET\n\n"
        f"if TYPE_CHECKING:\n{checking}\n\n"
        "# The operation modules, each imported on its method's first call.\n"
        "_operations = OperationModules(__package__)\n\n\n"
        f"class {name}(Namespace):\n"
        f'    """{title}: one method per operation; each returns the parsed success body.\n\n'
        f"    `.with_raw_response` has the same methods returning the whole response (status, headers).\n"
        f"    Every method takes `timeout=`, `deadline=`, `max_retries=`, `extra_headers=` and `extra_query=` for\n"
        f"    that call only.\n"
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
