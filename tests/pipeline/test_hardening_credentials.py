"""fetch sends a token (or a base URL's user:password) only to the origin it was given for, and never
prints URL credentials."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from scripts.pipeline._common import PipelineError, redact
from scripts.pipeline.fetch import Credential, split_userinfo

from .conftest import run_pipeline
from .upstream_site import JSON, REDIRECT, Site, serve

TOKEN = "tok-3f9c2a"
DOCUMENT = (JSON, json.dumps({"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {}}).encode())


def _sources(tmp_path: Path, base_url: str = "https://accounts.invalid", document_url: str | None = None) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    url = f", url: {document_url}" if document_url else ""
    (specs / "sources.yaml").write_text(
        "apis:\n  accounts:\n    title: Accounts\n"
        f"    base_url: {base_url}\n"
        f"    documents:\n      - {{format: openapi3, reference: x.json{url}}}\n"
    )
    return tmp_path


def _fetch(workspace: Path, *args: str) -> tuple[int, str, str]:
    dirs = ["--specs-dir", str(workspace / "specs"), "--generated-dir", str(workspace / "generated")]
    result = run_pipeline(*dirs, "fetch", "accounts", "--cache-dir", str(workspace / "cache"), *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return result.returncode, result.stdout, result.stderr


def _auth(site: Site) -> dict[str, str | None]:
    return dict(site.authorizations)


def test_a_document_url_on_another_host_gets_no_token(tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as other, serve({}) as base:
        other.routes["/docs/api.json"] = DOCUMENT
        config = {"url": f"{other.url}/docs/api.json"}
        base.routes["/accounts/v3/api-docs/swagger-config"] = (JSON, json.dumps(config).encode())
        base.required_token = TOKEN
        status, stdout, stderr = _fetch(workspace, "--token", TOKEN, "--base-url", f"accounts={base.url}/accounts")
    assert status == 0, stderr
    assert _auth(base) == {"/accounts/v3/api-docs/swagger-config": f"Bearer {TOKEN}"}
    assert _auth(other) == {"/docs/api.json": None}
    assert f"fetched accounts: {other.url}/docs/api.json (springdoc swagger-config url)" in stdout


def test_a_redirect_keeps_the_token_within_its_origin_and_drops_it_across(tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as other, serve({}) as base:
        other.routes["/elsewhere.json"] = DOCUMENT
        base.routes["/accounts/v3/api-docs/swagger-config"] = (JSON, b'{"url": "/accounts/v3/api-docs"}')
        base.routes["/accounts/v3/api-docs"] = (REDIRECT, b"/accounts/moved")
        base.routes["/accounts/moved"] = (REDIRECT, f"{other.url}/elsewhere.json".encode())
        status, _, stderr = _fetch(workspace, "--token", TOKEN, "--base-url", f"accounts={base.url}/accounts")
    assert status == 0, stderr
    assert set(_auth(base).values()) == {f"Bearer {TOKEN}"}
    assert list(_auth(base)) == ["/accounts/v3/api-docs/swagger-config", "/accounts/v3/api-docs", "/accounts/moved"]
    assert _auth(other) == {"/elsewhere.json": None}


def test_a_published_document_url_gets_no_token(tmp_path: Path) -> None:
    with serve({"/raw/api.json": DOCUMENT}) as code_host, serve({}) as service:
        workspace = _sources(tmp_path, base_url=f"{service.url}/accounts", document_url=f"{code_host.url}/raw/api.json")
        status, _, stderr = _fetch(workspace, "--token", TOKEN)
    assert status == 0, stderr
    assert _auth(code_host) == {"/raw/api.json": None}
    assert service.authorizations == []


def test_a_protected_document_on_another_host_says_where_credentials_go(tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as other, serve({}) as base:
        other.required_token = TOKEN
        config = {"url": f"{other.url}/docs/api.json"}
        base.routes["/accounts/v3/api-docs/swagger-config"] = (JSON, json.dumps(config).encode())
        status, _, stderr = _fetch(workspace, "--token", TOKEN, "--base-url", f"accounts={base.url}/accounts")
    assert status == 1
    assert stderr.splitlines() == [
        f"error: accounts: {other.url}/docs/api.json answered 401: the docs are protected, "
        f"and credentials are only sent to {base.url}"
    ]


def test_userinfo_in_the_base_url_is_basic_auth_for_that_origin_and_never_printed(tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as other, serve({}) as base:
        other.routes["/docs/api.json"] = DOCUMENT
        config = {"url": f"{other.url}/docs/api.json"}
        base.routes["/accounts/v3/api-docs/swagger-config"] = (JSON, json.dumps(config).encode())
        with_userinfo = base.url.replace("http://", "http://alice:pa%40ss-w0rd@")
        status, stdout, stderr = _fetch(workspace, "--base-url", f"accounts={with_userinfo}/accounts")
    assert status == 0, stderr
    basic = "Basic " + base64.b64encode(b"alice:pa@ss-w0rd").decode()
    assert _auth(base) == {"/accounts/v3/api-docs/swagger-config": basic}
    assert _auth(other) == {"/docs/api.json": None}
    assert "alice" not in stdout + stderr
    assert "w0rd" not in stdout + stderr
    manifest = (workspace / "cache/accounts/fetch.json").read_text()
    assert "alice" not in manifest


@pytest.mark.parametrize("case", ["unreachable", "nothing there"])
def test_userinfo_never_appears_in_an_error_line(case: str, tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as site:
        if case == "unreachable":
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            url = f"http://alice:pa%40ss-w0rd@127.0.0.1:{port}/accounts"
        else:
            url = site.url.replace("http://", "http://alice:pa%40ss-w0rd@") + "/accounts"
        status, stdout, stderr = _fetch(workspace, "--base-url", f"accounts={url}")
    assert status == 1
    assert stderr.startswith("error: accounts: ")
    assert "http://127.0.0.1:" in stderr
    assert "alice" not in stdout + stderr
    assert "w0rd" not in stdout + stderr


def test_redact_removes_userinfo_from_every_url_in_a_message() -> None:
    message = "cannot reach https://u:p%40x@h.example:8443/a (and ftp://me@files/b), not mail a@b.c"
    assert redact(message) == "cannot reach https://h.example:8443/a (and ftp://files/b), not mail a@b.c"
    assert str(PipelineError("x", "at http://user:secret@host/y")) == "x: at http://host/y"


def test_credentials_are_bound_to_scheme_host_and_port() -> None:
    base, userinfo = split_userinfo("https://bob:s%3Acret@Host.Example/api")
    assert base == "https://Host.Example/api"
    assert userinfo == ("bob", "s:cret")
    credential = Credential.for_base(base, TOKEN, userinfo)
    assert credential is not None
    assert credential.headers_for("https://host.example:443/other") == {"Authorization": f"Bearer {TOKEN}"}
    for elsewhere in ("http://host.example/api", "https://host.example:8443/api", "https://evil.example/api"):
        assert credential.headers_for(elsewhere) == {}
    assert TOKEN not in repr(credential)


def test_redact_cuts_the_userinfo_at_the_last_at_of_the_authority() -> None:
    # An unencoded '@' in a password: the authority ends at the first '/', '?' or '#', its host after its last '@'.
    assert redact("https://user:p@ss@host/x") == "https://host/x"
    assert redact("at https://u:p@s@s@h.example:8443?next=a@b#c@d, mail a@b.c") == (
        "at https://h.example:8443?next=a@b#c@d, mail a@b.c"
    )
    assert str(PipelineError("x", "cannot reach http://alice:p@ss@host/y")) == "x: cannot reach http://host/y"
    # The same URL is split the same way for the request: the password is everything up to that last '@'.
    assert split_userinfo("https://user:p@ss@host/x") == ("https://host/x", ("user", "p@ss"))


@pytest.mark.parametrize(
    ("base_url", "said"),
    [
        ("http://alice:se/cret@127.0.0.1:9/", "port"),  # an unencoded '/' ends the authority inside the password
        ("http://alice:se?cret@127.0.0.1:9/", "port"),
        ("http://alice:se#cret@127.0.0.1:9/", "port"),
        ("http://alice:secret@127.0.0.1:99999/", "port"),
        ("http://[alice:secret@127.0.0.1/", "cannot be parsed"),
        ("http://alice:secret@/accounts", "no host"),
        ("ftp://alice:secret@127.0.0.1/", "http"),
    ],
)
@pytest.mark.parametrize("token", [False, True])
def test_an_unusable_base_url_is_one_line_without_its_userinfo(
    base_url: str, said: str, token: bool, tmp_path: Path
) -> None:
    workspace = _sources(tmp_path)
    status, stdout, stderr = _fetch(workspace, "--base-url", f"accounts={base_url}", *(["--token", TOKEN] * token))
    assert status == 1
    assert stderr.startswith("error: accounts: the given base URL (--base-url or --service-key) is not a usable URL: ")
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert said in stderr
    for part in ("alice", "cret", "se/", "se?", "se#"):
        assert part not in stdout + stderr


def test_an_unusable_base_url_in_sources_yaml_names_that_file(tmp_path: Path) -> None:
    workspace = _sources(tmp_path, base_url="http://alice:se/cret@127.0.0.1:9/")
    status, stdout, stderr = _fetch(workspace)
    assert status == 1
    assert stderr.startswith("error: accounts: base_url in sources.yaml is not a usable URL: "), stderr
    assert "percent-encode" in stderr
    assert "alice" not in stdout + stderr
    assert "cret" not in stdout + stderr


def test_an_unusable_url_found_by_discovery_is_one_line(tmp_path: Path) -> None:
    workspace = _sources(tmp_path)
    with serve({}) as base:
        config = {"url": "http://docs.example:port/api.json"}
        base.routes["/accounts/v3/api-docs/swagger-config"] = (JSON, json.dumps(config).encode())
        status, _, stderr = _fetch(workspace, "--base-url", f"accounts={base.url}/accounts")
    assert status == 1
    assert stderr.startswith("error: accounts: cannot fetch http://docs.example:port/api.json: not a valid URL"), stderr
