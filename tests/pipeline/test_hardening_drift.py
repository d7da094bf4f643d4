"""Drift compares request and response schemas recursively and marks what breaks callers, by direction."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from scripts.pipeline.drift import compare

JSON = "application/json"


def _document() -> dict[str, Any]:
    """One operation that sends a Job (inline body wrapper) and receives a Job list; Job nests an inline object."""
    job = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "state": {"type": "string", "enum": ["NEW", "DONE"]},
            "size": {"type": "integer"},
            "owner": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
            },
        },
    }
    body = {
        "type": "object",
        "required": ["job"],
        "properties": {
            "job": {"$ref": "#/components/schemas/Job"},
            "note": {"type": "string"},
            "mode": {"type": "string", "enum": ["FAST", "SAFE"]},
            "limits": {"type": "object", "properties": {"cpu": {"type": "integer"}}},
        },
    }
    listing = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}},
    }
    responses = {"200": {"description": "", "content": {JSON: {"schema": listing}}}, "404": {"description": ""}}
    operation = {
        "operationId": "runJobs",
        "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
        "responses": responses,
    }
    return {"openapi": "3.0.1", "paths": {"/jobs": {"post": operation}}, "components": {"schemas": {"Job": job}}}


def _request(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"]["/jobs"]["post"]["requestBody"]["content"][JSON]["schema"]
    return schema


def _response(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"]["/jobs"]["post"]["responses"]["200"]["content"][JSON]["schema"]
    return schema


def _job(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["Job"]
    return schema


def _lines(change: Callable[[dict[str, Any]], None]) -> list[str]:
    old = _document()
    new = copy.deepcopy(old)
    change(new)
    return [c.line() for c in compare(old, new)]


REQ = f"POST /jobs: request body {JSON} "
RESP = f"POST /jobs: response 200 {JSON} "

CASES: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "response object becomes array": (
        lambda d: d["paths"]["/jobs"]["post"]["responses"]["200"]["content"][JSON].update(
            schema={"type": "array", "items": {"$ref": "#/components/schemas/Job"}}
        ),
        [f"BREAKING {RESP}type object → array<Job>"],
    ),
    "response field type": (
        lambda d: _response(d)["properties"].update(items={"type": "string"}),
        [f"BREAKING {RESP}field items type array<Job> → string"],
    ),
    "nested inline request field type": (
        lambda d: _request(d)["properties"]["limits"]["properties"].update(cpu={"type": "string"}),
        [f"BREAKING {REQ}field limits.cpu type integer → string"],
    ),
    "nested inline field removed (component used both ways)": (
        lambda d: _job(d)["properties"]["owner"]["properties"].pop("id"),
        ["BREAKING schema Job: field owner.id removed"],
    ),
    "array items of a nested field": (
        lambda d: _job(d)["properties"]["owner"]["properties"]["tags"].update(items={"type": "integer"}),
        ["BREAKING schema Job: field owner.tags[] type string → integer"],
    ),
    "request enum loses a value": (
        lambda d: _request(d)["properties"]["mode"].update(enum=["FAST"]),
        [f"BREAKING {REQ}field mode lost enum values ['SAFE']"],
    ),
    "request enum gains a value": (
        lambda d: _request(d)["properties"]["mode"].update(enum=["FAST", "SAFE", "LAZY"]),
        [f"{REQ}field mode gained enum values ['LAZY']"],
    ),
    "request field becomes required": (
        lambda d: _request(d).update(required=["job", "note"]),
        [f"BREAKING {REQ}field note became required"],
    ),
    "request field becomes optional": (
        lambda d: _request(d).update(required=[]),
        [f"{REQ}field job became optional"],
    ),
    "required request field added": (
        lambda d: (_request(d)["properties"].update(zone={"type": "string"}), _request(d)["required"].append("zone")),
        [f"BREAKING {REQ}field zone added as required"],
    ),
    "optional request field added": (
        lambda d: _request(d)["properties"].update(zone={"type": "string"}),
        [f"{REQ}field zone added"],
    ),
    "request field may be null": (
        lambda d: _request(d)["properties"]["note"].update(nullable=True),
        [f"{REQ}field note may now be null"],
    ),
    "request integer widened to number": (
        lambda d: _request(d)["properties"]["limits"]["properties"]["cpu"].update(type="number"),
        [f"{REQ}field limits.cpu type integer → number"],
    ),
    "response gets a new success status": (
        lambda d: d["paths"]["/jobs"]["post"]["responses"].update({"202": {"description": ""}}),
        ["BREAKING POST /jobs: response 202 added"],
    ),
    "error response removed": (
        lambda d: d["paths"]["/jobs"]["post"]["responses"].pop("404"),
        ["POST /jobs: response 404 removed"],
    ),
    "request body media type removed": (
        lambda d: d["paths"]["/jobs"]["post"]["requestBody"].update(content={"text/plain": {}}),
        [f"BREAKING POST /jobs: request body {JSON} removed", "POST /jobs: request body text/plain added"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_change_is_found_and_rated(case: str) -> None:
    change, expected = CASES[case]
    assert _lines(change) == expected


def _response_only_document() -> dict[str, Any]:
    """Job reached only from a response, through another component (Page → Job)."""
    doc = _document()
    del doc["paths"]["/jobs"]["post"]["requestBody"]
    doc["components"]["schemas"]["Page"] = {
        "type": "object",
        "properties": {"jobs": {"$ref": "#/components/schemas/Job"}},
    }
    doc["paths"]["/jobs"]["post"]["responses"]["200"]["content"][JSON]["schema"] = {"$ref": "#/components/schemas/Page"}
    return doc


RESPONSE_ONLY: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "gains an enum value (the generated enums keep unknown values)": (
        lambda d: _job(d)["properties"]["state"].update(enum=["NEW", "DONE", "FAILED"]),
        "schema Job: field state gained enum values ['FAILED']",
    ),
    "loses an enum value": (
        lambda d: _job(d)["properties"]["state"].update(enum=["NEW"]),
        "schema Job: field state lost enum values ['DONE']",
    ),
    "field may now be null": (
        lambda d: _job(d)["properties"]["size"].update(nullable=True),
        "BREAKING schema Job: field size may now be null",
    ),
    "field null in a 3.1 type list": (
        lambda d: _job(d)["properties"]["size"].update(type=["integer", "null"]),
        "BREAKING schema Job: field size may now be null",
    ),
    "required field becomes optional": (
        lambda d: _job(d).update(required=[]),
        "BREAKING schema Job: field name became optional",
    ),
    "field becomes required": (
        lambda d: _job(d).update(required=["name", "size"]),
        "schema Job: field size became required",
    ),
    "integer widened to number": (
        lambda d: _job(d)["properties"]["size"].update(type="number"),
        "BREAKING schema Job: field size type integer → number",
    ),
    "field added": (
        lambda d: _job(d)["properties"].update(extra={"type": "string"}),
        "schema Job: field extra added",
    ),
    "format added": (
        lambda d: _job(d)["properties"]["name"].update(format="date-time"),
        "BREAKING schema Job: field name type string → string:date-time",
    ),
}


@pytest.mark.parametrize("case", sorted(RESPONSE_ONLY))
def test_a_component_only_received_is_rated_as_a_response(case: str) -> None:
    change, expected = RESPONSE_ONLY[case]
    old = _response_only_document()
    new = copy.deepcopy(old)
    change(new)
    assert [c.line() for c in compare(old, new)] == [expected]


def test_an_unchanged_document_has_no_changes() -> None:
    assert compare(_document(), _document()) == []
    assert compare(_response_only_document(), _response_only_document()) == []
