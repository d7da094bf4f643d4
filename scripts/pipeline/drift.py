"""Step 5: what changed between the committed specs and freshly fetched ones.

Compares operations (parameters, request bodies, responses) and component schemas, recursively: types and
formats, nullability, enums, fields added, removed or newly required, array items, map values, nested
inline objects and composed schemas. A component schema is compared once, in the directions the
operations use it (sent in requests, received in responses, or both when nothing uses it).

A change is *breaking* when code written against the old document can fail against the new one, which
depends on the direction: a field that becomes required breaks requests that leave it out; a lost enum
value breaks requests that send it; a field that may now be null or left out breaks code reading
responses; a removed field breaks both (typed callers name it). A new enum value breaks nothing: the
generated enums keep values they do not know (see the templates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._common import iter_operations

REQUEST, RESPONSE = "request", "response"
BOTH = frozenset({REQUEST, RESPONSE})
_COMPOSED = ("allOf", "oneOf", "anyOf")
_SCHEMA_REF = "#/components/schemas/"


@dataclass(frozen=True, order=True)
class Change:
    where: str
    what: str
    breaking: bool

    def line(self) -> str:
        return f"{'BREAKING ' if self.breaking else ''}{self.where}: {self.what}"


def _type_of(schema: Any) -> str:
    """A short name for a schema's type: a component name, `array<...>`, `string:date-time`, `any`."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    types = _types(schema)
    kind = "|".join(sorted(types)) if types else "any"
    if kind == "array":
        return f"array<{_type_of(schema.get('items'))}>"
    return f"{kind}:{schema['format']}" if "format" in schema else kind


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema allows besides null; None for any."""
    kind = schema.get("type")
    if isinstance(kind, list):
        found = frozenset(str(k) for k in kind) - {"null"}
        return found or None
    if isinstance(kind, str):
        return None if kind == "null" else frozenset({kind})
    if "properties" in schema or "additionalProperties" in schema:
        return frozenset({"object"})
    if "items" in schema:
        return frozenset({"array"})
    return None


def _within(inner: frozenset[str] | None, outer: frozenset[str] | None) -> bool:
    """Whether every value of type `inner` is also of type `outer` (an integer is a number)."""
    if outer is None:
        return True
    if inner is None:
        return False
    return all(kind in outer or (kind == "integer" and "number" in outer) for kind in inner)


def _nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return schema.get("nullable") is True or kind == "null" or (isinstance(kind, list) and "null" in kind)


def _enum(schema: dict[str, Any]) -> dict[str, Any] | None:
    values = schema.get("enum")
    if not isinstance(values, list):
        return None
    return {json.dumps(value, sort_keys=True): value for value in values}


def _ref_name(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    return ref[len(_SCHEMA_REF) :] if isinstance(ref, str) and ref.startswith(_SCHEMA_REF) else None


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` to a parameter, request body or response (schemas are compared by name)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        if node["$ref"].startswith(_SCHEMA_REF) or seen > 20:
            return node
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        node, seen = target, seen + 1
    return node


def _schema_refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        name = _ref_name(node)
        if name:
            found.add(name)
        for value in node.values():
            found |= _schema_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _schema_refs(value)
    return found


def _shown(path: str) -> str:
    if path.startswith("[]"):
        return "items" + path
    if path.startswith("{}"):
        return "values" + path
    return path


@dataclass
class _Differ:
    old: dict[str, Any]
    new: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    uses: dict[str, set[str]] = field(default_factory=dict)  # component schema → directions operations use it in

    def note(self, where: str, prefix: str, path: str, change: str, dirs: frozenset[str], **breaks: bool) -> None:
        """Record a change; `breaks` says for which direction (request=..., response=...) it is breaking."""
        breaking = any(breaks.get(direction, False) for direction in dirs)
        subject = f"field {_shown(path)} " if path else ""
        self.changes.append(Change(where, f"{prefix}{subject}{change}", breaking))

    def schema(self, where: str, prefix: str, path: str, old: Any, new: Any, dirs: frozenset[str]) -> None:
        old = old if isinstance(old, dict) else {}
        new = new if isinstance(new, dict) else {}
        old_ref, new_ref = _ref_name(old), _ref_name(new)
        if old_ref and old_ref == new_ref:
            self.uses.setdefault(old_ref, set()).update(dirs)
            return  # compared once, as a component
        if old_ref or new_ref:
            if old_ref != new_ref:  # another (or no) named type: another class for typed callers
                self.note(
                    where, prefix, path, f"type {_type_of(old)} → {_type_of(new)}", dirs, request=True, response=True
                )
            return
        old_types, new_types = _types(old), _types(new)
        if old_types != new_types or old.get("format") != new.get("format"):
            widened = old_types != new_types and _within(old_types, new_types)
            narrowed = old_types != new_types and _within(new_types, old_types)
            change = f"type {_type_of(old)} → {_type_of(new)}"
            self.note(where, prefix, path, change, dirs, request=not widened, response=not narrowed)
            if old_types != new_types:
                return  # another kind of value: what is inside is not comparable
        if _nullable(old) != _nullable(new):
            change = "may now be null" if _nullable(new) else "may no longer be null"
            self.note(where, prefix, path, change, dirs, request=_nullable(old), response=_nullable(new))
        self._enums(where, prefix, path, old, new, dirs)
        self._properties(where, prefix, path, old, new, dirs)
        if "items" in old or "items" in new:
            self.schema(where, prefix, f"{path}[]", old.get("items"), new.get("items"), dirs)
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.schema(where, prefix, f"{path}{{}}", old_extra, new_extra, dirs)
        elif old_extra is not False and new_extra is False:
            self.note(where, prefix, path, "no longer accepts other fields", dirs, request=True)
        for key in _COMPOSED:
            self._composed(where, prefix, path, key, old.get(key) or [], new.get(key) or [], dirs)

    def _enums(
        self, where: str, prefix: str, path: str, old: dict[str, Any], new: dict[str, Any], dirs: frozenset[str]
    ) -> None:
        old_enum, new_enum = _enum(old), _enum(new)
        if old_enum is None and new_enum is None:
            return
        if old_enum is None:
            values = sorted(new_enum.values(), key=str) if new_enum else []
            self.note(where, prefix, path, f"now limited to enum values {values}", dirs, request=True)
        elif new_enum is None:
            self.note(where, prefix, path, "no longer limited to enum values", dirs, response=True)
        else:
            lost = [old_enum[k] for k in sorted(old_enum.keys() - new_enum.keys())]
            gained = [new_enum[k] for k in sorted(new_enum.keys() - old_enum.keys())]
            if lost:
                self.note(where, prefix, path, f"lost enum values {lost}", dirs, request=True)
            if gained:
                self.note(where, prefix, path, f"gained enum values {gained}", dirs)

    def _properties(
        self, where: str, prefix: str, path: str, old: dict[str, Any], new: dict[str, Any], dirs: frozenset[str]
    ) -> None:
        old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
        old_required, new_required = set(old.get("required") or []), set(new.get("required") or [])
        base = f"{path}." if path else ""
        for name in sorted(old_props.keys() - new_props.keys()):
            self.note(where, prefix, base + name, "removed", dirs, request=True, response=True)
        for name in sorted(new_props.keys() - old_props.keys()):
            required = name in new_required
            change = "added as required" if required else "added"
            self.note(where, prefix, base + name, change, dirs, request=required)
        for name in sorted(old_props.keys() & new_props.keys()):
            self.schema(where, prefix, base + name, old_props[name], new_props[name], dirs)
            if name in new_required and name not in old_required:
                self.note(where, prefix, base + name, "became required", dirs, request=True)
            if name in old_required and name not in new_required:
                self.note(where, prefix, base + name, "became optional", dirs, response=True)

    def _composed(
        self, where: str, prefix: str, path: str, key: str, old: list[Any], new: list[Any], dirs: frozenset[str]
    ) -> None:
        if len(old) != len(new):
            change = f"{key} of {len(old)} → {len(new)} schemas"
            self.note(where, prefix, path, change, dirs, request=True, response=True)
        for index, (before, after) in enumerate(zip(old, new, strict=False)):
            self.schema(where, prefix, f"{path}<{key}[{index}]>", before, after, dirs)

    def parameters(self, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        request = frozenset({REQUEST})
        for key in sorted(old.keys() - new.keys()):
            self.changes.append(Change(where, f"parameter {key} removed", True))
        for key in sorted(new.keys() - old.keys()):
            required = bool(new[key].get("required"))
            self.changes.append(
                Change(where, f"{'required' if required else 'optional'} parameter {key} added", required)
            )
        for key in sorted(old.keys() & new.keys()):
            before, after = old[key].get("schema"), new[key].get("schema")
            self.schema(where, f"parameter {key} ", "", before, after, request)
            if not old[key].get("required") and new[key].get("required"):
                self.changes.append(Change(where, f"parameter {key} became required", True))

    def content(self, where: str, label: str, old: Any, new: Any, dirs: frozenset[str]) -> None:
        """The media types of a request body or a response, and the schema of each."""
        old_content = (old or {}).get("content") or {}
        new_content = (new or {}).get("content") or {}
        for media in sorted(old_content.keys() - new_content.keys()):
            self.changes.append(Change(where, f"{label} {media} removed", True))
        for media in sorted(new_content.keys() - old_content.keys()):
            self.changes.append(Change(where, f"{label} {media} added", False))
        for media in sorted(old_content.keys() & new_content.keys()):
            before, after = old_content[media].get("schema"), new_content[media].get("schema")
            self.schema(where, f"{label} {media} ", "", before, after, dirs)

    def request_body(self, where: str, old_op: dict[str, Any], new_op: dict[str, Any]) -> None:
        old = _resolve(self.old, old_op.get("requestBody"))
        new = _resolve(self.new, new_op.get("requestBody"))
        if old and not new:
            self.changes.append(Change(where, "request body removed", True))
        elif new and not old:
            required = bool(new.get("required"))
            self.changes.append(Change(where, f"{'required' if required else 'optional'} request body added", required))
        elif old and new:
            if new.get("required") and not old.get("required"):
                self.changes.append(Change(where, "request body became required", True))
            self.content(where, "request body", old, new, frozenset({REQUEST}))

    def responses(self, where: str, old_op: dict[str, Any], new_op: dict[str, Any]) -> None:
        old = old_op.get("responses") or {}
        new = new_op.get("responses") or {}
        for status in sorted(old.keys() - new.keys()):
            success = str(status).startswith("2")
            self.changes.append(Change(where, f"response {status} removed", success))
        for status in sorted(new.keys() - old.keys()):
            success = str(status).startswith("2")  # callers may now get a success they do not handle
            self.changes.append(Change(where, f"response {status} added", success))
        for status in sorted(old.keys() & new.keys()):
            before, after = _resolve(self.old, old[status]), _resolve(self.new, new[status])
            self.content(where, f"response {status}", before, after, frozenset({RESPONSE}))

    def components(self) -> None:
        old_schemas = self.old.get("components", {}).get("schemas", {})
        new_schemas = self.new.get("components", {}).get("schemas", {})
        uses = self._used_in()
        for name in sorted(old_schemas.keys() - new_schemas.keys()):
            self.changes.append(Change(f"schema {name}", "removed", True))
        for name in sorted(new_schemas.keys() - old_schemas.keys()):
            self.changes.append(Change(f"schema {name}", "added", False))
        for name in sorted(old_schemas.keys() & new_schemas.keys()):
            dirs = frozenset(uses.get(name) or BOTH)
            self.schema(f"schema {name}", "", "", old_schemas[name], new_schemas[name], dirs)

    def _used_in(self) -> dict[str, set[str]]:
        """The directions each component is used in, through other components too."""
        uses = {name: set(dirs) for name, dirs in self.uses.items()}
        schemas = [self.old.get("components", {}).get("schemas", {}), self.new.get("components", {}).get("schemas", {})]
        pending = list(uses)
        while pending:
            name = pending.pop()
            for inner in set().union(*(_schema_refs(s.get(name)) for s in schemas)):
                known = uses.setdefault(inner, set())
                if not uses[name] <= known:
                    known |= uses[name]
                    pending.append(inner)
        return uses


def _parameters(document: dict[str, Any], operation: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        parameter = _resolve(document, parameter)
        if isinstance(parameter, dict):
            found[f"{parameter.get('in')} {parameter.get('name')}"] = parameter
    return found


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    old_ops = {f"{m.upper()} {p}": (op, old["paths"][p]) for m, p, op in iter_operations(old)}
    new_ops = {f"{m.upper()} {p}": (op, new["paths"][p]) for m, p, op in iter_operations(new)}
    differ = _Differ(old, new)
    differ.changes += [Change(key, "operation removed", True) for key in sorted(old_ops.keys() - new_ops.keys())]
    differ.changes += [Change(key, "operation added", False) for key in sorted(new_ops.keys() - old_ops.keys())]
    for key in sorted(old_ops.keys() & new_ops.keys()):
        (old_op, old_item), (new_op, new_item) = old_ops[key], new_ops[key]
        if old_op.get("operationId") != new_op.get("operationId"):
            change = f"operationId {old_op.get('operationId')} → {new_op.get('operationId')}"
            differ.changes.append(Change(key, change, True))
        differ.parameters(key, _parameters(old, old_op, old_item), _parameters(new, new_op, new_item))
        differ.request_body(key, old_op, new_op)
        differ.responses(key, old_op, new_op)
    # Operations that went away still tell which way their schemas were used.
    for key in sorted(old_ops.keys() ^ new_ops.keys()):
        operation = (old_ops.get(key) or new_ops[key])[0]
        for name in _schema_refs(operation.get("requestBody")) | _schema_refs(operation.get("parameters")):
            differ.uses.setdefault(name, set()).add(REQUEST)
        for name in _schema_refs(operation.get("responses")):
            differ.uses.setdefault(name, set()).add(RESPONSE)
    differ.components()
    return list(dict.fromkeys(differ.changes))
