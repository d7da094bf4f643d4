from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.pipeline._common import ROOT, UPSTREAM_ENV, upstream_dir

from .upstream_site import Site, serve, upstream_routes


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The reference documents; missing is a failure under CI and a skip on a developer machine."""
    path = upstream_dir()
    if not (path / "MANIFEST.md").exists():
        message = f"upstream reference documents not found at {path} (set {UPSTREAM_ENV})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def site(upstream: Path) -> Iterator[Site]:
    with serve(upstream_routes(upstream)) as running:
        yield running


def run_pipeline(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the pipeline CLI as a user would, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.pipeline", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def fresh_run(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fetch → normalize → generate, end to end, into a scratch copy of specs/ and generated/."""
    work = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(ROOT / "specs", work / "specs")
    for name in list((work / "specs").glob("*.json")):
        name.unlink()  # every spec must come from the fetched documents, not from the committed copy
    (work / "generated").mkdir()
    dirs = ["--specs-dir", str(work / "specs"), "--generated-dir", str(work / "generated")]
    dirs += ["--readme", str(work / "README.md")]
    result = run_pipeline(*dirs, "fetch", "--cache-dir", str(work / "cache"), *site.base_url_args())
    assert result.returncode == 0, result.stderr
    result = run_pipeline(*dirs, "normalize", "--cache-dir", str(work / "cache"))
    assert result.returncode == 0, result.stderr
    result = run_pipeline(*dirs, "generate")
    assert result.returncode == 0, result.stderr
    return work
