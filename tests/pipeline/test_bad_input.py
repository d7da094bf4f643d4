"""Broken upstreams: one clear line naming the API and the cause, non-zero exit, nothing half-written."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from scripts.pipeline._common import ROOT

from .conftest import run_pipeline
from .upstream_site import JSON, Routes, Site, serve, springdoc, springfox

SWAGGER_UI_HTML = b"<!DOCTYPE html><html><body>Log on to SAP BTP</body></html>"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A scratch copy of the committed specs and two generated packages, to be (not) overwritten."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    for api in ("accounts", "events"):
        shutil.copytree(ROOT / "generated/scp_async_clients" / api, tmp_path / "generated/scp_async_clients" / api)
    return tmp_path


def _run(workspace: Path, *args: str) -> tuple[int, list[str]]:
    dirs = ["--specs-dir", str(workspace / "specs"), "--generated-dir", str(workspace / "generated")]
    dirs += ["--readme", str(workspace / "README.md")]
    result = run_pipeline(*dirs, *args, "--cache-dir", str(workspace / "cache"))
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, [line for line in result.stderr.splitlines() if line.strip()]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _routes_with_broken_accounts(upstream: Path, broken: tuple[str, bytes]) -> Routes:
    routes: Routes = {}
    routes["/accounts/v3/api-docs/swagger-config"] = (JSON, b'{"url": "/accounts/v3/api-docs"}')
    routes["/accounts/v3/api-docs"] = broken
    springfox(routes, "/events", upstream / "cis-events/APIEventsService.json")
    return routes


BROKEN_DOCUMENTS = {
    "html": (("text/html", SWAGGER_UI_HTML), "HTML page, not an OpenAPI document"),
    "invalid-json": ((JSON, b'{"openapi": "3.0.1", "paths": {'), "not valid JSON"),
    "invalid-yaml": (("application/yaml", b"openapi: 3.0.1\npaths: {\n  /a: [b\n"), "not valid YAML"),
    "not-openapi": ((JSON, b'{"hello": "world"}'), "not an OpenAPI or Swagger document"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_DOCUMENTS))
def test_broken_document_fails_its_api_only(case: str, upstream: Path, workspace: Path) -> None:
    body, cause = BROKEN_DOCUMENTS[case]
    before_accounts = _snapshot(workspace / "generated/scp_async_clients/accounts")
    before_spec = (workspace / "specs/accounts.json").read_bytes()
    (workspace / "specs/events.json").unlink()  # events must be rebuilt by this run
    with serve(_routes_with_broken_accounts(upstream, body)) as site:
        status, lines = _run(
            workspace,
            "all",
            "accounts",
            "events",
            "--base-url",
            f"accounts={site.url}/accounts",
            "--base-url",
            f"events={site.url}/events",
        )
    assert status == 1
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    assert errors[0].startswith("error: accounts: ")
    assert cause in errors[0]
    assert (workspace / "specs/accounts.json").read_bytes() == before_spec
    assert _snapshot(workspace / "generated/scp_async_clients/accounts") == before_accounts
    assert json.loads((workspace / "specs/events.json").read_text())["paths"]  # the other API completed


def test_unreachable_endpoint_is_one_line(workspace: Path) -> None:
    status, lines = _run(workspace, "fetch", "accounts", "--base-url", f"accounts=http://127.0.0.1:{_free_port()}")
    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: accounts: cannot reach http://127.0.0.1:")


def test_no_document_anywhere_lists_what_was_tried(workspace: Path) -> None:
    with serve({}) as site:
        status, lines = _run(workspace, "fetch", "accounts", "--base-url", f"accounts={site.url}/nothing")
    assert status == 1
    assert lines == [
        f"error: accounts: no OpenAPI document found at {site.url}/nothing "
        "(tried springdoc, springfox, swagger-ui, well-known paths)"
    ]


def test_protected_docs_ask_for_a_token_and_work_with_one(upstream: Path, workspace: Path) -> None:
    routes: Routes = {}
    springdoc(routes, "/accounts", upstream / "cis-accounts/swagger.json")
    with serve(routes) as site:
        site.required_token = "docs-token"
        status, lines = _run(workspace, "fetch", "accounts", "--base-url", f"accounts={site.url}/accounts")
        assert status == 1
        assert lines == [
            f"error: accounts: {site.url}/accounts/v3/api-docs/swagger-config answered 401: "
            "the docs are protected, pass --token"
        ]
        status, lines = _run(
            workspace, "fetch", "accounts", "--token", "docs-token", "--base-url", f"accounts={site.url}/accounts"
        )
    assert status == 0, lines
    fetched = (workspace / "cache/accounts/0/api-docs").read_bytes()
    assert fetched == (upstream / "cis-accounts/swagger.json").read_bytes()


def test_broken_ref_in_a_split_document(upstream: Path, workspace: Path) -> None:
    routes: Routes = {}
    root = b"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /v3/x:\n    $ref: './paths/Missing.yaml#/x'\n"
    routes["/cf/v3/api-docs"] = ("application/yaml", root)
    with serve(routes) as site:
        status, lines = _run(workspace, "fetch", "cf_v3", "--base-url", f"cf_v3={site.url}/cf")
    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: cf_v3: broken $ref: http://127.0.0.1:")
    assert lines[0].endswith("/cf/v3/paths/Missing.yaml could not be downloaded")


def test_broken_local_ref_is_named_with_its_location(upstream: Path, workspace: Path) -> None:
    document = json.loads((upstream / "cis-accounts/swagger.json").read_text())
    document["components"]["schemas"]["DirectoryResponseObject"]["properties"]["parentGUID"] = {
        "$ref": "#/components/schemas/NoSuchSchema"
    }
    broken = workspace / "broken.json"
    broken.write_text(json.dumps(document))
    routes: Routes = {}
    springdoc(routes, "/accounts", broken)
    before = (workspace / "specs/accounts.json").read_bytes()
    with serve(routes) as site:
        status, lines = _run(workspace, "all", "accounts", "--base-url", f"accounts={site.url}/accounts")
    assert status == 1
    assert lines == [
        "error: accounts: broken $ref '#/components/schemas/NoSuchSchema' at "
        "/components/schemas/DirectoryResponseObject/properties/parentGUID"
    ]
    assert (workspace / "specs/accounts.json").read_bytes() == before


def test_generator_failure_keeps_the_previous_client(workspace: Path) -> None:
    spec = json.loads((workspace / "specs/accounts.json").read_text())
    spec["openapi"] = "2.9.9"  # the generator refuses the document as a whole
    (workspace / "specs/accounts.json").write_text(json.dumps(spec))
    before = _snapshot(workspace / "generated/scp_async_clients/accounts")
    status, lines = _run(workspace, "generate", "accounts", "events")
    assert status == 1
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    assert errors[0].startswith("error: accounts: ")
    assert _snapshot(workspace / "generated/scp_async_clients/accounts") == before


def test_unexplained_generator_warning_fails_the_api(workspace: Path) -> None:
    spec = json.loads((workspace / "specs/events.json").read_text())
    operation = spec["paths"]["/cloud-management/v1/events"]["get"]
    operation["requestBody"] = {"content": {"application/x-unknown": {"schema": {"type": "string"}}}}
    (workspace / "specs/events.json").write_text(json.dumps(spec))
    status, lines = _run(workspace, "generate", "events")
    assert status == 1
    assert "events: 1 unexplained generator warning(s)" in lines[0], lines


def test_overlay_patch_that_no_longer_applies_names_its_reason(workspace: Path, site: Site) -> None:
    overlay = workspace / "specs/overlays/events.yaml"
    overlay.write_text(
        "patches:\n  - reason: pretend upstream renamed it\n    op: remove\n    path: /components/schemas/Gone\n"
    )
    status, lines = _run(workspace, "all", "events", *site.base_url_args(["events"]))
    assert status == 1
    assert lines[-1].startswith("error: events: events.yaml patches[0] (pretend upstream renamed it) does not apply")


def test_a_published_document_url_is_fetched_without_discovery(upstream: Path, workspace: Path) -> None:
    routes: Routes = {
        "/raw/mtarest.yaml": ("application/yaml", (upstream / "multiapps-controller/mtarest.yaml").read_bytes())
    }
    routes["/raw/v2.yaml"] = ("application/yaml", (upstream / "multiapps-controller/mtarest_v2.yaml").read_bytes())
    sources = workspace / "specs/sources.yaml"
    with serve(routes) as site:
        text = sources.read_text()
        for name, path in (("mtarest.yaml", "/raw/mtarest.yaml"), ("mtarest_v2.yaml", "/raw/v2.yaml")):
            start = text.index("url: ", text.index(f"reference: multiapps-controller/{name}"))
            end = text.index("\n", start)
            text = text[:start] + f"url: {site.url}{path}" + text[end:]
        sources.write_text(text)
        status, lines = _run(workspace, "fetch", "multiapps")
    assert status == 0, lines
    manifest = json.loads((workspace / "cache/multiapps/fetch.json").read_text())["documents"]
    assert [d["how"] for d in manifest] == ["published document URL"] * 2
    assert site.requests == ["/raw/mtarest.yaml", "/raw/v2.yaml"]  # no swagger-ui probing at all
