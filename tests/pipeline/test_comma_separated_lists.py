"""List filters sent as one comma-separated value (`style: form, explode: false`): the overlay rule that marks
them, the generator's handling (openapi-python-client would repeat the key), and the generated CF code."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline._common import PipelineError
from scripts.pipeline.extensions import comma_separated_parameters
from scripts.pipeline.overlays import apply_overlay

RULE = "patches:\n  - reason: the service reads a,b,c\n    rule: comma-separated-lists\n"


def _document() -> dict[str, Any]:
    array = {"type": "array", "items": {"type": "string"}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/things": {
                "parameters": [{"$ref": "#/components/parameters/Guids"}],
                "get": {
                    "operationId": "listThings",
                    "parameters": [
                        {"name": "names", "in": "query", "schema": array},
                        {"name": "states", "in": "query", "schema": {"$ref": "#/components/schemas/States"}},
                        {"name": "label", "in": "query", "schema": {"type": "string"}},
                        {"name": "ids", "in": "path", "required": True, "schema": array},
                    ],
                    "responses": {"200": {"description": "OK"}},
                },
            }
        },
        "components": {
            "parameters": {"Guids": {"name": "guids", "in": "query", "schema": array}},
            "schemas": {"States": array},
        },
    }


def _apply(tmp_path: Path, text: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return apply_overlay("t", document or _document(), path)


def _query(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    operation = document["paths"]["/things"]["get"]["parameters"]
    return {
        "guids": document["components"]["parameters"]["Guids"],
        **{p["name"]: p for p in operation if p["in"] == "query"},
    }


def test_the_rule_marks_every_array_query_parameter_and_nothing_else(tmp_path: Path) -> None:
    patched = _query(_apply(tmp_path, RULE))
    for name in ("guids", "names", "states"):  # by $ref, inline, with a $ref schema
        assert (patched[name]["style"], patched[name]["explode"]) == ("form", False), name
    assert "explode" not in patched["label"]  # a scalar: explode means nothing for it
    path_param = _apply(tmp_path, RULE)["paths"]["/things"]["get"]["parameters"][3]
    assert "explode" not in path_param
    assert comma_separated_parameters(_apply(tmp_path, RULE)) == {("GET", "/things"): {"guids", "names", "states"}}


def test_except_leaves_a_parameter_as_it_is(tmp_path: Path) -> None:
    patched = _query(_apply(tmp_path, RULE + "    except: [names]\n"))
    assert "explode" not in patched["names"]
    assert patched["guids"]["explode"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["components"]["parameters"]["Guids"].update(explode=True), "declares its style or explode"),
        (lambda d: d["paths"]["/things"]["get"].pop("parameters") and d.pop("components"), "no array query"),
    ],
)
def test_the_rule_refuses_to_overrule_the_spec_or_to_do_nothing(tmp_path: Path, change: Any, message: str) -> None:
    document = copy.deepcopy(_document())
    change(document)
    with pytest.raises(PipelineError, match=message):
        _apply(tmp_path, RULE, document)


def test_other_styles_without_explode_are_refused_by_the_generator() -> None:
    document = _document()
    document["components"]["parameters"]["Guids"].update(style="pipeDelimited", explode=False)
    with pytest.raises(ValueError, match=r"GET /things parameter 'guids': explode false with style 'pipeDelimited'"):
        comma_separated_parameters(document)


def test_the_generated_cf_code_sends_one_comma_separated_value() -> None:
    from scp_async_clients.cf_v3.api.apps import get_app, list_apps
    from scp_async_clients.cf_v3.models.get_app_include_item import GetAppIncludeItem
    from scp_async_clients.cf_v3.models.list_apps_include_item import ListAppsIncludeItem

    space = uuid.UUID("6667d3bb-e3b5-4360-afdc-0bad5e368127")
    params = list_apps._get_kwargs(
        space_guids=[space, "fb16f757-76f1-46ab-af47-5b49c775e395"],  # type: ignore[list-item]
        names=["a"],
        include=[ListAppsIncludeItem.SPACE, ListAppsIncludeItem.SPACE_ORGANIZATION],
    )["params"]
    assert params == {
        "space_guids": f"{space},fb16f757-76f1-46ab-af47-5b49c775e395",
        "names": "a",
        "include": "space,space.organization",
    }
    assert list_apps._get_kwargs(guids=[])["params"] == {"guids": ""}  # filters everything out, as asked
    assert list_apps._get_kwargs()["params"] == {}
    assert get_app._get_kwargs("g", include=[GetAppIncludeItem.SPACE])["params"] == {"include": "space"}
