"""Models that refer to each other are imported once, on first use: not in every method call, and not
when their module is imported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from scripts.pipeline.model_imports import bind_model_imports_once

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "generated" / "scp_async_clients"

STOCK = """class Outer:
    def to_dict(self) -> dict[str, Any]:
        from ..models.inner import Inner # noqa: PLC0415
        return {}

    @classmethod
    def from_dict(cls, src_dict):
        from ..models.inner import Inner # noqa: PLC0415
        from ..models.other_thing import OtherThing # noqa: PLC0415
        d = dict(src_dict)
        return cls(Inner.from_dict(d["inner"]), OtherThing.from_dict(d["other"]))
"""


def test_in_method_imports_become_one_binding_on_first_use(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "__init__.py").write_text("", encoding="utf-8")
    (models / "outer.py").write_text(STOCK, encoding="utf-8")
    (models / "plain.py").write_text("class Plain:\n    pass\n", encoding="utf-8")

    assert bind_model_imports_once(tmp_path) == 1
    text = (models / "outer.py").read_text(encoding="utf-8")
    assert "PLC0415" not in text
    assert text.count("        if _MODELS_UNBOUND:\n            _bind_models()\n") == 2
    assert "    global _MODELS_UNBOUND, Inner, OtherThing\n" in text
    assert "    from ..models.inner import Inner  # noqa: F401\n" in text
    assert "    from ..models.other_thing import OtherThing  # noqa: F401\n" in text
    assert (models / "plain.py").read_text(encoding="utf-8") == "class Plain:\n    pass\n"
    compile(text, "outer.py", "exec")


def test_no_generated_model_imports_inside_its_methods() -> None:
    in_method = re.compile(r"^[ \t]+from \.\.models\.\w+ import \w+[ \t]*# noqa: PLC0415", re.M)
    offenders = [
        path.relative_to(GENERATED).as_posix()
        for path in sorted(GENERATED.glob("*/models/*.py"))
        if in_method.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders[:5]
    assert len(list(GENERATED.glob("*/models/*.py"))) > 500


def test_a_model_reads_nested_models_and_loads_its_neighbours_only_when_reading() -> None:
    script = """
import sys
from scp_async_clients.cf_v3.models.app import App
loaded_at_import = "scp_async_clients.cf_v3.models.app_links" in sys.modules
app = App.from_dict({
    "guid": "1b3dbd5c-e9a1-4a6f-81f7-6d1c2dbc2134", "name": "a",
    "links": {"self": {"href": "https://api.example.com/v3/apps/1"}},
    "relationships": {"space": {"data": {"guid": "c30ff46e-8026-495f-b8cd-a88b436d76e2"}}},
})
from scp_async_clients.cf_v3.models.app_links import AppLinks
print(loaded_at_import, type(app.links) is AppLinks, app.links.self_.href, app.to_dict()["links"]["self"]["href"])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT, timeout=60
    ).stdout.split()
    assert out == ["False", "True", "https://api.example.com/v3/apps/1", "https://api.example.com/v3/apps/1"]
