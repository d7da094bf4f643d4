"""fetch → normalize → generate against a real server publishing the upstream documents."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from scripts.pipeline._common import GENERATED_PACKAGE, HTTP_METHODS, ROOT, load_sources, load_yaml

API_DOCUMENTS = {name: source.documents for name, source in load_sources().items() if not source.handwritten}


def _pointer(document: Any, pointer: str) -> Any:
    for part in filter(None, pointer.split("/")):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def upstream_operations(upstream: Path, api: str) -> set[str]:
    """(METHOD path) pairs read straight from the upstream files, independent of the pipeline."""
    operations = set()
    for document in API_DOCUMENTS[api]:
        path = upstream / document.reference
        data = load_yaml(path.read_text(encoding="utf-8"))
        base_path = str(data.get("basePath", "")).rstrip("/")
        for template, item in data["paths"].items():
            if "$ref" in item:  # CF V3 keeps each path item in its own file
                file_part, _, pointer = item["$ref"].partition("#")
                item = _pointer(load_yaml((path.parent / file_part).read_text(encoding="utf-8")), pointer)
            operations |= {f"{method.upper()} {base_path}{template}" for method in item if method in HTTP_METHODS}
    return operations


def generated_operations(generated: Path, api: str) -> set[str]:
    index = runpy.run_path(str(generated / GENERATED_PACKAGE / api / "_operations.py"))["OPERATIONS"]
    return {f"{op.method} {op.path}" for op in index}


def test_discovery_found_every_document_the_way_swagger_ui_does(fresh_run: Path, upstream: Path) -> None:
    manifests = {
        api: json.loads((fresh_run / "cache" / api / "fetch.json").read_text())["documents"] for api in API_DOCUMENTS
    }
    how = {api: [doc["how"] for doc in docs] for api, docs in manifests.items()}
    assert how["accounts"] == ["springdoc swagger-config url"]
    assert how["entitlements"] == ["springfox swagger-resources"]
    assert how["provisioning"] == ["url in swagger-ui/swagger-initializer.js"]
    assert how["saas_provisioning"] == ["springdoc swagger-config url"]  # found through the page's configUrl
    assert how["service_manager"] == ["well-known path /v3/api-docs"]
    assert how["multiapps"] == ["springdoc swagger-config urls"] * 2
    # The root document and every file its $refs reach, laid out as upstream (orphan files are not needed).
    mirror = fresh_run / "cache" / "cf_v3" / "0"
    cf_files = [p.relative_to(mirror) for p in mirror.rglob("*.yaml")]
    assert len(cf_files) > 200
    for name in cf_files:
        assert (mirror / name).read_bytes() == (upstream / "cf-v3/latest" / name).read_bytes()


def test_every_upstream_operation_is_generated(fresh_run: Path, upstream: Path) -> None:
    notes = load_yaml((ROOT / "specs" / "generator-notes.yaml").read_text()) or {}
    total = 0
    for api in API_DOCUMENTS:
        expected = upstream_operations(upstream, api)
        skipped = set((notes.get(api) or {}).get("skipped") or {})
        missing = expected - generated_operations(fresh_run / "generated", api) - skipped
        assert not missing, f"{api}: not generated and not explained: {sorted(missing)[:5]}"
        total += len(expected)
    assert total >= 466  # 38+7+16+18+24+2+248+16+97 in the reference set


def test_fetched_pipeline_reproduces_the_committed_specs_and_code(fresh_run: Path) -> None:
    for spec in sorted((ROOT / "specs").glob("*.json")):
        assert (fresh_run / "specs" / spec.name).read_text() == spec.read_text(), spec.name
    ours, fresh = ROOT / "generated" / GENERATED_PACKAGE, fresh_run / "generated" / GENERATED_PACKAGE
    for path in fresh.rglob("*.py"):
        assert (ours / path.relative_to(fresh)).read_text() == path.read_text(), path


def _prose(node: Any, found: set[str], names: set[str]) -> set[str]:
    if isinstance(node, dict):
        if isinstance(node.get("tags"), list):  # tag names are identifiers we may have to name, not prose
            names.update(t if isinstance(t, str) else str(t.get("name")) for t in node["tags"])
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                found.add(value)
            elif key == "info" and isinstance(value, dict) and isinstance(value.get("description"), str):
                found.add(value["description"])
            _prose(value, found, names)
    elif isinstance(node, list):
        for value in node:
            _prose(value, found, names)
    return found


def _upstream_prose(upstream: Path) -> set[str]:
    texts: set[str] = set()
    names: set[str] = set()
    for path in upstream.rglob("*"):
        if path.suffix in (".json", ".yaml") and "crossplane" not in path.name:
            _prose(load_yaml(path.read_text(encoding="utf-8")), texts, names)
    texts -= names
    # Short phrases ("OK", "List apps") are ordinary words that code may contain by chance; a sentence is not.
    return {" ".join(t.split()) for t in texts if len(" ".join(t.split())) >= 40}


def _phrases_found(phrases: set[str], texts: dict[Path, str]) -> list[tuple[Path, str]]:
    """(file, phrase) for each phrase found in a file's text (each on one line, whitespace made single spaces).

    grep's fixed-string search looks for every phrase in one pass (under a second); Python's `in`, one phrase
    at a time over every file, takes tens of seconds. Without grep, that is what runs.
    """
    paths = list(texts)
    grep = shutil.which("grep")
    if grep is None:
        return [(path, phrase) for path in paths for phrase in phrases if phrase in texts[path]]
    with tempfile.TemporaryDirectory() as scratch:
        patterns, corpus = Path(scratch, "phrases"), Path(scratch, "corpus")
        patterns.write_text("".join(f"{phrase}\n" for phrase in phrases), encoding="utf-8")
        corpus.write_text("".join(f"{texts[path]}\n" for path in paths), encoding="utf-8")
        result = subprocess.run(
            [grep, "-F", "-n", "-o", "-f", str(patterns), str(corpus)],
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},  # bytes compared as bytes: no locale's multibyte matching
            timeout=120,
        )
    assert result.returncode in (0, 1), result.stderr  # 1: nothing found
    found = []
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        number, _, match = line.partition(":")
        found.append((paths[int(number) - 1], match))
    return found


def test_no_upstream_prose_in_specs_or_generated_code(upstream: Path, fresh_run: Path) -> None:
    prose = _upstream_prose(upstream)
    assert len(prose) > 500  # the check would be vacuous otherwise
    roots = [ROOT / "specs", ROOT / "generated", fresh_run / "specs", fresh_run / "generated"]
    # ... nor in anything else we wrote (the emulator's messages, the docs, the examples).
    roots += [ROOT / "scp_async", ROOT / "scripts" / "pipeline", ROOT / "examples", ROOT / "tests"]
    texts = {
        path: " ".join(path.read_text(encoding="utf-8").split())
        for root in roots
        for path in root.rglob("*")
        if path.is_file() and path.suffix in (".json", ".yaml", ".py", ".md", ".jinja")
    }
    leaks = _phrases_found(prose, texts)
    assert not leaks, [f"{path} contains upstream text: {phrase[:80]!r}" for path, phrase in leaks[:5]]
    for document in (ROOT / "README.md", ROOT / "DEVELOPERS.md"):
        text = " ".join(document.read_text(encoding="utf-8").split())
        assert not [p for p in prose if p in text], document
