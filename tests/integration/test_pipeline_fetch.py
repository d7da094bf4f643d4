"""The spec pipeline against the emulator: `fetch` discovers each API's document through the emulator's
swagger-ui endpoints and downloads what the emulator serves, the committed spec with `servers` pointing at
the emulator.

Everything is written to temporary copies (``--specs-dir``, ``--cache-dir``, ...), never to specs/ or
generated/. (fetch → normalize → generate from the upstream documents is tested in tests/pipeline.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scp_async.emulator import Emulator
from scripts.pipeline._common import ROOT, load_sources

SPECS = ROOT / "specs"
SOURCES = load_sources(SPECS)
HANDWRITTEN = sorted(name for name, source in SOURCES.items() if source.handwritten)
# MultiApps upstream publishes two documents (v1 and v2) that sources.yaml picks by group name; the emulator
# serves our one merged document, so discovery must say that it finds no group of that name.
SINGLE_DOCUMENT = sorted(name for name, source in SOURCES.items() if len(source.documents) == 1)


@dataclass
class Run:
    work: Path
    emulator_urls: dict[str, str]
    fetch: subprocess.CompletedProcess[str]


def pipeline(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dirs = ["--specs-dir", str(work / "specs"), "--generated-dir", str(work / "generated")]
    dirs += ["--readme", str(work / "README.md")]
    return subprocess.run(
        [sys.executable, "-m", "scripts.pipeline", *dirs, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(SPECS, work / "specs")
    with Emulator.serve(subaccounts=1) as emu:
        urls = {api: emu.base_url(api) for api in SOURCES}
        base_urls = [arg for api in SOURCES for arg in ("--base-url", f"{api}={urls[api]}")]
        fetch = pipeline(work, "fetch", "--cache-dir", str(work / "cache"), *base_urls)
    return Run(work, urls, fetch)


@pytest.mark.parametrize("api", SINGLE_DOCUMENT)
def test_fetch_discovers_and_downloads_the_document(run: Run, api: str) -> None:
    base = run.emulator_urls[api]
    assert f"fetched {api}: {base}/v3/api-docs (springdoc swagger-config urls)" in run.fetch.stdout.splitlines()
    manifest = json.loads((run.work / "cache" / api / "fetch.json").read_text(encoding="utf-8"))
    ((entry,),) = [manifest["documents"]]
    assert entry["url"] == f"{base}/v3/api-docs"
    downloaded = json.loads((run.work / "cache" / api / entry["root"]).read_bytes())
    committed = json.loads((SPECS / f"{api}.json").read_bytes())
    assert downloaded.pop("servers") == [{"url": base}]  # the emulator points swagger-ui at itself
    committed.pop("servers", None)
    assert downloaded == committed


def test_a_missing_document_group_is_one_clear_line(run: Run) -> None:
    base = run.emulator_urls["multiapps"]
    assert run.fetch.stderr.splitlines() == [
        f"error: multiapps: {base}/v3/api-docs/swagger-config lists no document named 'mtarest' (it lists: multiapps)"
    ]
    assert run.fetch.returncode == 1
    assert not (run.work / "cache" / "multiapps").exists()


def test_fetch_says_it_skips_handwritten_apis(run: Run) -> None:
    for api in HANDWRITTEN:
        assert f"skipped {api}: our own spec (specs/handwritten/{api}.yaml), nothing upstream to fetch" in (
            run.fetch.stdout.splitlines()
        )
        assert not (run.work / "cache" / api).exists()
