"""Models that refer to each other, imported once on first use instead of on every call.

openapi-python-client imports the models a model refers to inside each of its methods (they import
each other, so not at module level): ``from ..models.app_links import AppLinks`` in every
``from_dict``. A relative import statement costs about a microsecond even when the module is loaded,
and reading one CF app runs a dozen of them, a third of its parsing. Importing them all at module
level instead would load a model's whole neighbourhood with it (+65 ms for two CF operations).

This step, run on the generated package before ruff, moves each model module's in-method imports
into one module function that binds them as module globals on the first call of any method that
needs them; the methods then only test a flag. The ``TYPE_CHECKING`` imports at the top stay, so type
checkers see the same names.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["bind_model_imports_once"]

_IMPORT_BLOCK = re.compile(
    r"(?P<block>(?:^(?P<indent>[ \t]+)from \.\.models\.\w+ import \w+[ \t]*# noqa: PLC0415[ \t]*\n)+)", re.M
)
_IMPORT = re.compile(r"from \.\.models\.(\w+) import (\w+)")

_BINDER = """

_MODELS_UNBOUND = True


def _bind_models() -> None:
    # Imported on first use and kept as module globals (see scripts/pipeline/model_imports.py).
    global _MODELS_UNBOUND, {names}
{imports}
    _MODELS_UNBOUND = False
"""


def _bind_call(match: re.Match[str]) -> str:
    indent = match.group("indent")
    return f"{indent}if _MODELS_UNBOUND:\n{indent}    _bind_models()\n"


def bind_model_imports_once(package_dir: Path) -> int:
    """Rewrite every model module of `package_dir`; returns how many modules changed."""
    changed = 0
    for path in sorted((package_dir / "models").glob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text(encoding="utf-8")
        blocks = "".join(match.group("block") for match in _IMPORT_BLOCK.finditer(text))
        imports = {name: module for module, name in _IMPORT.findall(blocks)}
        rewritten = _IMPORT_BLOCK.sub(_bind_call, text)
        if not imports:
            continue
        names = sorted(imports)
        lines = "\n".join(f"    from ..models.{imports[name]} import {name}  # noqa: F401" for name in names)
        path.write_text(
            rewritten.rstrip("\n") + "\n" + _BINDER.format(names=", ".join(names), imports=lines), encoding="utf-8"
        )
        changed += 1
    return changed
