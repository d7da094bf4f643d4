"""Links to each operation's official reference page, for the generated methods' docstrings.

`reference_docs.yaml` says where each API's reference lives. For the CF V3 docs, which have a section per
operation, `normalize` keeps each operation's section anchor in the spec (`x-scp-docs-anchor`), derived from
the upstream summary before the summary is dropped as prose; the generator only joins page and anchor.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ._common import iter_operations, load_yaml

REFERENCE_DOCS = Path(__file__).resolve().parent / "reference_docs.yaml"
ANCHOR_KEY = "x-scp-docs-anchor"
# Characters Redcarpet's `with_toc_data` turns into a '-' in a heading's id (one per run, none at the ends).
_STRIPPED = frozenset(" -&+$,/:;=?@\"#{}|^~[]`\\*()%.!'")


@cache
def _config() -> dict[str, dict[str, Any]]:
    return dict(load_yaml(REFERENCE_DOCS.read_text(encoding="utf-8")) or {})


def docs_anchor(heading: str) -> str:
    """The id the CF docs give a heading: lowercase ASCII, each run of spaces, punctuation or non-ASCII
    characters one '-', none at either end ("Get an app" → get-an-app)."""
    out: list[str] = []
    pending = False
    for char in heading:
        if not char.isascii() or char in _STRIPPED:
            pending = bool(out)
        else:
            if pending:
                out.append("-")
                pending = False
            out.append(char.lower())
    return "".join(out)


def add_docs_anchors(api: str, document: dict[str, Any]) -> None:
    """Keep each operation's docs anchor (from its upstream summary) where the API's docs have them."""
    if _config().get(api, {}).get("anchors") != "summary":
        return
    for _, _, operation in iter_operations(document):
        summary = operation.get("summary")
        if isinstance(summary, str) and docs_anchor(summary):
            operation[ANCHOR_KEY] = docs_anchor(summary)


def reference_link(api: str, path: str, anchor: str | None) -> str | None:
    """The reference page of one operation of `api` (None when the API has none declared)."""
    entry = _config().get(api)
    if not entry:
        return None
    url = str(entry["url"])
    for prefix, page in (entry.get("paths") or {}).items():
        if path.startswith(prefix):
            url = str(page)
    return f"{url}#{anchor}" if anchor and entry.get("anchors") else url
