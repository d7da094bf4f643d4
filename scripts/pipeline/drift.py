"""Step 5: what changed between the committed specs and freshly fetched ones.

Compares operations, their parameters and request bodies, and the fields of component schemas.
A change is *breaking* when code written against the old document can fail against the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._common import iter_operations


@dataclass(frozen=True, order=True)
class Change:
    where: str
    what: str
    breaking: bool

    def line(self) -> str:
        return f"{'BREAKING ' if self.breaking else ''}{self.where}: {self.what}"


def _type_of(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    kind = "|".join(map(str, kind)) if isinstance(kind, list) else str(kind)
    if kind == "array":
        return f"array<{_type_of(schema.get('items'))}>"
    return f"{kind}:{schema['format']}" if "format" in schema else kind


def _parameters(document: dict[str, Any], operation: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        if "$ref" in parameter:
            name = parameter["$ref"].rsplit("/", 1)[-1]
            parameter = document.get("components", {}).get("parameters", {}).get(name, {})
        found[f"{parameter.get('in')} {parameter.get('name')}"] = parameter
    return found


def _compare_parameters(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for key in sorted(old.keys() - new.keys()):
        changes.append(Change(where, f"parameter {key} removed", True))
    for key in sorted(new.keys() - old.keys()):
        required = bool(new[key].get("required"))
        changes.append(Change(where, f"{'required' if required else 'optional'} parameter {key} added", required))
    for key in sorted(old.keys() & new.keys()):
        before, after = _type_of(old[key].get("schema")), _type_of(new[key].get("schema"))
        if before != after:
            changes.append(Change(where, f"parameter {key} type {before} → {after}", True))
        if not old[key].get("required") and new[key].get("required"):
            changes.append(Change(where, f"parameter {key} became required", True))
    return changes


def _body_type(operation: dict[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {})
    return ", ".join(f"{media} {_type_of(c.get('schema'))}" for media, c in sorted(content.items())) or "none"


def _compare_schemas(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    old_schemas = old.get("components", {}).get("schemas", {})
    new_schemas = new.get("components", {}).get("schemas", {})
    for name in sorted(old_schemas.keys() - new_schemas.keys()):
        changes.append(Change(f"schema {name}", "removed", True))
    for name in sorted(new_schemas.keys() - old_schemas.keys()):
        changes.append(Change(f"schema {name}", "added", False))
    for name in sorted(old_schemas.keys() & new_schemas.keys()):
        before, after = old_schemas[name], new_schemas[name]
        where = f"schema {name}"
        if _type_of(before) != _type_of(after):
            changes.append(Change(where, f"type {_type_of(before)} → {_type_of(after)}", True))
        old_props, new_props = before.get("properties", {}), after.get("properties", {})
        for prop in sorted(old_props.keys() - new_props.keys()):
            changes.append(Change(where, f"field {prop} removed", True))
        for prop in sorted(new_props.keys() - old_props.keys()):
            changes.append(Change(where, f"field {prop} added", False))
        for prop in sorted(old_props.keys() & new_props.keys()):
            if _type_of(old_props[prop]) != _type_of(new_props[prop]):
                changes.append(
                    Change(where, f"field {prop} type {_type_of(old_props[prop])} → {_type_of(new_props[prop])}", True)
                )
            old_enum, new_enum = set(old_props[prop].get("enum", [])), set(new_props[prop].get("enum", []))
            if old_enum - new_enum and new_enum:
                changes.append(Change(where, f"field {prop} lost enum values {sorted(old_enum - new_enum)}", True))
            if new_enum - old_enum and old_enum:
                changes.append(Change(where, f"field {prop} gained enum values {sorted(new_enum - old_enum)}", False))
        for prop in sorted(set(after.get("required", [])) - set(before.get("required", []))):
            changes.append(Change(where, f"field {prop} became required", True))
    return changes


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    old_ops = {f"{m.upper()} {p}": (op, old["paths"][p]) for m, p, op in iter_operations(old)}
    new_ops = {f"{m.upper()} {p}": (op, new["paths"][p]) for m, p, op in iter_operations(new)}
    changes = [Change(key, "operation removed", True) for key in sorted(old_ops.keys() - new_ops.keys())]
    changes += [Change(key, "operation added", False) for key in sorted(new_ops.keys() - old_ops.keys())]
    for key in sorted(old_ops.keys() & new_ops.keys()):
        (old_op, old_item), (new_op, new_item) = old_ops[key], new_ops[key]
        if old_op.get("operationId") != new_op.get("operationId"):
            changes.append(Change(key, f"operationId {old_op.get('operationId')} → {new_op.get('operationId')}", True))
        changes += _compare_parameters(key, _parameters(old, old_op, old_item), _parameters(new, new_op, new_item))
        if _body_type(old_op) != _body_type(new_op):
            changes.append(Change(key, f"request body {_body_type(old_op)} → {_body_type(new_op)}", True))
    return changes + _compare_schemas(old, new)
