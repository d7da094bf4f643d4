"""Request validation against the specs (jsonschema): what is refused, how it is named, and what is let through
on purpose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

import scp_async.emulator._validate as validate_module
from scp_async.emulator import Emulator
from scp_async.emulator._openapi import Operation, Spec
from scp_async.emulator._validate import body_schema

SPECS = Path(__file__).resolve().parents[2] / "specs"

THING_30: dict[str, Any] = {
    "openapi": "3.0.3",
    "paths": {
        "/things/{id}/items/{index}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
                {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
            ],
            "post": {
                "parameters": [
                    {"name": "mode", "in": "query", "schema": {"$ref": "#/components/schemas/Mode"}},
                    {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
                    {"name": "ratio", "in": "query", "schema": {"type": "number"}},
                    {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "code", "in": "query", "schema": {"type": "string", "pattern": "^[A-Z]+$"}},
                    {"name": "javaish", "in": "query", "schema": {"type": "string", "pattern": "^\\p{Alpha}+$"}},
                    {"name": "level", "in": "query", "schema": {"enum": [1, 2]}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
                    {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
                    {"name": "X-Tenant", "in": "header", "required": True, "schema": {"enum": ["t1"]}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                },
                "responses": {"200": {"description": "ok"}},
            },
        }
    },
    "components": {
        "schemas": {
            "Mode": {"type": "string", "enum": ["a", "b"]},
            "Kind": {"type": "string", "enum": ["big", "small"]},
            "Thing": {
                "type": "object",
                "required": ["id", "name", "kind"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "readOnly": True},
                    "name": {"type": "string", "maxLength": 10, "minLength": 3, "pattern": "^x"},
                    "kind": {"$ref": "#/components/schemas/Kind"},
                    "owner": {"type": "string", "format": "email", "nullable": True, "enum": ["a@example.com"]},
                    "parent": {"$ref": "#/components/schemas/Thing"},
                    "tags": {"type": "array", "maxItems": 2, "uniqueItems": True, "items": {"type": "string"}},
                    "size": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
                    "open": {"type": "object", "additionalProperties": False},
                    "attachment": {"type": "file"},
                    "remote": {"$ref": "https://example.com/schemas/remote.json"},
                },
            },
        }
    },
}

THING_31: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things": {
            "patch": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "level": {"type": ["integer", "null"], "enum": [1, 2]},
                                    "labels": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                                },
                            }
                        }
                    }
                },
                "responses": {"204": {"description": "done"}},
            }
        }
    },
}


def _op(doc: dict[str, Any]) -> Operation:
    (op,) = Spec("things", doc).operations()
    return op


def _body(op: Operation, body: Any, headers: dict[str, str] | None = None) -> tuple[str, str] | None:
    return op.validate({}, {"x-tenant": "t1", **(headers or {})}, json.dumps(body).encode(), frozenset())


VALID = {"name": "xy", "kind": "big"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "big"}, "body.name: required property missing"),
        ({"name": "xy", "kind": "huge"}, "body.kind: value not allowed"),
        ({"name": 1, "kind": "big"}, "body.name: expected string"),
        ({"name": "x" * 11, "kind": "big"}, "body.name: longer than 10 characters"),
        ({**VALID, "tags": ["a", "b", "c"]}, "body.tags: too many items"),
        ({**VALID, "tags": ["a", 2]}, "body.tags[1]: expected string"),
        ({**VALID, "colour": "red"}, "body.colour: unknown property"),
        ({**VALID, "size": "3"}, "body.size: expected integer"),
        ({**VALID, "owner": "b@example.com"}, "body.owner: value not allowed"),
        ({**VALID, "parent": {"name": "xy", "kind": 5}}, "body.parent.kind: expected string"),
        ([VALID], "body: expected object"),
    ],
)
def test_body_problems_name_the_field_and_the_cause(body: Any, message: str) -> None:
    assert _body(_op(THING_30), body) == (message, "body")


@pytest.mark.parametrize(
    "body",
    [
        VALID,
        {**VALID, "name": "abc"},  # pattern ^x and minLength 3 are not enforced on bodies
        {**VALID, "owner": None},  # nullable admits null whatever else the schema says (its enum here)
        {**VALID, "owner": "a@example.com"},
        {**VALID, "tags": ["a", "a"]},  # uniqueItems is not enforced
        {**VALID, "size": 3},  # oneOf counts as anyOf: 3 matches both alternatives
        {**VALID, "open": {"anything": 1}},  # additionalProperties false without properties stays open
        {**VALID, "attachment": 42, "remote": 42},  # unknown type names and non-local $refs admit anything
        {**VALID, "id": "given anyway"},
    ],
)
def test_body_leniency_is_kept(body: Any) -> None:
    assert _body(_op(THING_30), body) is None


def test_recursive_schemas_are_followed_all_the_way_down() -> None:
    op = _op(THING_30)
    deep: dict[str, Any] = dict(VALID)
    for _ in range(40):
        deep = {**VALID, "parent": deep}
    assert _body(op, deep) is None
    bottom: dict[str, Any] = {"name": "xy", "kind": "nope"}
    for _ in range(40):
        bottom = {**VALID, "parent": bottom}
    message, _ = _body(op, bottom) or ("", "")
    assert message == "body" + ".parent" * 40 + ".kind: value not allowed"


def test_oas31_null_types() -> None:
    op = _op(THING_31)
    assert op.validate({}, {}, b'{"level": null, "labels": {"a": null, "b": "x"}}', frozenset()) is None
    assert op.validate({}, {}, b'{"level": 3}', frozenset()) == ("body.level: value not allowed", "body")
    assert op.validate({}, {}, b'{"labels": {"a": 1}}', frozenset()) == (
        "body.labels.a: expected string or null",
        "body",
    )


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"mode": ["c"]}, ("Invalid value for 'mode': must be one of a, b", "mode")),
        ({"mode": ["a", "b"]}, ("Query parameter 'mode' given more than once", "mode")),
        ({"size": ["abc"]}, ("Invalid value for 'size': expected integer", "size")),
        ({"size": ["0"]}, ("Invalid value for 'size': below minimum 1", "size")),
        ({"size": ["51"]}, ("Invalid value for 'size': above maximum 50", "size")),
        ({"ratio": ["half"]}, ("Invalid value for 'ratio': expected number", "ratio")),
        ({"flag": ["yes"]}, ("Invalid value for 'flag': expected true or false", "flag")),
        ({"code": ["abc"]}, ("Invalid value for 'code': must match ^[A-Z]+$", "code")),
        ({"level": ["3"]}, ("Invalid value for 'level': must be one of 1, 2", "level")),
        ({"tags": ["1,x"]}, ("Invalid value for 'tags': expected integer", "tags")),
        ({"colour": ["red"]}, ("Unknown query parameter 'colour'", "colour")),
        # accepted
        ({"mode": ["a"], "size": ["50"], "ratio": ["0.5"], "flag": ["TRUE"], "code": ["ABC"]}, None),
        ({"level": ["2"], "tags": ["1,2", "3"], "filter[name]": ["x"]}, None),
        ({"javaish": ["123"]}, None),  # a pattern Python's re cannot compile is skipped
    ],
)
def test_query_parameters(query: dict[str, list[str]], problem: tuple[str, str] | None) -> None:
    op = _op(THING_30)
    assert op.validate(query, {"x-tenant": "t1"}, json.dumps(VALID).encode(), frozenset()) == problem


def test_header_and_path_parameters() -> None:
    op = _op(THING_30)
    body = json.dumps(VALID).encode()
    assert op.validate({}, {}, body, frozenset()) == ("Missing required header 'X-Tenant'", "X-Tenant")
    assert op.validate({}, {"x-tenant": "t2"}, body, frozenset()) == (
        "Invalid value for 'X-Tenant': must be one of t1",
        "X-Tenant",
    )
    headers = {"x-tenant": "t1"}
    assert op.validate({}, headers, body, frozenset(), path=["not-a-uuid", "3"]) is None  # formats are not checked
    assert op.validate({}, headers, body, frozenset(), path=["x", "three"]) == (
        "Invalid value for 'index': expected integer",
        "index",
    )
    assert op.validate({}, headers, body, frozenset(), path=["x", "-1"]) == (
        "Invalid value for 'index': below minimum 0",
        "index",
    )


def test_validators_are_compiled_once_per_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def counting(schema: Any) -> Any:
        built.append(schema)
        return Draft202012Validator(schema)

    monkeypatch.setattr(validate_module, "Draft202012Validator", counting)
    op = _op(THING_30)
    for _ in range(3):
        query = {"size": ["5"], "mode": ["a"]}
        assert op.validate(query, {"x-tenant": "t1"}, json.dumps(VALID).encode(), frozenset(), path=["x", "1"]) is None
        assert _body(op, {"kind": "big"}) is not None
    assert len(built) == 5  # index, size, mode, X-Tenant and the body; ``id`` (a format only) needs none


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.json")), ids=lambda p: p.stem)
def test_every_body_schema_converts_to_valid_json_schema(path: Path) -> None:
    spec = Spec.load(path.stem, path)
    for op in spec.operations():
        if op.body_schema is not None:
            Draft202012Validator.check_schema(body_schema(spec.deref, op.body_schema))


# -- over HTTP, in each API's own error format --------------------------------------------------------------
async def test_body_errors_in_cf_and_sm_formats(emu: Emulator) -> None:
    async with emu.client(token=emu.issue_token("cf", user="admin@example.com")) as c:
        cf = await c.post("/cf/v3/apps", json={"name": "a", "relationships": {"space": {"data": {"guid": 5}}}})
        sm = await c.post("/service_manager/v1/service_instances", json={"name": 5, "service_plan_id": "p"})
    assert cf.status_code == 400
    assert cf.json()["errors"][0]["detail"] == "body.relationships.space.data.guid: expected string"
    assert sm.status_code == 400
    assert set(sm.json()) == {"error", "description"}
    assert "body.name" in sm.json()["description"]


async def test_long_lists_are_checked_to_the_last_item(emu: Emulator) -> None:
    """The old checker looked at the first 1,000 items of a list only."""
    guid = next(iter(emu.state.cf_service_instances))
    items: list[dict[str, Any]] = [{"guid": f"space-{i}"} for i in range(1500)]
    items[-1] = {"guid": 1499}
    async with emu.client(token=emu.issue_token("cf", user="admin@example.com")) as c:
        r = await c.post(f"/cf/v3/service_instances/{guid}/relationships/shared_spaces", json={"data": items})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["detail"] == "body.data[1499].guid: expected string"


async def test_query_errors_over_http(client: httpx.AsyncClient) -> None:
    r = await client.get("/events/cloud-management/v1/events", params={"pageSize": "many"})
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "pageSize"
    assert "pageSize" in r.json()["error"]["message"]
