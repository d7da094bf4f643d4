"""Request checks against an OpenAPI operation, done by ``jsonschema`` (Draft 2020-12).

Each operation's parameter and body schemas are converted once into self-contained JSON Schema (OAS 3.0's
``nullable`` made explicit, ``$ref`` chains gathered under ``$defs``) and compiled into validators that the
operation keeps. The first error found becomes one message naming the field and the cause.

The check is deliberately lenient, as it has always been: it enforces only the keywords in
:data:`BODY_KEYWORDS` and :data:`PARAM_KEYWORDS`. The published specs also state formats, patterns and
lengths of request fields that nobody has checked against what the services accept, and an emulator
stricter than the service would fail client code that works against the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator

#: Body keywords enforced, in the order they are checked. Everything else (``format``, ``pattern``,
#: ``minLength``, ``minimum``, ``uniqueItems``, ``discriminator``, ...) is dropped from body schemas.
#: Besides: ``oneOf`` counts as ``anyOf`` (specs list overlapping alternatives, which would otherwise
#: match twice when formats go unchecked); a ``required`` property that is ``readOnly`` need not be sent;
#: ``additionalProperties: false`` closes an object only where it lists properties; a schema that admits
#: null (``nullable`` or a ``"null"`` type) admits it whatever else it says.
BODY_KEYWORDS = (
    "allOf",
    "anyOf",
    "type",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "maxItems",
    "maxLength",
)
#: Parameter keywords enforced on the value once it is read as its declared type (see :class:`ScalarCheck`).
#: Patterns that Python's ``re`` cannot compile are skipped; an enum also admits the text of its values.
PARAM_KEYWORDS = ("enum", "pattern", "minimum", "maximum")

_JSON_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})

Deref = Callable[[Any], Any]


def schema_types(schema: Any) -> tuple[str, ...]:
    if not isinstance(schema, dict):
        return ()
    t = schema.get("type")
    if isinstance(t, str):
        return (t,)
    if isinstance(t, list):
        return tuple(str(x) for x in t)
    return ()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- bodies -------------------------------------------------------------------------------------------------
class _BodyConverter:
    """OpenAPI schema -> JSON Schema 2020-12 holding only :data:`BODY_KEYWORDS`."""

    def __init__(self, deref: Deref) -> None:
        self._deref = deref
        self._names: dict[str, str] = {}
        self.defs: dict[str, Any] = {}

    def convert(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return True
        ref = node.get("$ref")
        if isinstance(ref, str):  # OAS 3.0 ignores a $ref's siblings, and so does this check
            return self._ref(ref)
        out: dict[str, Any] = {}
        subs = node.get("allOf")
        if isinstance(subs, list) and subs:
            out["allOf"] = [self.convert(s) for s in subs]
        for key in ("anyOf", "oneOf"):
            subs = node.get(key)
            if isinstance(subs, list) and subs:
                alternatives = [self.convert(s) for s in subs]
                if "anyOf" in out:
                    out.setdefault("allOf", []).append({"anyOf": alternatives})
                else:
                    out["anyOf"] = alternatives
        declared = schema_types(node)
        types = [t for t in declared if t in _JSON_TYPES]  # unknown type names (Swagger's "file") admit anything
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        if isinstance(node.get("enum"), list):
            out["enum"] = node["enum"]
        raw_props = node.get("properties")
        props = raw_props if isinstance(raw_props, dict) else {}
        required = [
            name
            for name in node.get("required") or ()
            if isinstance(name, str) and not self._read_only(props.get(name))
        ]
        if required:
            out["required"] = required
        if props:
            out["properties"] = {str(name): self.convert(sub) for name, sub in props.items()}
        extra = node.get("additionalProperties")
        if extra is False and props:
            out["additionalProperties"] = False
        elif isinstance(extra, dict):
            out["additionalProperties"] = self.convert(extra)
        if isinstance(node.get("items"), dict):
            out["items"] = self.convert(node["items"])
        for key in ("maxItems", "maxLength"):
            if _is_int(node.get(key)) and node[key] >= 0:
                out[key] = node[key]
        if out and (node.get("nullable") is True or "null" in declared):
            return {"if": {"type": "null"}, "else": out}
        return out

    def _ref(self, ref: str) -> Any:
        if not ref.startswith("#/"):  # only references inside the document resolve
            return True
        name = self._names.get(ref)
        if name is None:
            name = self._names[ref] = f"r{len(self._names)}"
            self.defs[name] = True  # a recursive schema meets its own name before it is converted
            self.defs[name] = self.convert(self._deref({"$ref": ref}))
        return {"$ref": f"#/$defs/{name}"}

    def _read_only(self, schema: Any) -> bool:
        resolved = self._deref(schema)
        return isinstance(resolved, dict) and bool(resolved.get("readOnly"))


def body_schema(deref: Deref, schema: Any) -> Any:
    """The JSON Schema that request bodies of ``schema`` are checked against."""
    converter = _BodyConverter(deref)
    root = converter.convert(schema)
    if converter.defs:
        root = {"$defs": converter.defs, "allOf": [root]}
    return root


def _where(base: str, path: Iterable[Any]) -> str:
    out = base
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _body_message(error: Any, base: str) -> str:
    if error.validator == "anyOf" and error.context:
        # As before: name the first alternative's problem (its first one, in the order of BODY_KEYWORDS).
        first = min(error.context, key=lambda e: (e.relative_schema_path[0], _keyword_rank(e)))
        return _body_message(first, base)
    where = _where(base, error.absolute_path)
    kind = error.validator
    if kind == "type":
        expected = error.validator_value
        return f"{where}: expected {' or '.join([expected] if isinstance(expected, str) else expected)}"
    if kind == "enum":
        return f"{where}: value not allowed"
    if kind == "required":
        missing = next((n for n in error.validator_value if n not in error.instance), "?")
        return f"{where}.{missing}: required property missing"
    if kind == "additionalProperties":
        known = error.schema.get("properties") or {}
        unknown = next((n for n in error.instance if n not in known), "?")
        return f"{where}.{unknown}: unknown property"
    if kind == "maxItems":
        return f"{where}: too many items"
    if kind == "maxLength":
        return f"{where}: longer than {error.validator_value} characters"
    return f"{where}: {error.message}"  # pragma: no cover - BODY_KEYWORDS has a message for each


def _keyword_rank(error: Any) -> int:
    kind = error.validator
    return BODY_KEYWORDS.index(kind) if kind in BODY_KEYWORDS else len(BODY_KEYWORDS)


class BodyCheck:
    """A compiled check of JSON request bodies."""

    __slots__ = ("_validator",)

    def __init__(self, deref: Deref, schema: Any) -> None:
        # No format checker: formats are not enforced (see the module docstring).
        self._validator = Draft202012Validator(body_schema(deref, schema))

    def problem(self, data: Any, base: str = "body") -> str | None:
        try:
            error = next(self._validator.iter_errors(data), None)
        except RecursionError:
            return f"{base}: nested too deeply"
        return None if error is None else _body_message(error, base)


# -- parameters ---------------------------------------------------------------------------------------------
def param_schema(schema: Any) -> dict[str, Any]:
    """The JSON Schema that a parameter's (typed) value is checked against: :data:`PARAM_KEYWORDS` only."""
    out: dict[str, Any] = {}
    if not isinstance(schema, dict):
        return out
    enum = schema.get("enum")
    if isinstance(enum, list):
        out["enum"] = enum
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _compiles(pattern):
        out["pattern"] = pattern
    for key in ("minimum", "maximum"):
        if _is_number(schema.get(key)):
            out[key] = schema[key]
    return out


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


class ScalarCheck:
    """A compiled check of one parameter value given as text: read as its declared type, then validated."""

    __slots__ = ("_enum", "_enum_texts", "_kind", "_name", "_pattern", "_validator")

    def __init__(self, name: str, schema: Any) -> None:
        types = schema_types(schema)
        self._name = name
        if "integer" in types:
            self._kind = "integer" if "string" not in types else "integer?"
        elif "number" in types and "string" not in types:
            self._kind = "number"
        elif "boolean" in types and "string" not in types:
            self._kind = "boolean"
        else:
            self._kind = "string"
        checked = param_schema(schema)
        self._validator = Draft202012Validator(checked) if checked else None
        texts = [str(e) for e in checked.get("enum", ())]
        self._enum = ", ".join(texts)
        self._enum_texts = frozenset(texts)
        self._pattern = checked.get("pattern", "")

    def problem(self, raw: str) -> str | None:
        kind = self._kind
        value: Any = raw
        if kind == "boolean":
            # Only the two words are read, in any case; nothing else applies to a boolean.
            return (
                None
                if raw.lower() in ("true", "false")
                else f"Invalid value for '{self._name}': expected true or false"
            )
        if kind in ("integer", "integer?"):
            try:
                value = int(raw)
            except ValueError:
                if kind == "integer":
                    return f"Invalid value for '{self._name}': expected integer"
        elif kind == "number":
            try:
                value = float(raw)
            except ValueError:
                return f"Invalid value for '{self._name}': expected number"
        if self._validator is None:
            return None
        error = next(
            (e for e in self._validator.iter_errors(value) if e.validator != "enum" or raw not in self._enum_texts),
            None,
        )
        if error is None:
            return None
        if error.validator == "enum":
            return f"Invalid value for '{self._name}': must be one of {self._enum}"
        if error.validator == "pattern":
            return f"Invalid value for '{self._name}': must match {self._pattern}"
        if error.validator == "minimum":
            return f"Invalid value for '{self._name}': below minimum {error.validator_value}"
        if error.validator == "maximum":
            return f"Invalid value for '{self._name}': above maximum {error.validator_value}"
        return f"Invalid value for '{self._name}': {error.message}"  # pragma: no cover - one per keyword


class ParamCheck:
    """A compiled check of all the values a request gives one parameter."""

    __slots__ = ("_array", "_item", "_label", "_single", "_skip")

    def __init__(
        self, deref: Deref, name: str, location: str, schema: Any, is_array: bool, deep: bool, single: bool = False
    ) -> None:
        self._skip = deep  # objects (deepObject style) arrive as name[key]=value pairs: not checked
        self._array = is_array
        self._single = single  # a list in one comma-separated value: a repeated key counts once, the last
        item_schema = deref(schema.get("items") or {}) if is_array and isinstance(schema, dict) else schema
        self._item = ScalarCheck(name, item_schema)
        self._label = {"query": "Query parameter", "header": "Header", "path": "Path parameter"}.get(
            location, "Parameter"
        )
        self._label += f" '{name}'"

    def problem(self, values: list[str]) -> str | None:
        if self._skip:
            return None
        if self._array:  # repeated and comma-separated values, each item checked
            for raw in values[-1:] if self._single else values:
                for part in raw.split(","):
                    problem = self._item.problem(part)
                    if problem:
                        return problem
            return None
        if len(values) > 1:
            return f"{self._label} given more than once"
        return self._item.problem(values[0])
