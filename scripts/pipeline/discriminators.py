"""Which member of a union of objects a response value is, for the union template.

openapi-python-client tries a union's members in order and takes the first that parses. Our enums keep
unknown values (lenient), so for objects that differ only in their contents the first member always
parses: a CF user-provided service instance came out as a `ManagedServiceInstance`. The generator parses a
schema's `discriminator` but drops it, so the union template asks this module instead (the
`discriminator` filter, see generate.py), and reads the member the value names; a value that names no
member (or no value) falls back to trying them in order.

The member is found, in this order, by
- a declared `discriminator` (`propertyName`, `mapping`; without a mapping the schema names) on a
  `oneOf`/`anyOf` of component schemas: the union with the same member classes takes it;
- otherwise a property all members have whose `enum`/`const` string values tell them apart, such as
  `type: [managed]` against `type: [user-provided]` (a property every member requires first, then by name).
"""

from __future__ import annotations

from typing import Any

from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties import (
    ConstProperty,
    EnumProperty,
    LiteralEnumProperty,
    ModelProperty,
    UnionProperty,
)

_COMPONENT = "#/components/schemas/"


def _plain(value: Any) -> str:
    untrusted = getattr(value, "get_untrusted_value", None)
    return str(untrusted() if callable(untrusted) else value)


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _declared(node: Any, pointer: str, found: dict[frozenset[str], tuple[str, dict[str, str], str]]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _declared(item, f"{pointer}/{index}", found)
        return
    if not isinstance(node, dict):
        return
    discriminator = node.get("discriminator")
    alternatives = node.get("oneOf") or node.get("anyOf")
    if isinstance(discriminator, dict) and isinstance(alternatives, list):
        refs = [a.get("$ref") for a in alternatives if isinstance(a, dict)]
        members = {
            _unescape(r.removeprefix(_COMPONENT)) for r in refs if isinstance(r, str) and r.startswith(_COMPONENT)
        }
        mapping = discriminator.get("mapping") or {name: f"{_COMPONENT}{name}" for name in members}
        cases = {
            str(value): _unescape(str(target).removeprefix(_COMPONENT))
            for value, target in mapping.items()
            if _unescape(str(target).removeprefix(_COMPONENT)) in members
        }
        entry = (str(discriminator.get("propertyName")), cases, pointer)
        previous = found.setdefault(frozenset(members), entry)
        if previous[:2] != entry[:2]:
            raise ValueError(f"discriminators at {previous[2]} and {pointer} tell the same members apart differently")
    for key, value in node.items():
        _declared(value, f"{pointer}/{key}", found)


def _values(prop: Any) -> set[str]:
    """The string values a property may take, if its schema lists them (enum or const)."""
    if isinstance(prop, EnumProperty):
        values: set[Any] = set(prop.values.values())
    elif isinstance(prop, LiteralEnumProperty):
        values = set(prop.values)
    elif isinstance(prop, ConstProperty):
        values = {prop.value.raw_value}
    elif isinstance(prop, UnionProperty):  # a nullable enum
        values = set().union(*(_values(inner) for inner in prop.inner_properties))
    else:
        return set()
    return {v for v in values if isinstance(v, str)}


class Discriminators:
    """The `discriminator` filter: `{"property": json_name, "cases": [(value, member_index), ...]}` or None."""

    def __init__(self, document: dict[str, Any], data: GeneratorData) -> None:
        self._models = {_plain(m.class_info.name): m for m in data.models}
        class_of = {
            _unescape(_plain(m.name).removeprefix(_COMPONENT[1:])): _plain(m.class_info.name) for m in data.models
        }
        found: dict[frozenset[str], tuple[str, dict[str, str], str]] = {}
        _declared(document, "", found)
        self._declared: dict[frozenset[str], tuple[str, dict[str, str]]] = {}
        for members, (name, cases, _) in found.items():
            if all(m in class_of for m in members):
                key = frozenset(class_of[m] for m in members)
                self._declared[key] = (name, {value: class_of[target] for value, target in cases.items()})

    def __call__(self, union: Any) -> dict[str, Any] | None:
        members = {
            _plain(inner.class_info.name): index
            for index, inner in enumerate(getattr(union, "inner_properties", []))
            if isinstance(inner, ModelProperty)
        }
        if len(members) < 2:
            return None
        declared = self._declared.get(frozenset(members))
        if declared is not None:
            name, by_value = declared
            cases = sorted((members[cls], value) for value, cls in by_value.items())
            return {"property": name, "cases": [(value, index) for index, value in cases]}
        return self._from_members(members)

    def _from_members(self, members: dict[str, int]) -> dict[str, Any] | None:
        properties = []
        for cls in members:
            model = self._models.get(cls)
            if model is None:
                return None
            required = {_plain(p.name): p for p in model.required_properties or []}
            optional = {_plain(p.name): p for p in model.optional_properties or []}
            properties.append((required, {**optional, **required}))
        shared = set.intersection(*(set(every) for _, every in properties))
        always = set.intersection(*(set(required) for required, _ in properties))
        for name in sorted(shared, key=lambda n: (n not in always, n)):
            values = [_values(every[name]) for _, every in properties]
            if all(values) and sum(map(len, values)) == len(set().union(*values)):
                cases = sorted(
                    (index, value) for index, vs in zip(members.values(), values, strict=True) for value in vs
                )
                return {"property": name, "cases": [(value, index) for index, value in cases]}
        return None
