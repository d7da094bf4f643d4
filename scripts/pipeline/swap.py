"""Replace the generated package and the files written with it (README table, specs) all at once.

A run builds the whole new package tree in `generated/.stage-*`, then commits: it writes a journal naming
the staged tree and files, swaps the tree in, moves the files over their targets, and deletes the journal.
Once the journal exists the change is decided: a run killed after that point is completed by the next
run (`recover`); a run killed before it leaves only a stage directory, which the next run deletes. On
Linux the tree is swapped by one atomic exchange (renameat2), so `generated/scp_async_clients` is the old
tree or the new one at every instant; elsewhere it is two renames, and the gap between them is closed by
the journal. No fsync: this guards against a killed process, not against a power cut.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import TEMP_MARK, PipelineError, write_atomic

JOURNAL = ".swap-journal.json"
LOCK = ".generate.lock"
STAGE_PREFIX = ".stage-"
OLD_PREFIX = ".old-"
FILES = "files"

try:
    import fcntl
except ImportError:  # not on Windows: runs there are not protected from each other
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def locked(generated_dir: Path) -> Iterator[None]:
    """One run at a time per generated/ directory. A POSIX record lock: the generator's worker processes
    do not inherit it, so a killed run never leaves it held."""
    generated_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(generated_dir / LOCK, "a+b") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def new_stage(generated_dir: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=generated_dir))


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def commit(generated_dir: Path, stage: Path, package: str, files: dict[Path, str]) -> None:
    """Make `stage/<package>` the package and write `files`, as one change (see the module docstring)."""
    staged_files = stage / FILES
    staged_files.mkdir(exist_ok=True)
    entries = []
    for index, (target, text) in enumerate(sorted(files.items())):
        (staged_files / str(index)).write_text(text, encoding="utf-8")
        entries.append({"from": f"{FILES}/{index}", "to": str(target.resolve()), "expect": _digest(target)})
    tree = stage / package
    journal = {
        "stage": stage.name,
        "package": package,
        "old": OLD_PREFIX + stage.name.removeprefix(STAGE_PREFIX),
        "new_tree": [tree.stat().st_dev, tree.stat().st_ino],
        "files": entries,
    }
    write_atomic(generated_dir / JOURNAL, json.dumps(journal, indent=2) + "\n")
    _roll_forward(generated_dir, journal)
    (generated_dir / JOURNAL).unlink()
    _remove_leftovers(generated_dir, package)


def _is_new_tree(path: Path, journal: dict[str, Any]) -> bool:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return [stat.st_dev, stat.st_ino] == list(journal["new_tree"])


def _roll_forward(generated_dir: Path, journal: dict[str, Any]) -> None:
    """Finish a committed change; safe to repeat after being killed at any point."""
    stage = generated_dir / journal["stage"]
    target = generated_dir / journal["package"]
    staged_tree = stage / journal["package"]
    if not _is_new_tree(target, journal):
        if not _is_new_tree(staged_tree, journal):
            # Someone deleted the stage by hand: the new tree is lost, so put the old one back if it is away.
            old = generated_dir / journal["old"]
            if not target.exists() and old.exists():
                os.replace(old, target)
            print(f"note: {generated_dir / JOURNAL}: the staged tree is gone; kept the previous one", file=sys.stderr)
            return
        if not target.exists():
            os.replace(staged_tree, target)
        elif not _exchange(staged_tree, target):
            os.replace(target, generated_dir / journal["old"])
            os.replace(staged_tree, target)
    for entry in journal["files"]:
        staged = stage / entry["from"]
        destination = Path(entry["to"])
        if not staged.exists():
            continue  # moved already
        if _digest(destination) == _digest(staged):  # copied already (across file systems)
            staged.unlink()
            continue
        if _digest(destination) != entry["expect"]:
            # Changed by someone else since this run read it (only possible when a killed run is completed
            # later): keep their version; the next generate rewrites what it owns.
            print(f"note: {destination} changed since the interrupted run; left as it is", file=sys.stderr)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, destination)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            write_atomic(destination, staged.read_text(encoding="utf-8"))  # another file system
            staged.unlink()


def _remove_leftovers(generated_dir: Path, package: str) -> None:
    for pattern in (f"{STAGE_PREFIX}*", f"{OLD_PREFIX}*", f".*{TEMP_MARK}*"):
        for path in generated_dir.glob(pattern):
            _remove(path)
    # Older pipeline versions staged per API inside the package.
    for pattern in (".*.old", f"{STAGE_PREFIX}*", f".*{TEMP_MARK}*"):
        for path in (generated_dir / package).glob(pattern):
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def recover(generated_dir: Path, package: str) -> bool:
    """Complete the change a killed run had committed to, and delete what killed runs left behind.
    Returns whether an interrupted change was completed."""
    path = generated_dir / JOURNAL
    completed = False
    if path.exists():
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PipelineError("generate", f"{path} is damaged ({exc}); delete it and regenerate") from None
        _roll_forward(generated_dir, journal)
        path.unlink()
        completed = True
    _remove_leftovers(generated_dir, package)
    return completed


def pending(generated_dir: Path) -> bool:
    """Whether a killed run left a change half-applied (the next generate completes it)."""
    return (generated_dir / JOURNAL).exists()


def remove_temp_siblings(path: Path) -> None:
    """Delete the temporary files `write_atomic` leaves beside `path` when killed mid-write."""
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}{TEMP_MARK}*"):
            _remove(leftover)
