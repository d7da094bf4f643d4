"""Models read on first use: the objects whose reading can neither fail nor warn once their shape is known.

A CF resource carries a `links` object of a dozen `{"href": ...}` links and `relationships` of GUIDs;
reading them into models was most of the CPU of listing every app, and few callers look at them. A model
qualifies when each property is one the generated `from_dict` passes through untouched (string, number,
integer, boolean, untyped, or a union of those and null), or one whose reading a cheap test can vouch for:
a UUID (a canonical UUID string), a date-time (an ISO 8601 string `datetime.fromisoformat` reads, as the
fast path of `_decoding.date_time` does), a list of plain values (a list), a string enum (a string: our enums keep
values they do not know), a qualifying model (an object of that shape), the same model or null. An
optional property no test vouches for (a map of unions, a date in another form) must be absent from
the body. Its additional properties, if any, must pass through too, or be plain lists (then a check
with the key None tests every undeclared key's value, the declared keys as its inner part).

For such a model, whether `from_dict` succeeds without a warning depends only on the body's *shape*,
written into the class as `_scp_shape`: `(required JSON keys, ((JSON key, test, inner shape or None), ...))`
with the tests of `scp_async._decoding._fitter` ("object", "object or null", "uuid", "date-time", "list", "str",
"absent").
`scp_async._decoding.model` checks a body against the shape (far cheaper than reading it); when it fits,
the model is made empty with the body kept, and read on the first access to any field (`__getattr__` runs
only for attributes not yet set). A body that does not fit is read at once, so every warning and error
comes exactly as before.
"""

from __future__ import annotations

from typing import Any

from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties import (
    AnyProperty,
    BooleanProperty,
    DateTimeProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    ListProperty,
    ModelProperty,
    NoneProperty,
    StringProperty,
    UnionProperty,
    UuidProperty,
)

Check = tuple[str | None, str, Any]
Shape = tuple[tuple[str, ...], tuple[Check, ...]]

# Exact classes: a subclass (a date-time read from an int, say) converts its value.
_PASSED_THROUGH = (StringProperty, IntProperty, FloatProperty, BooleanProperty, AnyProperty, NoneProperty)


def _key(prop: Any) -> str:
    # The generator wraps spec text in UntrustedString; the shape is written as a repr(), a safe literal.
    untrusted = getattr(prop.name, "get_untrusted_value", None)
    return str(untrusted() if callable(untrusted) else prop.name)


def _passes_through(prop: Any) -> bool:
    if type(prop) is UnionProperty:  # the union template casts a value no member converts
        return all(type(inner) in _PASSED_THROUGH for inner in prop.inner_properties)
    return type(prop) in _PASSED_THROUGH


def deferred_shapes(data: GeneratorData) -> dict[str, Shape]:
    """Class name -> shape of every model read on first use (a fixpoint: nested models qualify first)."""
    models = {model.class_info.name: model for model in data.models}
    shapes: dict[str, Shape] = {}
    changed = True
    while changed:
        # Every pass looks at every model again: a property that had to be absent while its model did not
        # qualify yet is tested as that model's object once it does (shapes only grow, so this ends).
        changed = False
        for name, model in models.items():
            shape = _shape(model, shapes)
            if shape is not None and shapes.get(name) != shape:
                shapes[name] = shape
                changed = True
    return shapes


def _check(prop: Any, known: dict[str, Shape]) -> tuple[str, Any] | None:
    """The test that vouches for reading `prop`, or None if none can."""
    kind = type(prop)
    if kind is UuidProperty:
        return "uuid", None
    if isinstance(prop, DateTimeProperty):  # epoch milliseconds too: a number fails the test, read at once
        return "date-time", None
    if kind is ListProperty and type(prop.inner_property) in _PASSED_THROUGH:
        return "list", None
    if kind is EnumProperty and prop.value_type is str:  # the enum template keeps unknown strings, silently
        return "str", None
    if kind is ModelProperty and prop.class_info.name in known:
        return "object", known[prop.class_info.name]
    if kind is UnionProperty:
        inner = [p for p in prop.inner_properties if type(p) is not NoneProperty]
        nullable = len(inner) < len(prop.inner_properties)
        if nullable and len(inner) == 1 and type(inner[0]) is ModelProperty and inner[0].class_info.name in known:
            return "object or null", known[inner[0].class_info.name]
    return None


def _shape(model: ModelProperty, known: dict[str, Shape]) -> Shape | None:
    extra = model.additional_properties
    properties = [*model.required_properties, *model.optional_properties]
    checks: list[Check] = []
    # `additionalProperties: false` models are left eager (the model template's import needs them).
    if type(extra) is ListProperty and type(extra.inner_property) in _PASSED_THROUGH:
        # A map of plain lists (cis labels: {"stage": ["dev"]}): every key the model does not declare
        # must hold a list. Written with the key None, the declared keys as its inner part.
        checks.append((None, "list", tuple(_key(prop) for prop in properties)))
    elif not (extra is True or (extra and _passes_through(extra))):
        return None
    for prop in properties:
        if _passes_through(prop):
            continue
        check = _check(prop, known)
        if check is None:
            if prop.required:
                return None
            check = ("absent", None)  # a body without it reads the field as UNSET, which cannot fail
        checks.append((_key(prop), *check))
    required = tuple(_key(prop) for prop in model.required_properties)
    return required, tuple(checks)
