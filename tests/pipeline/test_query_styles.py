"""Query parameters the generator would send in a form the service does not read: lists sent as one
comma-separated value (`style: form, explode: false`; openapi-python-client would repeat the key) and objects
as `name[key]=value` (`style: deepObject`; it would send bare `key=value`). The overlay rules that mark them,
the generator's handling, and the generated CF code."""

from __future__ import annotations

import copy
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline._common import PipelineError
from scripts.pipeline.extensions import comma_separated_parameters, deep_object_parameters
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


DEEP = "patches:\n  - reason: fields[resource]=keys\n    rule: deep-object-parameters\n    names: [fields]\n"


def _with_fields() -> dict[str, Any]:
    document = _document()
    document["paths"]["/things"]["get"]["parameters"].append(
        {"name": "fields", "in": "query", "schema": {"type": "object"}}
    )
    return document


def test_the_deep_object_rule_marks_the_named_object_parameters(tmp_path: Path) -> None:
    patched = _apply(tmp_path, DEEP, _with_fields())
    fields = _query(patched)["fields"]
    assert (fields["style"], fields["explode"]) == ("deepObject", True)
    assert deep_object_parameters(patched) == {("GET", "/things"): {"fields"}}
    assert comma_separated_parameters(patched) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP.replace("[fields]", "[label]"), "'label' is not an object"),
        (DEEP.replace("[fields]", "[nope]"), "no object query parameter named ['nope']"),
        (DEEP.replace("    names: [fields]\n", ""), "`names` must list"),
    ],
)
def test_the_deep_object_rule_names_what_it_cannot_do(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        _apply(tmp_path, text, _with_fields())


def test_the_generated_cf_code_sends_fields_as_deep_objects() -> None:
    from scp_async_clients.cf_v3.api.service_instances import get_service_instance, list_service_instances
    from scp_async_clients.cf_v3.models.get_service_instance_fields import GetServiceInstanceFields
    from scp_async_clients.cf_v3.models.list_service_instances_fields import ListServiceInstancesFields

    fields = ListServiceInstancesFields.from_dict({"space.organization": ["name", "guid"], "space": "name"})
    params = list_service_instances._get_kwargs(fields=fields)["params"]
    assert params == {"fields[space.organization]": "name,guid", "fields[space]": "name"}
    one = get_service_instance._get_kwargs("g", fields=GetServiceInstanceFields.from_dict({"space": ["guid"]}))
    assert one["params"] == {"fields[space]": "guid"}
