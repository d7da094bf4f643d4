"""The project's spec fixes: declarative patches under `specs/overlays/<api>.yaml`, each with its reason.

An overlay file holds

    patches:                      # applied in order
      - reason: one line saying why upstream is wrong or unusable as it is
        op: add | remove | replace | move | copy | test   # RFC 6902 JSON Patch
        path: /json/pointer
        value: ...
      - reason: ...
        rule: drop-header-parameters        # a named fix that needs no index into a list
        names: [Authorization]
      - reason: ...
        rule: optional                      # required fields the service omits (also: nullable,
        schema: SubaccountResponseObject    # for fields it sends as null; `name[]` for list items)
        properties: [description]
      - reason: ...
        rule: comma-separated-lists         # array query parameters read as one value `a,b,c`
      - reason: ...
        rule: deep-object-parameters        # object query parameters sent as name[key]=value
        names: [fields]
      - reason: ...
        rule: docs-anchor                   # the docs section of operations whose upstream summary
        operations: {getV3ApiRoot: v3-api-root}   # is not the docs' heading (see reference.py)
    summaries:                    # our own one-line summaries, by operationId
      getGlobalAccount: Read the global account of the service key.

Rules exist where a plain JSON Patch would have to name list positions that shift upstream.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

from ._common import PipelineError, iter_operations, load_yaml
from .reference import ANCHOR_KEY

_PATH_TEMPLATE = re.compile(r"{([^}]+)}")


def _parameter_lists(document: dict[str, Any]) -> list[list[Any]]:
    lists = []
    for item in document.get("paths", {}).values():
        if isinstance(item, dict):
            lists.append(item.setdefault("parameters", []))
            lists.extend(op.setdefault("parameters", []) for op in item.values() if isinstance(op, dict))
    return lists


def _resolve(document: dict[str, Any], node: Any) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        return target
    return node


def _drop_header_parameters(document: dict[str, Any], entry: dict[str, Any]) -> None:
    names = {str(n).lower() for n in entry.get("names", [])}
    if not names:
        raise ValueError("`names` must list at least one header")
    for params in _parameter_lists(document):
        params[:] = [
            p
            for p in params
            if not (
                _resolve(document, p).get("in") == "header" and str(_resolve(document, p).get("name")).lower() in names
            )
        ]
    _prune_empty_parameter_lists(document)


def _drop_undeclared_path_parameters(document: dict[str, Any], entry: dict[str, Any]) -> None:
    for path, item in document.get("paths", {}).items():
        in_template = set(_PATH_TEMPLATE.findall(path))
        for params in [item.setdefault("parameters", [])] + [
            op.setdefault("parameters", []) for op in item.values() if isinstance(op, dict)
        ]:
            params[:] = [
                p
                for p in params
                if not (
                    _resolve(document, p).get("in") == "path" and _resolve(document, p).get("name") not in in_template
                )
            ]
    _prune_empty_parameter_lists(document)


def _prune_empty_parameter_lists(document: dict[str, Any]) -> None:
    for item in document.get("paths", {}).values():
        if item.get("parameters") == []:
            del item["parameters"]
        for op in item.values():
            if isinstance(op, dict) and op.get("parameters") == []:
                del op["parameters"]


def _free_form_maps(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """`additionalProperties: {type: object}` claims every value is an object; make the map free-form."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") == {"type": "object"}:
                node["additionalProperties"] = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


def _rename_tags(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Tags name the generated module folders; long upstream tag names make poor folder names."""
    names = entry.get("names")
    if not isinstance(names, dict) or not names:
        raise ValueError("`names` must map old tag names to new ones")
    used = {tag for _, _, op in iter_operations(document) for tag in op.get("tags", [])}
    unknown = set(names) - used
    if unknown:
        raise ValueError(f"no operation has tag(s) {sorted(unknown)}")
    for _, _, operation in iter_operations(document):
        operation["tags"] = [names.get(tag, tag) for tag in operation.get("tags", [])]
    for tag in document.get("tags", []):
        tag["name"] = names.get(tag["name"], tag["name"])


def _schema_properties(document: dict[str, Any], entry: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    name = entry.get("schema")
    properties = entry.get("properties")
    if not isinstance(name, str) or not isinstance(properties, list) or not properties:
        raise ValueError("needs `schema` (a component schema name) and `properties` (a list)")
    schema = document.get("components", {}).get("schemas", {}).get(name)
    if not isinstance(schema, dict):
        raise ValueError(f"no schema {name!r}")
    return schema, [str(p) for p in properties]


def _parts(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and its inline `allOf` members: where its properties and `required` lists live."""
    return [schema, *(part for part in schema.get("allOf", []) if isinstance(part, dict) and "$ref" not in part)]


def _optional(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Fields the spec requires but the service omits; an entry that no longer applies fails."""
    schema, properties = _schema_properties(document, entry)
    parts = _parts(schema)
    stale = [p for p in properties if not any(p in part.get("required", []) for part in parts)]
    if stale:
        raise ValueError(f"{entry['schema']}: {stale} are not required")
    for part in parts:
        if "required" in part:
            part["required"] = [p for p in part["required"] if p not in properties]
            if not part["required"]:
                del part["required"]


def _required(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Fields the spec leaves optional but the service always sends (no `X | Unset` for them).

    `schemas` lists several schemas that share the fix; each must declare every property and require none.
    """
    names = entry.get("schemas") or [entry.get("schema")]
    if not isinstance(names, list):
        raise ValueError("`schemas` must be a list of schema names")
    for name in names:
        schema, properties = _schema_properties(document, {**entry, "schema": name})
        parts = _parts(schema)
        undeclared = [p for p in properties if not any(p in part.get("properties", {}) for part in parts)]
        if undeclared:
            raise ValueError(f"{name} has no properties {undeclared}")
        stale = [p for p in properties if any(p in part.get("required", []) for part in parts)]
        if stale:
            raise ValueError(f"{name}: {stale} are required already")
        for prop in properties:
            holder = next(part for part in parts if prop in part.get("properties", {}))
            holder["required"] = sorted({*holder.get("required", []), prop})


def _make_nullable(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    openapi_31 = str(document.get("openapi", "")).startswith("3.1")
    if "$ref" in node or "allOf" in node or "anyOf" in node or "oneOf" in node:
        # Beside a $ref, `nullable` is ignored; a union with null says it in both OpenAPI versions.
        if openapi_31:
            return {"anyOf": [node, {"type": "null"}]}
        return {"oneOf": [node], "nullable": True}
    result = dict(node)
    if openapi_31:
        kinds = result.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
        result["type"] = [*kinds, "null"] if "null" not in kinds else kinds
    else:
        result["nullable"] = True
    return result


def _nullable(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Fields (or, as `name[]`, the items of list fields) the service sends as null."""
    schema, properties = _schema_properties(document, entry)
    for name in properties:
        field, items = (name[:-2], True) if name.endswith("[]") else (name, False)
        holders = [part["properties"] for part in _parts(schema) if field in part.get("properties", {})]
        if not holders:
            raise ValueError(f"{entry['schema']} has no property {field!r}")
        declared = holders[0]
        if items:
            if "items" not in declared[field]:
                raise ValueError(f"{entry['schema']}.{field} is not a list")
            declared[field] = {**declared[field], "items": _make_nullable(document, declared[field]["items"])}
        else:
            declared[field] = _make_nullable(document, declared[field])


def _docs_anchor(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Set the docs anchor of operations (by operationId) whose upstream summary differs from the docs' heading."""
    anchors = entry.get("operations")
    if not isinstance(anchors, dict) or not anchors:
        raise ValueError("`operations` must map operationIds to docs anchors")
    by_id = {op.get("operationId"): op for _, _, op in iter_operations(document)}
    for operation_id, anchor in anchors.items():
        operation = by_id.get(operation_id)
        if operation is None:
            raise ValueError(f"no operation {operation_id!r}")
        if not isinstance(anchor, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", anchor):
            raise ValueError(f"{operation_id}: {anchor!r} is no docs anchor (lowercase words joined by '-')")
        if operation.get(ANCHOR_KEY) == anchor:
            raise ValueError(f"{operation_id}: its anchor is {anchor!r} already")
        operation[ANCHOR_KEY] = anchor


def _comma_separated_lists(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """Every array query parameter is read by the service as one comma-separated value (`style: form,
    explode: false`), not as the key repeated (OpenAPI's default); `except` names parameters left as they are.

    A parameter that declares how it is sent already is an error: the rule would overrule the spec unseen.
    """
    kept = entry.get("except", [])
    if not isinstance(kept, list):
        raise ValueError("`except` must list parameter names")
    changed = 0
    for params in _parameter_lists(document):
        for raw in params:
            param = _resolve(document, raw)
            schema = _resolve(document, param.get("schema") or {})
            if param.get("in") != "query" or schema.get("type") != "array" or param.get("name") in kept:
                continue
            if "explode" in param or "style" in param:
                raise ValueError(f"query parameter {param.get('name')!r} declares its style or explode already")
            param["style"], param["explode"] = "form", False
            changed += 1
    _prune_empty_parameter_lists(document)
    if not changed:
        raise ValueError("no array query parameter to change")


def _deep_object_parameters(document: dict[str, Any], entry: dict[str, Any]) -> None:
    """The object query parameters of these `names` go as `name[key]=value` (`style: deepObject`), not as
    bare `key=value` pairs (OpenAPI's default for an object, which the service would not know as its own)."""
    names = entry.get("names")
    if not isinstance(names, list) or not names:
        raise ValueError("`names` must list at least one parameter")
    changed: set[str] = set()
    for params in _parameter_lists(document):
        for raw in params:
            param = _resolve(document, raw)
            schema = _resolve(document, param.get("schema") or {})
            if param.get("in") != "query" or param.get("name") not in names:
                continue
            if schema.get("type") != "object":
                raise ValueError(f"query parameter {param['name']!r} is not an object")
            if "explode" in param or "style" in param:
                raise ValueError(f"query parameter {param['name']!r} declares its style or explode already")
            param["style"], param["explode"] = "deepObject", True
            changed.add(param["name"])
    _prune_empty_parameter_lists(document)
    if set(names) - changed:
        raise ValueError(f"no object query parameter named {sorted(set(names) - changed)}")


RULES: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "optional": _optional,
    "required": _required,
    "nullable": _nullable,
    "rename-tags": _rename_tags,
    "drop-header-parameters": _drop_header_parameters,
    "free-form-maps": _free_form_maps,
    "drop-undeclared-path-parameters": _drop_undeclared_path_parameters,
    "docs-anchor": _docs_anchor,
    "comma-separated-lists": _comma_separated_lists,
    "deep-object-parameters": _deep_object_parameters,
}


def load_overlay(path: Path) -> dict[str, Any]:
    try:
        overlay = load_yaml(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read overlay {path.name}: {exc}") from None
    if not isinstance(overlay, dict) or set(overlay) - {"patches", "summaries"}:
        raise ValueError(f"overlay {path.name} may only hold `patches` and `summaries`")
    return overlay


def apply_overlay(api: str, document: dict[str, Any], path: Path, *, strict: bool = True) -> dict[str, Any]:
    """Apply `path` to a copy of `document`; every failure names the overlay entry and its reason.

    A summary for an operation the document lacks fails a strict run; otherwise (a drift report on a
    document that lost operations) it is skipped, so the report can say what was removed.
    """
    if not path.exists():
        return document
    try:
        overlay = load_overlay(path)
    except ValueError as exc:
        raise PipelineError(api, str(exc)) from None
    result = copy.deepcopy(document)
    for index, entry in enumerate(overlay.get("patches") or []):
        where = f"{path.name} patches[{index}]"
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            raise PipelineError(api, f"{where} needs a one-line `reason`")
        try:
            if "rule" in entry:
                rule = RULES.get(entry["rule"])
                if rule is None:
                    raise ValueError(f"unknown rule {entry['rule']!r} (known: {', '.join(RULES)})")
                rule(result, entry)
            else:
                operation = {k: v for k, v in entry.items() if k != "reason"}
                result = jsonpatch.apply_patch(result, [operation])
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, ValueError, KeyError) as exc:
            raise PipelineError(api, f"{where} ({reason.strip()}) does not apply: {exc}") from None
    summaries = overlay.get("summaries") or {}
    if summaries:
        by_id = {op.get("operationId"): op for _, _, op in iter_operations(result)}
        for operation_id, summary in summaries.items():
            if operation_id in by_id:
                by_id[operation_id]["summary"] = str(summary).strip()
            elif strict:
                raise PipelineError(api, f"{path.name} summaries: no operation {operation_id!r}")
    return result
