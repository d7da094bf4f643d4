"""The swap of the generated tree and its companion files, killed at every step: the next run's `recover`
leaves the old state or the new one, and no leftovers (which git ignores meanwhile)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline import swap
from scripts.pipeline._common import ROOT, TEMP_MARK, PipelineError, write_atomic

PACKAGE = "pkg"


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no `except Exception` catches it."""


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _setup(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, Any], dict[str, Any]]:
    generated = tmp_path / "generated"
    (generated / PACKAGE / "a").mkdir(parents=True)
    (generated / PACKAGE / "a/mod.py").write_text("old a\n")
    (generated / PACKAGE / "gone.py").write_text("only in the old tree\n")
    readme, spec = tmp_path / "README.md", tmp_path / "specs/a.json"
    readme.write_text("old table\n")
    spec.parent.mkdir()
    spec.write_text('{"old": true}\n')
    stage = swap.new_stage(generated)
    (stage / PACKAGE / "a").mkdir(parents=True)
    (stage / PACKAGE / "a/mod.py").write_text("new a\n")
    (stage / PACKAGE / "b.py").write_text("only in the new tree\n")
    old = {"tree": _snapshot(generated / PACKAGE), "readme": readme.read_text(), "spec": spec.read_text()}
    new = {"tree": _snapshot(stage / PACKAGE), "readme": "new table\n", "spec": '{"new": true}\n'}
    return generated, stage, readme, old, new


def _state(generated: Path, readme: Path) -> dict[str, Any]:
    return {
        "tree": _snapshot(generated / PACKAGE),
        "readme": readme.read_text(),
        "spec": (readme.parent / "specs/a.json").read_text(),
    }


def _leftovers(generated: Path) -> list[str]:
    found = [p.name for p in generated.iterdir() if p.name.startswith(".") and p.name != swap.LOCK]
    found += [p.name for p in (generated / PACKAGE).iterdir() if p.name.startswith(".")]
    found += [p.name for p in generated.parent.rglob(".*tmp-*")]
    return found


def _kill_after(calls: int, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> list[str]:
    """Make the `calls`+1-th file-system step (os.replace or the exchange) die before it happens."""
    done: list[str] = []
    real_replace, real_exchange = os.replace, swap._exchange

    def step(name: str, action: Callable[[], Any]) -> Any:
        if len(done) == calls:
            raise Killed
        done.append(name)
        return action()

    def replace(src: Any, dst: Any) -> None:
        step(f"replace {Path(src).name} → {Path(dst).name}", lambda: real_replace(src, dst))

    def exchange_or_not(first: Path, second: Path) -> bool:
        return bool(step("exchange", lambda: real_exchange(first, second))) if exchange else False

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(swap, "_exchange", exchange_or_not)
    return done


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("kill_at", range(7))
def test_a_swap_killed_at_any_step_is_old_or_new_after_recovery(
    kill_at: int, exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated, stage, readme, old, new = _setup(tmp_path)
    files = {readme: new["readme"], readme.parent / "specs/a.json": new["spec"]}
    steps = _kill_after(kill_at, monkeypatch, exchange)
    killed = False
    try:
        swap.commit(generated, stage, PACKAGE, files)
    except Killed:
        killed = True
    monkeypatch.undo()
    if exchange and sys.platform.startswith("linux"):
        # With an atomic exchange the tree itself is never a mix, even before recovery.
        assert _snapshot(generated / PACKAGE) in (old["tree"], new["tree"]), steps
    swap.recover(generated, PACKAGE)
    state = _state(generated, readme)
    assert state in (old, new), steps
    # Once the journal is written the change is decided: a kill after it ends in the new state.
    assert (state == new) == (not killed or kill_at >= 1), steps
    assert _leftovers(generated) == []
    assert not swap.pending(generated)


def test_a_file_someone_changed_meanwhile_is_not_overwritten_by_a_late_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated, stage, readme, _, new = _setup(tmp_path)
    _kill_after(3, monkeypatch, exchange=False)  # journal written, tree swapped, files not yet
    with pytest.raises(Killed):
        swap.commit(generated, stage, PACKAGE, {readme: new["readme"]})
    monkeypatch.undo()
    readme.write_text("an edit made before the next run\n")
    swap.recover(generated, PACKAGE)
    assert readme.read_text() == "an edit made before the next run\n"
    assert _snapshot(generated / PACKAGE) == new["tree"]


def test_leftovers_of_older_and_killed_runs_are_removed(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    (generated / PACKAGE / "a").mkdir(parents=True)
    (generated / PACKAGE / "a/mod.py").write_text("kept\n")
    for leftover in (".stage-x1/pkg/a", ".old-x2/a", f"{PACKAGE}/.a.old/api", f"{PACKAGE}/.stage-x3"):
        (generated / leftover).mkdir(parents=True)
        (generated / leftover / "f.py").write_text("")
    (generated / f".swap-journal.json{TEMP_MARK}abc").write_text("{")
    assert swap.recover(generated, PACKAGE) is False
    assert _leftovers(generated) == []
    assert _snapshot(generated / PACKAGE) == {"a/mod.py": b"kept\n"}


def test_a_damaged_journal_is_one_clear_error(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / swap.JOURNAL).write_text("{not json")
    with pytest.raises(PipelineError, match=r"swap-journal.json is damaged .*delete it and regenerate"):
        swap.recover(generated, PACKAGE)


def test_write_atomic_leaves_a_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "t.py"
    write_atomic(target, "x = 1\n")
    assert target.stat().st_mode & 0o444 == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["t.py"]


def test_git_ignores_every_leftover_a_killed_run_can_leave() -> None:
    leftovers = [
        "generated/.stage-abc123/scp_async_clients/events/client.py",
        "generated/.old-abc123/events/client.py",
        "generated/.swap-journal.json",
        "generated/..swap-journal.json.tmp-k2j3",
        "generated/.generate.lock",
        "generated/scp_async_clients/.events.old/client.py",
        "generated/scp_async_clients/events/._operations.py.tmp-x9",
        "specs/.events.json.tmp-ab12",
        ".README.md.tmp-zz9",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *leftovers],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    not_ignored = [line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("::")]
    assert not_ignored == []
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "generated/scp_async_clients/events/client.py", "specs/events.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert kept.stdout == ""  # real sources are not ignored


def test_files_on_another_file_system_are_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated, stage, readme, _, new = _setup(tmp_path)
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst) == readme and swap.STAGE_PREFIX in str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    swap.commit(generated, stage, PACKAGE, {readme: new["readme"]})
    assert readme.read_text() == new["readme"]
    assert _snapshot(generated / PACKAGE) == new["tree"]
    assert _leftovers(generated) == []
