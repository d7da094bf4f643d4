"""Our vendor extensions to OpenAPI (`x-scp-...`, kept by normalize) that change what the generator writes.

`x-scp-date-time: epoch-milliseconds`, beside `type: integer` on a property of a component schema: the
service sends this date-time as milliseconds since 1970-01-01 UTC. The spec states the wire type, so any
tool that generates from our specs reads what the service sends; our own models still type the field as
`datetime.datetime`. After openapi-python-client has parsed a document, `apply_epoch_milliseconds` replaces
each such integer property by an `EpochMillisecondsProperty`: a date-time whose JSON form is an int, rendered
by `templates/property_templates/epoch_milliseconds_property.py.jinja` (`from_dict` reads it like every
date-time, `to_dict` writes it back as epoch milliseconds, so a round trip keeps the spec's JSON type).

A marked property of a schema is marked in every schema that takes it in through `allOf`. The extension
anywhere else (a parameter, an inline object), with another value, or on a schema that is not an integer
is an error naming the JSON pointer: a marker that silently did nothing would leave an `int` in the model.

Not ours but OpenAPI's, and ignored by openapi-python-client: `style: form, explode: false` on an array
query parameter (CF's list filters, set by the overlay rule `comma-separated-lists`) sends the list as one
value, `a,b,c`, where the generator would repeat the key. `apply_comma_separated` types each such parameter
as a `CommaSeparatedListProperty` (a list in Python, rendered by
`templates/property_templates/comma_list_property.py.jinja`); another style with `explode: false` is an error.
Likewise `style: deepObject` on an object query parameter (CF's `fields`, set by the overlay rule
`deep-object-parameters`): the generator would send its members as bare `key=value` pairs;
`apply_deep_objects` types it as a `DeepObjectProperty`, whose members go as `name[key]=value` (a list value
comma-separated), rendered by `templates/property_templates/deep_object_property.py.jinja`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import attrs
from attrs import define, evolve
from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties import (
    DateTimeProperty,
    IntProperty,
    ListProperty,
    ModelProperty,
    UnionProperty,
)

DATE_TIME_KEY = "x-scp-date-time"
EPOCH_MILLISECONDS = "epoch-milliseconds"
_COMPONENT = "/components/schemas/"
_PLACE = re.compile(r"^/components/schemas/(?P<schema>[^/]+)(?:/allOf/\d+)?/properties/(?P<property>[^/]+)$")


@define
class EpochMillisecondsProperty(DateTimeProperty):
    """A `datetime.datetime` in Python, an int (epoch milliseconds) in JSON."""

    _json_type_string: ClassVar[str] = "int"
    template: ClassVar[str] = "epoch_milliseconds_property.py.jinja"


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _markers(node: Any, pointer: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if DATE_TIME_KEY in node:
            found.append((pointer, node))
        for key, value in node.items():
            found.extend(_markers(value, f"{pointer}/{_escape(str(key))}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_markers(value, f"{pointer}/{index}"))
    return found


def epoch_millisecond_properties(document: dict[str, Any]) -> dict[str, set[str]]:
    """Component schema name -> JSON names of its properties sent as epoch milliseconds (own or via allOf).

    Raises ValueError naming the pointer of a marker it cannot honour.
    """
    own: dict[str, set[str]] = {}
    for pointer, node in _markers(document):
        where = f"{DATE_TIME_KEY} at {pointer or '/'}"
        if node[DATE_TIME_KEY] != EPOCH_MILLISECONDS:
            raise ValueError(f"{where}: unknown value {node[DATE_TIME_KEY]!r} (known: {EPOCH_MILLISECONDS})")
        place = _PLACE.match(pointer)
        if place is None:
            raise ValueError(f"{where}: only properties of component schemas can be marked")
        kinds = node.get("type")
        if "integer" not in (kinds if isinstance(kinds, list) else [kinds]):
            raise ValueError(f"{where}: {EPOCH_MILLISECONDS} needs `type: integer`, the JSON type the service sends")
        if "default" in node:
            raise ValueError(f"{where}: a default is not supported")
        own.setdefault(_unescape(place["schema"]), set()).add(_unescape(place["property"]))

    schemas = document.get("components", {}).get("schemas", {})

    def marked(name: str, seen: frozenset[str]) -> set[str]:
        result = set(own.get(name, ()))
        for part in schemas.get(name, {}).get("allOf", []) if isinstance(schemas.get(name), dict) else []:
            ref = part.get("$ref") if isinstance(part, dict) else None
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                parent = _unescape(ref.removeprefix("#/components/schemas/"))
                if parent not in seen:
                    result |= marked(parent, seen | {parent})
        return result

    return {name: found for name in schemas if (found := marked(name, frozenset({name})))}


def _plain(value: Any) -> str:
    untrusted = getattr(value, "get_untrusted_value", None)
    return str(untrusted() if callable(untrusted) else value)


def _epoch(prop: Any, where: str) -> Any:
    if isinstance(prop, IntProperty):
        return EpochMillisecondsProperty(
            name=prop.name,
            required=prop.required,
            default=None,
            python_name=prop.python_name,
            description=prop.description,
            example=prop.example,
        )
    if isinstance(prop, UnionProperty) and any(isinstance(inner, IntProperty) for inner in prop.inner_properties):
        return evolve(
            prop,
            inner_properties=[_epoch(i, where) if isinstance(i, IntProperty) else i for i in prop.inner_properties],
        )
    raise ValueError(f"{DATE_TIME_KEY} on {where}: the generator made a {type(prop).__name__} of it, not an int")


def apply_epoch_milliseconds(data: GeneratorData, marked: dict[str, set[str]]) -> None:
    """Type the marked integer properties of the parsed models as date-times (see the module docstring)."""
    applied: set[tuple[str, str]] = set()
    for model in data.models:
        # A component schema's model is named by its reference path; inline objects cannot be marked.
        schema = _unescape(_plain(model.name).removeprefix(_COMPONENT))
        names = marked.get(schema)
        if not names:
            continue
        for props in (model.required_properties or [], model.optional_properties or []):
            for index, prop in enumerate(props):
                name = _plain(prop.name)
                if name in names:
                    props[index] = _epoch(prop, f"{schema}.{name}")
                    if model.relative_imports is not None:
                        model.relative_imports.update(props[index].get_imports(prefix=".."))
                    applied.add((schema, name))
    missing = sorted(f"{s}.{p}" for s, names in marked.items() for p in names if (s, p) not in applied)
    if missing:
        raise ValueError(f"{DATE_TIME_KEY}: no generated model has the marked propert(ies) {', '.join(missing)}")


# -- comma-separated list parameters --------------------------------------------------------------------


@define
class CommaSeparatedListProperty(ListProperty):
    """A list in Python, one comma-separated value in the query string."""

    template: ClassVar[str] = "comma_list_property.py.jinja"


@define
class DeepObjectProperty(ModelProperty):
    """A model in Python, `name[key]=value` pairs in the query string."""

    template: ClassVar[str] = "deep_object_property.py.jinja"


def comma_separated_parameters(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> the names of its query parameters sent as one comma-separated value.

    Raises ValueError for `explode: false` with a style other than form (pipe- or space-delimited).
    """
    return _query_parameters(document, "comma")


def deep_object_parameters(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> the names of its query parameters of style deepObject (plain names only: each
    one is written into the generated code's key names)."""
    return _query_parameters(document, "deep")


def _query_parameters(document: dict[str, Any], kind: str) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}

    def resolve(node: Any) -> Any:
        ref = node.get("$ref") if isinstance(node, dict) else None
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = document
            for part in ref[2:].split("/"):
                target = target.get(_unescape(part), {})
            return target
        return node

    for path, item in (document.get("paths") or {}).items():
        item = resolve(item)
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            for raw in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
                param = resolve(raw)
                if not isinstance(param, dict) or param.get("in") != "query":
                    continue
                if kind == "deep":
                    if param.get("style") != "deepObject":
                        continue
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", str(param.get("name"))):
                        raise ValueError(f"{method.upper()} {path}: deepObject parameter {param.get('name')!r}")
                    found.setdefault((method.upper(), path), set()).add(str(param.get("name")))
                    continue
                if param.get("explode") is not False:
                    continue
                if param.get("style", "form") != "form":
                    raise ValueError(
                        f"{method.upper()} {path} parameter {param.get('name')!r}: explode false with style "
                        f"{param['style']!r} is not supported (only form: a,b,c)"
                    )
                found.setdefault((method.upper(), path), set()).add(str(param.get("name")))
    return found


def apply_comma_separated(data: GeneratorData, marked: dict[tuple[str, str], set[str]]) -> None:
    """Type the marked array query parameters as :class:`CommaSeparatedListProperty` (a scalar stays as it is:
    `explode` changes nothing for it)."""
    for collection in data.endpoint_collections_by_tag.values():
        for endpoint in collection.endpoints:
            names = marked.get((_plain(endpoint.method).upper(), _plain(endpoint.path)))
            if not names:
                continue
            for index, prop in enumerate(endpoint.query_parameters):
                if _plain(prop.name) in names and type(prop) is ListProperty:
                    endpoint.query_parameters[index] = CommaSeparatedListProperty(
                        name=prop.name,
                        required=prop.required,
                        default=prop.default,
                        python_name=prop.python_name,
                        description=prop.description,
                        example=prop.example,
                        inner_property=prop.inner_property,
                    )


def apply_deep_objects(data: GeneratorData, marked: dict[tuple[str, str], set[str]]) -> None:
    """Type the marked object query parameters as :class:`DeepObjectProperty`; a parameter the generator did
    not make a model of is an error (its members would go out bare)."""
    for collection in data.endpoint_collections_by_tag.values():
        for endpoint in collection.endpoints:
            where = f"{_plain(endpoint.method).upper()} {_plain(endpoint.path)}"
            names = marked.get((_plain(endpoint.method).upper(), _plain(endpoint.path)))
            if not names:
                continue
            for index, prop in enumerate(endpoint.query_parameters):
                if _plain(prop.name) not in names:
                    continue
                if type(prop) is not ModelProperty:
                    raise ValueError(f"{where}: deepObject {_plain(prop.name)!r} became a {type(prop).__name__}")
                fields = {f.alias: getattr(prop, f.name) for f in attrs.fields(ModelProperty)}
                endpoint.query_parameters[index] = DeepObjectProperty(**fields)
