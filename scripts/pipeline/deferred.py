"""Models read on first use: the objects whose reading can neither fail nor warn once their shape is known.

A CF resource carries a `links` object of a dozen `{"href": ...}` links; reading them into models was half
the CPU of listing every app, and few callers ever look at them. A model qualifies when every property
is a JSON value the generated `from_dict` passes through untouched (string, number, integer, boolean,
untyped) or a qualifying model, and it takes additional properties that are untyped or pass through. For such a
model, whether `from_dict` would succeed without a warning depends only on the body being an object with
the required keys, and the same for each nested qualifying model present: its *shape*, a tuple
`(required JSON keys, ((JSON key, shape), ...))` written into the class as `_scp_shape`.

`scp_async._decoding.model` checks a body against the shape (much cheaper than reading it); when it fits,
the model is made empty, with the body kept in `_scp_source`, and filled on the first access to any field
(`__getattr__` runs only for attributes not yet set). A body that does not fit is read at once, so every
warning and error comes exactly as before.
"""

from __future__ import annotations

from typing import Any

from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties import (
    AnyProperty,
    BooleanProperty,
    FloatProperty,
    IntProperty,
    ModelProperty,
    NoneProperty,
    StringProperty,
)

Shape = tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]

# Exact classes: a subclass (a date-time read from an int, say) converts its value.
_PASSED_THROUGH = (StringProperty, IntProperty, FloatProperty, BooleanProperty, AnyProperty, NoneProperty)


def _key(prop: Any) -> str:
    # The generator wraps spec text in UntrustedString; the shape is written as a repr(), a safe literal.
    untrusted = getattr(prop.name, "get_untrusted_value", None)
    return str(untrusted() if callable(untrusted) else prop.name)


def _passes_through(prop: Any) -> bool:
    return type(prop) in _PASSED_THROUGH


def deferred_shapes(data: GeneratorData) -> dict[str, Shape]:
    """Class name -> shape of every model read on first use (a fixpoint: nested models qualify first)."""
    models = {model.class_info.name: model for model in data.models}
    shapes: dict[str, Shape] = {}
    changed = True
    while changed:
        changed = False
        for name, model in models.items():
            if name in shapes:
                continue
            shape = _shape(model, shapes)
            if shape is not None:
                shapes[name] = shape
                changed = True
    return shapes


def _shape(model: ModelProperty, known: dict[str, Shape]) -> Shape | None:
    extra = model.additional_properties
    # `additionalProperties: false` models are left eager: the attrs field helper is imported only for the others.
    if not (extra is True or (extra and _passes_through(extra))):
        return None
    properties = [*model.required_properties, *model.optional_properties]
    if not properties:  # nothing to save: a free-form object is a dict already
        return None
    nested: list[tuple[str, Shape]] = []
    for prop in properties:
        if _passes_through(prop):
            continue
        if type(prop) is ModelProperty and prop.class_info.name in known:
            nested.append((_key(prop), known[prop.class_info.name]))
            continue
        return None
    required = tuple(_key(prop) for prop in model.required_properties)
    return required, tuple(nested)
