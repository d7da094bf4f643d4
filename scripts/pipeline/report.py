"""The per-API operations table kept in README.md between two markers (rewritten by `generate`)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from ._common import GENERATED_PACKAGE, ROOT, ApiSource, iter_operations, write_atomic
from .generate import OPERATIONS_MODULE, load_notes
from .normalize import load_spec
from .swap import remove_temp_siblings

START = "<!-- operations-table:start (written by `make generate`) -->"
END = "<!-- operations-table:end -->"


def _generated_operations(generated_dir: Path, api: str) -> list[Any]:
    path = generated_dir / GENERATED_PACKAGE / api / OPERATIONS_MODULE
    return list(runpy.run_path(str(path))["OPERATIONS"]) if path.exists() else []


def render(sources: dict[str, ApiSource], specs_dir: Path, generated_dir: Path) -> str:
    """The table as the files on disk say it: upstream (spec) operations, generated ones, skipped ones."""
    notes = load_notes(specs_dir)
    lines = [
        "| API | package | source | upstream operations | generated | skipped (reason) |",
        "|---|---|---|---:|---:|---|",
    ]
    for name, source in sources.items():
        spec_operations = sum(1 for _ in iter_operations(load_spec(name, specs_dir)))
        origin = (
            "our own spec (no public document)"
            if source.handwritten
            else ", ".join(d.reference for d in source.documents)
        )
        skipped = (notes.get(name) or {}).get("skipped") or {}
        reasons = "; ".join(f"`{op}`: {why}" for op, why in sorted(skipped.items())) or "none"
        lines.append(
            f"| {source.title} | `{GENERATED_PACKAGE}.{name}` | {origin} | {spec_operations} "
            f"| {len(_generated_operations(generated_dir, name))} | {reasons} |"
        )
    return "\n".join(lines) + "\n"


def splice(readme: str, table: str) -> str:
    if START not in readme or END not in readme:
        return readme
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def readme_update(table: str, readme_path: Path = ROOT / "README.md") -> dict[Path, str]:
    """The README's new text with `table` in it, keyed by its path; empty if there is nothing to change."""
    if not readme_path.exists():
        return {}
    before = readme_path.read_text(encoding="utf-8")
    after = splice(before, table)
    return {readme_path: after} if after != before else {}


def update_readme(table: str, readme_path: Path = ROOT / "README.md") -> bool:
    """Rewrite the table (atomically); returns whether anything changed."""
    remove_temp_siblings(readme_path)
    for path, text in readme_update(table, readme_path).items():
        write_atomic(path, text)
        return True
    return False
