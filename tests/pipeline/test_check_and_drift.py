"""`make check-generated` on a fresh clone, and drift reports between committed and fresh documents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.pipeline._common import ROOT
from scripts.pipeline.drift import compare

from .conftest import run_pipeline
from .upstream_site import Routes, Site, serve, springdoc, springfox


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tree as a fresh clone sees it (uncommitted edits in this checkout do not count)."""
    target = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True, timeout=120)
    return target


def test_check_generated_passes_on_a_fresh_clone(clone: Path) -> None:
    result = run_pipeline("check", cwd=clone)
    assert result.returncode == 0, result.stderr
    assert "generated/ matches specs/" in result.stdout


def test_check_generated_fails_when_code_or_spec_drifts(clone: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(clone, repo, ignore=shutil.ignore_patterns(".git"))
    # Both drifts in one run (each regenerates every API): a hand edit to generated code in one API, a
    # spec change in another, and each must be reported on its own.
    module = repo / "generated/scp_async_clients/accounts/api/directory_operations/get_directory.py"
    module.write_text(module.read_text() + "\n# a hand edit\n")
    spec = json.loads((repo / "specs/events.json").read_text())
    spec["paths"]["/cloud-management/v1/events/types"]["get"]["operationId"] = "listEventTypes"
    (repo / "specs/events.json").write_text(json.dumps(spec))
    result = run_pipeline("check", cwd=repo)
    assert result.returncode == 1
    assert "differs: accounts/api/directory_operations/get_directory.py" in result.stderr
    assert "missing events/api/" in result.stderr
    assert "run `make generate`" in result.stderr
    # Nothing else in accounts is reported: the check names what drifted, not the whole API.
    assert [line for line in result.stderr.splitlines() if "accounts/" in line] == [
        "  differs: accounts/api/directory_operations/get_directory.py"
    ]


def test_drift_against_unchanged_upstream_reports_nothing(site: Site) -> None:
    result = run_pipeline("drift", "accounts", "events", "cf_v3", *site.base_url_args(["accounts", "events", "cf_v3"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"fetched accounts: {site.base_url('accounts')}/v3/api-docs (springdoc swagger-config url)",
        f"fetched events: {site.base_url('events')}/v2/api-docs (springfox swagger-resources)",
        f"fetched cf_v3: {site.base_url('cf_v3')}/spec/openapi.yaml (url in swagger-ui/swagger-initializer.js)",
        "accounts: no changes",
        "events: no changes",
        "cf_v3: no changes",
    ]


def test_drift_marks_breaking_changes_and_fails(upstream: Path, tmp_path: Path) -> None:
    document = json.loads((upstream / "cis-accounts/swagger.json").read_text())
    del document["paths"]["/accounts/v1/directories/{directoryGUID}"]["delete"]
    schema = document["components"]["schemas"]["SubaccountResponseObject"]
    del schema["properties"]["region"]
    schema["properties"]["newField"] = {"type": "string"}
    operation = document["paths"]["/accounts/v1/subaccounts"]["get"]
    operation["parameters"].append({"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}})
    changed = tmp_path / "swagger.json"
    changed.write_text(json.dumps(document))
    routes: Routes = {}
    springdoc(routes, "/accounts", changed)
    with serve(routes) as site:
        result = run_pipeline("drift", "accounts", "--base-url", f"accounts={site.url}/accounts")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "  BREAKING DELETE /accounts/v1/directories/{directoryGUID}: operation removed" in lines
    assert "  BREAKING GET /accounts/v1/subaccounts: required parameter query tenant added" in lines
    assert "  BREAKING schema SubaccountResponseObject: field region removed" in lines
    assert "  schema SubaccountResponseObject: field newField added" in lines
    assert "drift: 3 breaking change(s)" in result.stderr


def _doc(**schemas: object) -> dict[str, object]:
    return {"openapi": "3.0.0", "paths": {}, "components": {"schemas": schemas}}


def test_compare_rates_enum_and_type_changes() -> None:
    old = _doc(
        S={"type": "object", "properties": {"state": {"type": "string", "enum": ["A", "B"]}, "n": {"type": "integer"}}}
    )
    new = _doc(
        S={"type": "object", "properties": {"state": {"type": "string", "enum": ["A", "C"]}, "n": {"type": "string"}}}
    )
    lines = sorted(change.line() for change in compare(old, new))
    assert lines == [
        "BREAKING schema S: field n type integer → string",
        "BREAKING schema S: field state lost enum values ['B']",
        "schema S: field state gained enum values ['C']",
    ]


def test_update_reports_what_it_changed(upstream: Path, tmp_path: Path) -> None:
    document = json.loads((upstream / "cis-events/APIEventsService.json").read_text())
    document["paths"]["/cloud-management/v1/events"]["get"]["parameters"].append(
        {"name": "region", "in": "query", "required": False, "type": "string"}
    )
    changed = tmp_path / "events.json"
    changed.write_text(json.dumps(document))
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "generated/scp_async_clients/events", tmp_path / "generated/scp_async_clients/events")
    routes: Routes = {}
    springfox(routes, "/events", changed)
    dirs = ["--specs-dir", str(tmp_path / "specs"), "--generated-dir", str(tmp_path / "generated")]
    with serve(routes) as site:
        result = run_pipeline(
            *dirs, "--readme", str(tmp_path / "README.md"), "all", "events", "--cache-dir", str(tmp_path / "cache"),
            "--base-url", f"events={site.url}/events",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "events: 1 change(s)" in result.stdout
    assert "  GET /cloud-management/v1/events: optional parameter query region added" in result.stdout
    assert "region" in (tmp_path / "generated/scp_async_clients/events/_namespace.py").read_text()
