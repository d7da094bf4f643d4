"""Two spec names that become one Python name fail the API in one line, unless an overlay renames one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline.generate import name_collisions

from .conftest import run_pipeline


def _operation(operation_id: str, tag: str = "dirs") -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Dir"}}}
    return {"operationId": operation_id, "tags": [tag], "responses": {"200": {"description": "", "content": content}}}


def _document(paths: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    schemas.setdefault("Dir", {"type": "object", "properties": {"name": {"type": "string"}}})
    return {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _workspace(tmp_path: Path, document: dict[str, Any], overlay: str | None = None) -> Path:
    specs = tmp_path / "specs"
    (specs / "handwritten").mkdir(parents=True)
    (specs / "overlays").mkdir()
    (specs / "sources.yaml").write_text(
        "apis:\n  tiny:\n    title: Tiny\n    base_url: http://127.0.0.1:9\n    handwritten: handwritten/tiny.yaml\n"
    )
    (specs / "handwritten/tiny.yaml").write_text(json.dumps(document))
    if overlay:
        (specs / "overlays/tiny.yaml").write_text(overlay)
    return tmp_path


def _pipeline(workspace: Path, *args: str) -> tuple[int, list[str]]:
    dirs = ["--specs-dir", str(workspace / "specs"), "--generated-dir", str(workspace / "generated")]
    result = run_pipeline(*dirs, "--readme", str(workspace / "README.md"), *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, [line for line in result.stderr.splitlines() if line.strip()]


COLLIDING = {"/a": {"post": _operation("createDirectory")}, "/b": {"post": _operation("create_directory")}}


@pytest.mark.slow
def test_two_operation_ids_for_one_module_fail_the_api_in_one_line(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, _document(COLLIDING))
    assert _pipeline(workspace, "normalize", "tiny")[0] == 0
    status, lines = _pipeline(workspace, "generate", "tiny")
    assert status == 1
    assert lines == [
        "error: tiny: name collision: createDirectory (POST /a) and create_directory (POST /b) both become module "
        "api.dirs.create_directory; rename one (an operationId patch in specs/overlays/tiny.yaml)"
    ]
    assert not (workspace / "generated/scp_async_clients/tiny").exists()  # nothing half-right was swapped in


@pytest.mark.slow
def test_an_overlay_rename_resolves_the_collision(tmp_path: Path) -> None:
    overlay = (
        "patches:\n"
        "  - reason: createDirectory and create_directory are one Python name; POST /b gets its own\n"
        "    op: replace\n"
        "    path: /paths/~1b/post/operationId\n"
        "    value: createDirectoryAtB\n"
    )
    workspace = _workspace(tmp_path, _document(COLLIDING), overlay)
    assert _pipeline(workspace, "normalize", "tiny")[0] == 0
    status, lines = _pipeline(workspace, "generate", "tiny")
    assert status == 0, lines
    package = workspace / "generated/scp_async_clients/tiny"
    assert '"url": "/a"' in (package / "api/dirs/create_directory.py").read_text()
    assert '"url": "/b"' in (package / "api/dirs/create_directory_at_b.py").read_text()
    namespace = (package / "_namespace.py").read_text()
    assert namespace.count("async def create_directory(") == 2  # the plain and the raw-response class
    assert namespace.count("async def create_directory_at_b(") == 2


@pytest.mark.slow
def test_two_schemas_for_one_model_module_fail_the_api(tmp_path: Path) -> None:
    document = _document(
        {"/a": {"post": _operation("createDirectory")}},
        ABCThing={"type": "object", "properties": {"a": {"type": "string"}}},
        AbcThing={"type": "object", "properties": {"b": {"type": "integer"}}},
    )
    workspace = _workspace(tmp_path, document)
    assert _pipeline(workspace, "normalize", "tiny")[0] == 0
    status, lines = _pipeline(workspace, "generate", "tiny")
    assert status == 1
    assert lines == [
        "error: tiny: name collision: model ABCThing and model AbcThing both become models/abc_thing.py; "
        "rename one schema (an overlay patch in specs/overlays/tiny.yaml)"
    ]


def _op(operation_id: str, method: str, path: str, module: str) -> dict[str, Any]:
    return {"operation_id": operation_id, "method": method, "path": path, "module": module}


def test_one_method_name_from_two_tags_collides_in_the_namespace() -> None:
    operations = [
        _op("getThing", "GET", "/a", "api.first.get_thing"),
        _op("get_thing", "GET", "/b", "api.second.get_thing"),
        _op("listThings", "GET", "/c", "api.first.list_things"),
    ]
    assert name_collisions("x", operations, []) == [
        "name collision: getThing (GET /a) and get_thing (GET /b) both become namespace method get_thing(); "
        "rename one (an operationId patch in specs/overlays/x.yaml)"
    ]


def test_a_method_that_would_hide_a_namespace_attribute_collides() -> None:
    operations = [_op("withRawResponse", "GET", "/a", "api.t.with_raw_response"), _op("ok", "GET", "/b", "api.t.ok")]
    assert name_collisions("x", operations, []) == [
        "name collision: withRawResponse (GET /a) becomes namespace method with_raw_response(), which every "
        "namespace has; rename it (an operationId patch in specs/overlays/x.yaml)"
    ]


def test_two_schemas_for_one_class_collide() -> None:
    models = [
        {"schema": "Dir", "class": "Dir", "module": "dir_"},
        {"schema": "dir", "class": "Dir", "module": "dir_"},
    ]
    assert name_collisions("x", [], models) == [
        "name collision: schema 'Dir' and schema 'dir' both become model class Dir; "
        "rename one schema (an overlay patch in specs/overlays/x.yaml)"
    ]


def test_distinct_names_do_not_collide() -> None:
    operations = [_op("a", "GET", "/a", "api.t.a"), _op("b", "GET", "/b", "api.u.b")]
    models = [{"schema": "A", "class": "A", "module": "a"}, {"schema": "B", "class": "B", "module": "b"}]
    assert name_collisions("x", operations, models) == []
