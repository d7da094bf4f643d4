"""Command line of the spec pipeline: `python -m scripts.pipeline STEP [API ...]` (see `--help`)."""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ._common import (
    CACHE_DIR,
    GENERATED_DIR,
    GENERATED_PACKAGE,
    ROOT,
    SPECS_DIR,
    UPSTREAM_ENV,
    ApiSource,
    PipelineError,
    load_sources,
    select,
    upstream_dir,
)
from .drift import compare
from .fetch import base_urls_from_service_key, fetch_api
from .generate import ApiResult, Finish, generate
from .normalize import load_spec, normalize_api
from .report import END, START, readme_update, render, splice, update_readme
from .swap import locked, pending, recover, remove_temp_siblings


def _fail(error: PipelineError) -> None:
    print(f"error: {error}", file=sys.stderr)


def _base_urls(args: argparse.Namespace, sources: dict[str, ApiSource]) -> dict[str, str]:
    urls: dict[str, str] = {}
    if args.service_key:
        urls.update(base_urls_from_service_key(Path(args.service_key), sources))
    for item in args.base_url or []:
        name, sep, url = item.partition("=")
        if not sep or name not in sources:
            raise PipelineError("arguments", f"--base-url wants NAME=URL with NAME one of {', '.join(sources)}")
        urls[name] = url
    return urls


def _fetch_all(
    args: argparse.Namespace, apis: list[ApiSource], sources: dict[str, ApiSource], cache: Path
) -> list[str]:
    failed = []
    urls = _base_urls(args, sources)
    token = args.token or os.environ.get("SCP_ASYNC_FETCH_TOKEN")
    for source in apis:
        if source.handwritten:
            print(f"skipped {source.name}: our own spec (specs/{source.handwritten}), nothing upstream to fetch")
            continue
        try:
            manifest = fetch_api(source, urls.get(source.name), token, cache)
            for entry in manifest:
                print(f"fetched {source.name}: {entry['url']} ({entry['how']})")
        except PipelineError as exc:
            _fail(exc)
            failed.append(source.name)
    return failed


def cmd_fetch(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    return 1 if _fetch_all(args, select(sources, args.apis), sources, Path(args.cache_dir)) else 0


def cmd_normalize(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    failed = 0
    reference = upstream_dir() if args.reference else None
    for source in select(sources, args.apis):
        try:
            path = normalize_api(source, args.specs_dir, Path(args.cache_dir), reference)
            print(f"normalized {source.name} → {path}")
        except PipelineError as exc:
            _fail(exc)
            failed += 1
    return 1 if failed else 0


def _generate(apis: list[ApiSource], specs_dir: Path, generated_dir: Path, finish: Finish) -> int:
    started = time.perf_counter()
    results = generate(apis, specs_dir, generated_dir, finish=finish)
    for result in results:
        if result.error:
            _fail(PipelineError(result.api, result.error))
        else:
            print(f"generated {result.api}: {len(result.operations)} operations, {len(result.skipped)} skipped")
    print(f"generation took {time.perf_counter() - started:.1f} s")
    return 1 if any(r.error for r in results) else 0


def cmd_generate(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    remove_temp_siblings(args.readme)

    def finish(results: list[ApiResult], staged_generated: Path) -> dict[Path, str]:
        return readme_update(render(sources, args.specs_dir, staged_generated), args.readme)

    return _generate(select(sources, args.apis), args.specs_dir, args.generated_dir, finish)


def _change_report(api: str, old_dir: Path, new_dir: Path) -> list[str]:
    """What an update changes in one API's spec, in the drift report's terms."""
    if not (old_dir / f"{api}.json").exists():
        return [f"{api}: new API"]
    changes = compare(load_spec(api, old_dir), load_spec(api, new_dir))
    return [f"{api}: {'no changes' if not changes else f'{len(changes)} change(s)'}"] + [
        f"  {change.line()}" for change in changes
    ]


def cmd_all(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    """fetch → normalize → generate; an API's spec and code are replaced only if all three succeeded."""
    apis = select(sources, args.apis)
    cache = Path(args.cache_dir)
    failed = set(_fetch_all(args, apis, sources, cache))
    for name in sources:
        remove_temp_siblings(args.specs_dir / f"{name}.json")
    remove_temp_siblings(args.readme)
    with tempfile.TemporaryDirectory(prefix="scp-specs-") as scratch:
        staged_specs = Path(scratch) / "specs"
        shutil.copytree(args.specs_dir, staged_specs)
        reports: dict[str, list[str]] = {}
        for source in apis:
            if source.name in failed:
                continue
            try:
                normalize_api(source, staged_specs, cache)
                reports[source.name] = _change_report(source.name, args.specs_dir, staged_specs)
            except PipelineError as exc:
                _fail(exc)
                failed.add(source.name)
        ready = [s for s in apis if s.name not in failed]

        def finish(results: list[ApiResult], staged_generated: Path) -> dict[Path, str]:
            """The specs of the APIs that made it, and the table as the new tree and specs say."""
            files: dict[Path, str] = {}
            updated = {result.api for result in results if result.error is None}
            for name in sources:
                spec = f"{name}.json"
                if name in updated:
                    files[args.specs_dir / spec] = (staged_specs / spec).read_text(encoding="utf-8")
                elif (args.specs_dir / spec).exists():  # the table counts the spec that stays
                    shutil.copyfile(args.specs_dir / spec, staged_specs / spec)
            files.update(readme_update(render(sources, staged_specs, staged_generated), args.readme))
            return files

        if not ready:
            with locked(args.generated_dir):
                recover(args.generated_dir, GENERATED_PACKAGE)  # what an earlier killed run left
                update_readme(render(sources, args.specs_dir, args.generated_dir), args.readme)
            return 1 if failed else 0
        for result in generate(ready, staged_specs, args.generated_dir, finish=finish):
            if result.error:
                _fail(PipelineError(result.api, result.error))
                failed.add(result.api)
                continue
            for line in reports[result.api]:
                print(line)
            print(f"updated {result.api}: {len(result.operations)} operations")
    return 1 if failed else 0


def _tree_differences(expected: Path, actual: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        if not root.exists():
            return set()
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    want, have = files(expected), files(actual)
    problems = [f"missing {name}" for name in sorted(want - have)]
    problems += [f"not generated from specs/: {name}" for name in sorted(have - want)]
    problems += [
        f"differs: {name}"
        for name in sorted(want & have)
        if not filecmp.cmp(expected / name, actual / name, shallow=False)
    ]
    return problems


def cmd_check(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    """Regenerate from the committed specs into a scratch dir; any difference from generated/ fails."""
    with tempfile.TemporaryDirectory(prefix="scp-check-") as scratch:
        fresh = Path(scratch)
        results = generate(list(sources.values()), args.specs_dir, fresh)
        errors = [r for r in results if r.error]
        for result in errors:
            _fail(PipelineError(result.api, result.error or ""))
        problems = _tree_differences(fresh / GENERATED_PACKAGE, args.generated_dir / GENERATED_PACKAGE)
        if pending(args.generated_dir):
            problems.insert(0, "an interrupted generation is not completed yet (its journal is in generated/)")
        readme = args.readme.read_text(encoding="utf-8") if args.readme.exists() else ""
        if START in readme and END in readme and splice(readme, render(sources, args.specs_dir, fresh)) != readme:
            problems.append("README.md operations table is out of date")
    for problem in problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    if problems or errors:
        print(
            f"check-generated: {len(problems)} difference(s) between generated/ and specs/; run `make generate`",
            file=sys.stderr,
        )
        return 1
    print("check-generated: generated/ matches specs/")
    return 0


def cmd_drift(args: argparse.Namespace, sources: dict[str, ApiSource]) -> int:
    """Normalize fresh upstream documents into a scratch dir and compare them with the committed specs."""
    apis = [s for s in select(sources, args.apis) if not s.handwritten]
    breaking = failed = 0
    with tempfile.TemporaryDirectory(prefix="scp-drift-") as scratch:
        fresh_dir, cache = Path(scratch) / "specs", Path(scratch) / "cache"
        reference = upstream_dir() if args.reference else None
        if reference is None:
            failed += len(_fetch_all(args, apis, sources, cache))
        for source in apis:
            try:
                normalize_api(source, args.specs_dir, cache, reference, out_dir=fresh_dir, strict=False)
                changes = compare(load_spec(source.name, args.specs_dir), load_spec(source.name, fresh_dir))
            except PipelineError as exc:
                if (cache / source.name).exists() or reference is not None:
                    _fail(exc)
                    failed += 1
                continue
            print(f"{source.name}: {'no changes' if not changes else f'{len(changes)} change(s)'}")
            for change in changes:
                print(f"  {change.line()}")
            breaking += sum(c.breaking for c in changes)
    if breaking:
        print(f"drift: {breaking} breaking change(s)", file=sys.stderr)
    return 1 if breaking or failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.pipeline", description=__doc__)
    parser.add_argument("--specs-dir", type=Path, default=SPECS_DIR, help="normalized specs (default: specs/)")
    parser.add_argument("--generated-dir", type=Path, default=GENERATED_DIR, help="default: generated/")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README with the operations table")
    steps = parser.add_subparsers(dest="step", required=True)

    def step(name: str, handler: object, help_text: str) -> argparse.ArgumentParser:
        sub = steps.add_parser(name, help=help_text)
        sub.add_argument("apis", nargs="*", metavar="API", help="APIs to process (default: all)")
        sub.add_argument("--cache-dir", default=str(CACHE_DIR), help="where raw documents are kept")
        sub.set_defaults(handler=handler)
        return sub

    def remote(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--base-url", action="append", metavar="NAME=URL", help="override an API's base URL")
        sub.add_argument("--service-key", help="take base URLs from a cis service key's `endpoints`")
        sub.add_argument("--token", help="bearer token for protected docs (or $SCP_ASYNC_FETCH_TOKEN)")

    remote(step("fetch", cmd_fetch, "download documents via swagger-ui discovery into the cache"))
    normalize = step("normalize", cmd_normalize, "rewrite specs/ from the cache (or from reference files)")
    normalize.add_argument(
        "--reference", action="store_true", help=f"read the reference documents (${UPSTREAM_ENV}) instead of the cache"
    )
    step("generate", cmd_generate, "regenerate generated/ from specs/")
    remote(step("all", cmd_all, "fetch, normalize and generate; replace an API only if all succeeded"))
    step("check", cmd_check, "fail if generated/ differs from what specs/ generate")
    drift = step("drift", cmd_drift, "report what changed upstream; non-zero exit on breaking changes")
    remote(drift)
    drift.add_argument(
        "--reference", action="store_true", help=f"compare with the reference documents (${UPSTREAM_ENV})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, load_sources(args.specs_dir)))
    except PipelineError as exc:
        _fail(exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
