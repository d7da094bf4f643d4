"""Step 2: turn raw upstream documents into the canonical `specs/<api>.json` the generator reads.

convert Swagger 2.0 (swagger2openapi) → bundle split trees (redocly) → merge an API's documents →
drop all upstream prose → apply the project's overlay → check `$ref`s and operationIds → write sorted,
indented JSON. The committed specs hold structure only; summaries are our own, from overlays. Where an API's
docs have a section per operation (reference.py), its anchor is kept as `x-scp-docs-anchor`: a link target.
"""

from __future__ import annotations

import http
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ._common import (
    CACHE_DIR,
    NODE_BIN,
    SPECS_DIR,
    ApiSource,
    PipelineError,
    dump_canonical,
    iter_operations,
    parse_document,
    staging_dir,
    write_atomic,
)
from .fetch import read_manifest
from .overlays import apply_overlay
from .reference import add_docs_anchors

# Keywords whose values are prose (or examples of data); they never reach specs/.
PROSE_KEYS = frozenset({"description", "summary", "example", "examples", "externalDocs", "termsOfService"})
# Maps whose keys are names chosen by the API author, not OpenAPI keywords.
NAME_MAPS = frozenset(
    {
        "paths",
        "properties",
        "patternProperties",
        "definitions",
        "schemas",
        "responses",
        "parameters",
        "requestBodies",
        "headers",
        "securitySchemes",
        "links",
        "callbacks",
        "content",
        "variables",
        "encoding",
        "mapping",
        "webhooks",
        "$defs",
    }
)
# Values that are data, copied as they are.
DATA_KEYS = frozenset({"default", "enum", "const", "required"})
OUR_EXTENSIONS = "x-scp-"
TOOL_TIMEOUT = 120


def _run_tool(api: str, argv: list[str], what: str) -> None:
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}
    executable = NODE_BIN / argv[0]
    if not executable.exists():
        raise PipelineError(api, f"{executable} is missing: run `make install` (npm ci in scripts/)")
    try:
        result = subprocess.run(
            [str(executable), *argv[1:]], capture_output=True, text=True, timeout=TOOL_TIMEOUT, env=env
        )
    except subprocess.TimeoutExpired:
        raise PipelineError(api, f"{what} timed out after {TOOL_TIMEOUT} s") from None
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "rror" in ln), lines[-1] if lines else "no output")
        raise PipelineError(api, f"{what} failed: {detail}")


def convert_swagger2(api: str, source: Path, scratch: Path) -> dict[str, Any]:
    out = scratch / f"{source.stem}.converted.json"
    _run_tool(api, ["swagger2openapi", "--patch", "--outfile", str(out), str(source)], "swagger2openapi")
    return _read(api, out)


def bundle(api: str, source: Path, scratch: Path) -> dict[str, Any]:
    out = scratch / f"{source.stem}.bundled.json"
    _run_tool(api, ["redocly", "bundle", str(source), "--output", str(out), "--ext", "json"], "redocly bundle")
    return _read(api, out)


def _read(api: str, path: Path) -> dict[str, Any]:
    try:
        return parse_document(path.read_bytes(), path.name)
    except (OSError, ValueError) as exc:
        raise PipelineError(api, str(exc)) from None


def load_document(api: str, fmt: str, path: Path, scratch: Path) -> dict[str, Any]:
    if fmt == "swagger2":
        document = _read(api, path)
        if "swagger" not in document:
            raise PipelineError(api, f"{path.name} is declared swagger2 but has no `swagger` field")
        return convert_swagger2(api, path, scratch)
    if fmt == "openapi3-split":
        return bundle(api, path, scratch)
    document = _read(api, path)
    if not str(document.get("openapi", "")).startswith("3"):
        raise PipelineError(api, f"{path.name} is declared openapi3 but is not an OpenAPI 3 document")
    return document


def merge(api: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the documents of one API (e.g. MultiApps v1 and v2) into one."""
    merged = documents[0]
    for other in documents[1:]:
        for path, item in other.get("paths", {}).items():
            if path in merged.setdefault("paths", {}):
                raise PipelineError(api, f"documents overlap on path {path}")
            merged["paths"][path] = item
        for section, entries in other.get("components", {}).items():
            target = merged.setdefault("components", {}).setdefault(section, {})
            for name, value in entries.items():
                if name in target and target[name] != value:
                    raise PipelineError(api, f"documents disagree on components.{section}.{name}")
                target[name] = value
        known_tags = {t.get("name") for t in merged.get("tags", [])}
        merged.setdefault("tags", []).extend(t for t in other.get("tags", []) if t.get("name") not in known_tags)
    return merged


def strip_prose(node: Any, parent: str | None = None) -> Any:
    """Remove every prose and example field, and vendor extensions other than our own."""
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    if not isinstance(node, dict):
        return node
    if parent in NAME_MAPS:
        return {name: strip_prose(value) for name, value in node.items()}
    if parent == "scopes":
        return dict.fromkeys(node, "")
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key in PROSE_KEYS or (key.startswith("x-") and not key.startswith(OUR_EXTENSIONS)):
            continue
        cleaned[key] = value if key in DATA_KEYS else strip_prose(value, key)
    return cleaned


def _tidy_responses(document: dict[str, Any]) -> None:
    """OpenAPI requires a response description: ours is the status phrase, never upstream text.

    Response `links` go too: no generator uses them, and upstream hides prose in their parameters.
    """

    def phrase(code: str) -> str:
        try:
            return http.HTTPStatus(int(code)).phrase
        except ValueError:
            return "Default response" if code == "default" else f"{code} response"

    for _, _, operation in iter_operations(document):
        for code, response in operation.get("responses", {}).items():
            if isinstance(response, dict) and "$ref" not in response:
                response["description"] = phrase(str(code))
                response.pop("links", None)
    for code, response in document.get("components", {}).get("responses", {}).items():
        response["description"] = phrase(str(code)) if str(code).isdigit() else "Response"
        response.pop("links", None)
    document.get("components", {}).pop("links", None)


def _pointer_get(document: dict[str, Any], ref: str) -> bool:
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def check_document(api: str, document: dict[str, Any]) -> None:
    """Every `$ref` resolves inside the document and every operation has a unique operationId."""

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not (ref.startswith("#/") and _pointer_get(document, ref)):
                raise PipelineError(api, f"broken $ref {ref!r} at {pointer or '/'}")
            for key, value in node.items():
                walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    walk(document, "")
    seen: dict[str, str] = {}
    for method, path, operation in iter_operations(document):
        operation_id = operation.get("operationId")
        where = f"{method.upper()} {path}"
        if not operation_id:
            raise PipelineError(api, f"{where} has no operationId")
        if operation_id in seen:
            raise PipelineError(api, f"operationId {operation_id!r} used by both {seen[operation_id]} and {where}")
        seen[operation_id] = where


def normalize_document(
    source: ApiSource, raw_documents: list[dict[str, Any]], specs_dir: Path = SPECS_DIR, *, strict: bool = True
) -> dict[str, Any]:
    """Merge, strip, patch and check; pure apart from reading the overlay."""
    document = merge(source.name, raw_documents)
    if source.handwritten is None:
        add_docs_anchors(source.name, document)  # from the summaries, before they go
        document = strip_prose(document)
        _tidy_responses(document)
        document["info"] = {"title": source.title, "version": str(raw_documents[0].get("info", {}).get("version", "0"))}
        document["tags"] = [
            {"name": t["name"]} for t in document.get("tags", []) if isinstance(t, dict) and "name" in t
        ]
        if not document["tags"]:
            del document["tags"]
    document = apply_overlay(source.name, document, specs_dir / "overlays" / f"{source.name}.yaml", strict=strict)
    check_document(source.name, document)
    return document


def raw_documents_from_cache(source: ApiSource, scratch: Path, cache_dir: Path) -> list[dict[str, Any]]:
    manifest = read_manifest(source.name, cache_dir)
    return [
        load_document(source.name, entry["format"], cache_dir / source.name / entry["root"], scratch)
        for entry in manifest
    ]


def raw_documents_from_reference(source: ApiSource, scratch: Path, reference_dir: Path) -> list[dict[str, Any]]:
    documents = []
    for doc in source.documents:
        path = reference_dir / doc.reference
        if not path.exists():
            raise PipelineError(source.name, f"reference document {path} does not exist")
        documents.append(load_document(source.name, doc.format, path, scratch))
    return documents


def normalize_api(
    source: ApiSource,
    specs_dir: Path = SPECS_DIR,
    cache_dir: Path = CACHE_DIR,
    reference_dir: Path | None = None,
    out_dir: Path | None = None,
    *,
    strict: bool = True,
) -> Path:
    """Write `<out_dir or specs_dir>/<api>.json`; the previous file stays until the new one is complete."""
    out = (out_dir or specs_dir) / f"{source.name}.json"
    with staging_dir(cache_dir, f"normalize-{source.name}") as scratch:
        if source.handwritten:
            raw = [_read(source.name, specs_dir / source.handwritten)]
        elif reference_dir is not None:
            raw = raw_documents_from_reference(source, scratch, reference_dir)
        else:
            raw = raw_documents_from_cache(source, scratch, cache_dir)
        document = normalize_document(source, raw, specs_dir, strict=strict)
    write_atomic(out, dump_canonical(document))
    return out


def load_spec(api: str, specs_dir: Path = SPECS_DIR) -> dict[str, Any]:
    path = specs_dir / f"{api}.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise PipelineError(api, f"{path} does not exist: run the normalize step") from None
    except ValueError as exc:
        raise PipelineError(api, f"{path} is not valid JSON ({exc})") from None
