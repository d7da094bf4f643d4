"""Paths, the sources file, document I/O and the error every step reports with."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT / "specs"
GENERATED_DIR = ROOT / "generated"
CACHE_DIR = ROOT / ".cache" / "specs"
NODE_BIN = ROOT / "scripts" / "node_modules" / ".bin"
GENERATED_PACKAGE = "scp_async_clients"
UPSTREAM_ENV = "SCP_ASYNC_UPSTREAM_SPECS"
TEMP_MARK = ".tmp-"  # in the names of write_atomic's temporary files (a killed run may leave them)

FORMATS = ("openapi3", "swagger2", "openapi3-split")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# `scheme://user:password@host`: the credentials part of any URL that could end up in a message. The
# authority ends at the first '/', '?' or '#'; its host starts after its *last* '@' (a password may hold
# an unencoded '@', and `split_userinfo` reads it so), so the match is greedy up to that last '@'.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def redact(text: str) -> str:
    """`text` with the userinfo (user:password@) of every URL in it removed."""
    return _USERINFO.sub(r"\1", text)


class PipelineError(Exception):
    """A step failed for one API; `str()` is the one line the user sees (never with URL credentials)."""

    def __init__(self, api: str, cause: str) -> None:
        cause = redact(cause)
        super().__init__(f"{api}: {cause}")
        self.api = api
        self.cause = cause


@dataclass(frozen=True)
class DocumentSource:
    format: str
    reference: str
    group: str | None = None
    url: str | None = None  # where upstream publishes it when no swagger-ui serves it


@dataclass(frozen=True)
class ApiSource:
    name: str
    title: str
    base_url: str
    key_endpoint: str | None = None
    documents: tuple[DocumentSource, ...] = ()
    handwritten: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# libyaml's parser when PyYAML was built with it: the same safe constructors, eight times faster on the
# upstream documents (CF V3 alone is over 200 files), which `fetch`, `update` and `drift` all read.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, on libyaml when available; errors are ``yaml.YAMLError`` either way."""
    return yaml.load(text, Loader=_YAML_LOADER)


def upstream_dir() -> Path:
    """The reference documents (`../shared/upstream-specs` unless $SCP_ASYNC_UPSTREAM_SPECS says else)."""
    configured = os.environ.get(UPSTREAM_ENV)
    return Path(configured) if configured else ROOT.parent / "shared" / "upstream-specs"


def load_sources(specs_dir: Path = SPECS_DIR) -> dict[str, ApiSource]:
    path = specs_dir / "sources.yaml"
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError("sources", f"cannot read {path}: {exc}") from None
    apis: dict[str, ApiSource] = {}
    for name, entry in (raw or {}).get("apis", {}).items():
        where = f"{path.name}: apis.{name}"
        if not isinstance(entry, dict) or "title" not in entry or "base_url" not in entry:
            raise PipelineError("sources", f"{where} needs `title` and `base_url`")
        documents = []
        for index, doc in enumerate(entry.get("documents", [])):
            if doc.get("format") not in FORMATS:
                raise PipelineError("sources", f"{where}.documents[{index}].format must be one of {FORMATS}")
            documents.append(DocumentSource(doc["format"], doc["reference"], doc.get("group"), doc.get("url")))
        if bool(documents) == bool(entry.get("handwritten")):
            raise PipelineError("sources", f"{where} needs either `documents` or `handwritten`, not both")
        apis[name] = ApiSource(
            name=name,
            title=entry["title"],
            base_url=entry["base_url"],
            key_endpoint=entry.get("key_endpoint"),
            documents=tuple(documents),
            handwritten=entry.get("handwritten"),
        )
    return apis


def select(apis: dict[str, ApiSource], names: list[str] | None) -> list[ApiSource]:
    if not names:
        return list(apis.values())
    unknown = [n for n in names if n not in apis]
    if unknown:
        raise PipelineError("sources", f"unknown API(s) {', '.join(unknown)}; known: {', '.join(apis)}")
    return [apis[n] for n in names]


def parse_document(text: str | bytes, origin: str) -> dict[str, Any]:
    """Parse JSON or YAML text into a mapping, or say in one line why it is not an API document."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{origin} is not UTF-8 text") from None
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html", "<head", "<body")):
        raise ValueError(f"{origin} is an HTML page, not an OpenAPI document")
    if head.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    else:
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ValueError(f"{origin} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{origin} does not hold a JSON/YAML object")
    return data


def is_api_document(data: dict[str, Any]) -> bool:
    return isinstance(data.get("paths"), dict) and ("openapi" in data or "swagger" in data)


def dump_canonical(document: dict[str, Any]) -> str:
    """Stable, diff-friendly JSON: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp makes the file private (0600): these are sources, readable like the rest of the tree.
        os.chmod(tmp, (path.stat().st_mode & 0o777) | 0o444 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_dir(target: Path, staged: Path) -> None:
    """Swap a fully built directory into place; the old one is removed only after the swap."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    if old.exists():
        shutil.rmtree(old)


@contextlib.contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A scratch directory on the same file system as `parent`, removed afterwards whatever happens."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def iter_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in sorted(document.get("paths", {}).items()):
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield method, path, operation
