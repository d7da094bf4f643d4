"""Chaos: `generate` and `all` killed with SIGKILL at random moments, on a scratch tree with one API.

After each kill the generated package is the old tree or the new one (the swap is one atomic exchange);
once the next run has started (`recover`) the whole state (package, README table, spec) is old or new,
with no leftovers; the next run then produces the new state and `check` passes. The swap phase is slowed
down (each rename sleeps) so random kills land in it as well as in the generator."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline import swap
from scripts.pipeline._common import GENERATED_PACKAGE, ROOT
from scripts.pipeline.report import END, START

from .conftest import run_pipeline
from .upstream_site import Routes, serve, springfox

API = "events"
SLOW_RUNNER = """
import os, sys, time
import scripts.pipeline.swap as swap
delay = float(os.environ["SCP_TEST_SLOW_SWAP"])
real_replace, real_exchange = os.replace, swap._exchange

def replace(src, dst):
    time.sleep(delay)
    real_replace(src, dst)

def exchange(first, second):
    time.sleep(delay)
    return real_exchange(first, second)

os.replace, swap._exchange = replace, exchange
from scripts.pipeline.__main__ import main
sys.exit(main(sys.argv[1:]))
"""
SLOW_SWAP = "0.2"  # seconds each rename of the run sleeps first
SEED = random.randrange(1 << 30)


def _command(work: Path, *args: str) -> list[str]:
    dirs = ["--specs-dir", str(work / "specs"), "--generated-dir", str(work / "generated")]
    return [*dirs, "--readme", str(work / "README.md"), *args]


def _run(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_pipeline(*_command(work, *args))
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _run_killed(work: Path, delay: float, *args: str) -> None:
    environment = {**os.environ, "SCP_TEST_SLOW_SWAP": SLOW_SWAP}
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUNNER, *_command(work, *args)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, to find its workers by
    )
    time.sleep(delay)
    process.kill()  # SIGKILL to the run itself, as `kill -9 <pid>` does: its workers must die with it
    process.wait(timeout=30)
    deadline = time.monotonic() + 5
    while _live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = _live_members(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    assert survivors == [], "generator workers outlived their killed run"


def _live_members(group: int) -> list[int]:
    """Processes of a process group that still run (not zombies), on Linux."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def _timed(work: Path, *args: str) -> float:
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", SLOW_RUNNER, *_command(work, *args)],
        cwd=ROOT,
        env={**os.environ, "SCP_TEST_SLOW_SWAP": SLOW_SWAP},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    return time.perf_counter() - started


def _package(work: Path) -> dict[str, bytes]:
    root = work / "generated" / GENERATED_PACKAGE
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _state(work: Path, with_spec: bool) -> dict[str, Any]:
    """What a run writes: the package and the README table, and the spec for `all`."""
    state = {"package": _package(work), "readme": (work / "README.md").read_text()}
    if with_spec:
        state["spec"] = (work / "specs" / f"{API}.json").read_text()
    return state


def _args(work: Path, args: list[str]) -> list[str]:
    return [arg.format(work=work) for arg in args]


def _leftovers(work: Path) -> list[str]:
    generated = work / "generated"
    found = [p.name for p in generated.iterdir() if p.name.startswith(".") and p.name != swap.LOCK]
    found += [p.name for p in (generated / GENERATED_PACKAGE).iterdir() if p.name.startswith(".")]
    return found + [str(p) for p in (work / "specs").glob(".*")] + [str(p) for p in work.glob(".*")]


def _scratch_tree(work: Path) -> Path:
    """specs/ reduced to one API, a README with the table markers, its generated package."""
    specs = work / "specs"
    specs.mkdir(parents=True)
    for name in (f"{API}.json", "generator-notes.yaml"):
        shutil.copy(ROOT / "specs" / name, specs / name)
    shutil.copytree(ROOT / "specs/overlays", specs / "overlays")
    text = (ROOT / "specs/sources.yaml").read_text()
    start = text.index(f"  {API}:\n")
    end = text.index("\n  ", text.index("documents:", start) + 60)
    (specs / "sources.yaml").write_text("apis:\n" + text[start:end] + "\n")
    (work / "README.md").write_text(f"# scratch\n\n{START}\n{END}\n")
    result = _run(work, "generate")
    assert result.returncode == 0, result.stderr
    return work


def _check_kills(
    tmp_path: Path, old_tree: Path, new_tree: Path, duration: float, args: list[str], runs: int, spec: str | None
) -> None:
    """`spec`: the new spec `generate` is run on (for `all`, None: the run writes the spec itself)."""
    with_spec = spec is None
    old, new = _state(old_tree, with_spec), _state(new_tree, with_spec)
    assert old != new
    rng = random.Random(SEED)
    for attempt in range(runs):
        # Half the kills aim at the last part of the run, where the swap happens.
        delay = rng.uniform(0.05 if attempt % 2 == 0 else 0.6, 1.0) * duration
        work = tmp_path / f"kill-{attempt}"
        shutil.copytree(old_tree, work)
        if spec is not None:
            (work / "specs" / f"{API}.json").write_text(spec)
        _run_killed(work, delay, *_args(work, args))
        where = f"seed {SEED}, kill {attempt} after {delay:.2f} s of {duration:.2f} s"
        if sys.platform.startswith("linux"):
            assert _package(work) in (old["package"], new["package"]), where
        swap.recover(work / "generated", GENERATED_PACKAGE)  # what the next run does first
        assert _state(work, with_spec) in (old, new), where
        assert _leftovers(work) == [], where
        result = _run(work, *_args(work, args))  # the next run
        assert result.returncode == 0, f"{where}: {result.stderr}"
        assert _state(work, with_spec) == new, where
    result = _run(work, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_generate_killed_at_random_moments(tmp_path: Path) -> None:
    old_tree = _scratch_tree(tmp_path / "old")
    spec = json.loads((old_tree / "specs" / f"{API}.json").read_text())
    path = next(iter(sorted(spec["paths"])))
    del spec["paths"][path]  # the new spec has one operation less
    new_spec = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    new_tree = tmp_path / "new"
    shutil.copytree(old_tree, new_tree)
    (new_tree / "specs" / f"{API}.json").write_text(new_spec)
    duration = _timed(new_tree, "generate")
    assert _package(new_tree) != _package(old_tree)
    assert (new_tree / "README.md").read_text() != (old_tree / "README.md").read_text()  # one operation less
    _check_kills(tmp_path, old_tree, new_tree, duration, ["generate"], runs=3, spec=new_spec)


@pytest.mark.slow
def test_update_killed_at_random_moments(upstream: Path, tmp_path: Path) -> None:
    document = json.loads((upstream / "cis-events/APIEventsService.json").read_text())
    document["paths"]["/cloud-management/v1/events"]["get"]["parameters"].append(
        {"name": "region", "in": "query", "required": False, "type": "string"}
    )
    changed = tmp_path / "events.json"
    changed.write_text(json.dumps(document))
    routes: Routes = {}
    springfox(routes, "/events", changed)
    old_tree = _scratch_tree(tmp_path / "old")
    with serve(routes) as site:
        args = ["all", API, "--cache-dir", "{work}/cache", "--base-url", f"{API}={site.url}/events"]
        new_tree = tmp_path / "new"
        shutil.copytree(old_tree, new_tree)
        duration = _timed(new_tree, *_args(new_tree, args))
        assert (new_tree / "specs" / f"{API}.json").read_text() != (old_tree / "specs" / f"{API}.json").read_text()
        _check_kills(tmp_path, old_tree, new_tree, duration, args, runs=2, spec=None)
