"""The union template reads an object as the member it names (scripts/pipeline/discriminators.py)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline.generate import _generate_in_process

OBJECT = {"type": "object", "properties": {"kind": {"type": "string"}, "size": {"type": "integer"}}}
TAGGED = {
    "Big": {"type": "object", "properties": {"tag": {"type": "string", "enum": ["big"]}, "size": {"type": "integer"}}},
    "Small": {"type": "object", "properties": {"tag": {"type": "string", "enum": ["small"]}}},
}


def _document(schemas: dict[str, Any], union: dict[str, Any]) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "array", "items": union}}}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "1"},
        "paths": {"/things": {"get": {"operationId": "listThings", "responses": {"200": ok}}}},
        "components": {"schemas": schemas},
    }


def _one_of(*names: str, **discriminator: Any) -> dict[str, Any]:
    union: dict[str, Any] = {"oneOf": [{"$ref": f"#/components/schemas/{n}"} for n in names]}
    if discriminator:
        union["discriminator"] = discriminator
    return union


@pytest.fixture
def generate(tmp_path: Path) -> Iterator[Any]:
    """Generate a document as package `disc_pkg_<n>`; returns a reader of `listThings` bodies, and the package."""
    added: list[str] = []

    def run(document: dict[str, Any]) -> Any:
        name = f"disc_pkg_{len(added)}"
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps(document), encoding="utf-8")
        outcome = _generate_in_process("t", str(spec), str(tmp_path / name))
        assert "fatal" not in outcome, outcome
        added.append(name)
        operation = importlib.import_module(f"{name}.api.default.list_things")
        return lambda body: operation._parse_response(client=None, response=_Response(body)), name

    sys.path.insert(0, str(tmp_path))
    try:
        yield run
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.split(".")[0] in added]:
            del sys.modules[module]


class _Response:
    status_code = 200

    def __init__(self, body: Any) -> None:
        self._body = body

    def json(self) -> Any:
        return self._body


def test_a_declared_discriminator_with_a_mapping_picks_the_member(generate: Any) -> None:
    schemas = {"A": OBJECT, "B": OBJECT}
    parse, _ = generate(
        _document(schemas, _one_of("A", "B", propertyName="kind", mapping={"b": "#/components/schemas/B"}))
    )
    assert [type(x).__name__ for x in parse([{"kind": "b"}, {"kind": "a"}, {}])] == ["B", "A", "A"]


def test_a_declared_discriminator_without_a_mapping_uses_the_schema_names(generate: Any) -> None:
    parse, _ = generate(_document({"A": OBJECT, "B": OBJECT}, _one_of("A", "B", propertyName="kind")))
    assert [type(x).__name__ for x in parse([{"kind": "B"}, {"kind": "A"}])] == ["B", "A"]


def test_members_whose_enums_tell_them_apart_need_no_declaration(generate: Any) -> None:
    parse, _ = generate(_document(TAGGED, _one_of("Big", "Small")))
    assert [type(x).__name__ for x in parse([{"tag": "small"}, {"tag": "big", "size": 2}])] == ["Small", "Big"]


def test_discriminators_telling_the_same_members_apart_differently_fail_generation(tmp_path: Path) -> None:
    document = _document({"A": OBJECT, "B": OBJECT}, _one_of("A", "B", propertyName="kind"))
    document["components"]["schemas"]["Both"] = {
        "type": "object",
        "properties": {"x": _one_of("A", "B", propertyName="size")},
    }
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    outcome = _generate_in_process("t", str(spec), str(tmp_path / "out"))
    assert "tell the same members apart differently" in outcome.get("fatal", ""), outcome
