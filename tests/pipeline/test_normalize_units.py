"""Prose stripping, overlays and checks on small documents (the end-to-end runs cover the real ones)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline._common import PipelineError
from scripts.pipeline.normalize import check_document, strip_prose
from scripts.pipeline.overlays import apply_overlay


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.0.1",
        "info": {"title": "T", "version": "1", "description": "Long upstream prose."},
        "x-sap-shortText": "vendor prose",
        "paths": {
            "/things/{id}": {
                "get": {
                    "operationId": "getThing",
                    "summary": "Read a thing",
                    "description": "Reads it.",
                    "x-scp-note": "ours",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"}},
                        {"$ref": "#/components/parameters/Trace"},
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                        }
                    },
                }
            }
        },
        "components": {
            "parameters": {"Trace": {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}},
            "schemas": {
                "Thing": {
                    "description": "A thing.",
                    "example": {"description": "kept out"},
                    "properties": {
                        "description": {"type": "string", "description": "The thing's description."},
                        "summary": {"type": "string", "default": "a default with a description: kept"},
                        "state": {"type": "string", "enum": ["description", "summary"]},
                    },
                    "required": ["description"],
                }
            },
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "https://t", "scopes": {"read": "Read everything"}}},
                }
            },
        },
    }


def test_prose_goes_but_names_data_and_our_extensions_stay() -> None:
    cleaned = strip_prose(_document())
    thing = cleaned["components"]["schemas"]["Thing"]
    assert set(thing) == {"properties", "required"}
    assert set(thing["properties"]) == {"description", "summary", "state"}  # property names, not prose
    assert thing["properties"]["description"] == {"type": "string"}
    assert thing["properties"]["summary"]["default"] == "a default with a description: kept"
    assert thing["properties"]["state"]["enum"] == ["description", "summary"]
    operation = cleaned["paths"]["/things/{id}"]["get"]
    assert "summary" not in operation
    assert "description" not in operation
    assert operation["x-scp-note"] == "ours"
    assert "x-sap-shortText" not in cleaned
    assert "description" not in cleaned["info"]
    flows = cleaned["components"]["securitySchemes"]["oauth"]["flows"]
    assert flows["clientCredentials"]["scopes"] == {"read": ""}


def _overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


def test_overlay_rules_and_patches_apply_with_reasons(tmp_path: Path) -> None:
    overlay = _overlay(
        tmp_path,
        "patches:\n"
        "  - reason: the session sends it\n    rule: drop-header-parameters\n    names: [authorization, X-Trace]\n"
        "  - reason: a better name\n    op: replace\n    path: /paths/~1things~1{id}/get/operationId\n"
        "    value: readThing\n"
        "summaries:\n  readThing: Our own words.\n",
    )
    patched = apply_overlay("t", _document(), overlay)
    operation = patched["paths"]["/things/{id}"]["get"]
    assert [p.get("name") for p in operation["parameters"]] == ["id"]
    assert operation["operationId"] == "readThing"
    assert operation["summary"] == "Our own words."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patches:\n  - op: remove\n    path: /info\n", "patches[0] needs a one-line `reason`"),
        ("patches:\n  - reason: r\n    rule: nope\n", "unknown rule 'nope'"),
        ("patches:\n  - reason: gone upstream\n    op: remove\n    path: /nope\n", "(gone upstream) does not apply"),
        ("summaries:\n  noSuchOperation: x\n", "summaries: no operation 'noSuchOperation'"),
        ("other: 1\n", "may only hold `patches` and `summaries`"),
    ],
)
def test_bad_overlays_name_the_entry_and_cause(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError) as error:
        apply_overlay("t", _document(), _overlay(tmp_path, text))
    assert message in str(error.value)
    assert str(error.value).startswith("t: ")


def test_checks_find_broken_refs_and_duplicate_operation_ids() -> None:
    document = _document()
    check_document("t", document)
    document["paths"]["/other"] = {"post": {"operationId": "getThing", "responses": {}}}
    # Operations are checked in path order, so the later path is the one named second.
    with pytest.raises(
        PipelineError, match=re.escape("operationId 'getThing' used by both POST /other and GET /things")
    ):
        check_document("t", document)
    document = _document()
    document["components"]["schemas"]["Thing"]["properties"]["x"] = {"$ref": "#/components/schemas/Missing"}
    with pytest.raises(PipelineError, match="broken \\$ref '#/components/schemas/Missing' at /components/schemas/"):
        check_document("t", document)
