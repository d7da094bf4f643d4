"""Every response body SAP's services really sent (``../shared/real-payloads``) parses through the typed facade.

The bodies are reference data collected by others (see their README and manifest for provenance); they
are read from ``$SCP_ASYNC_REAL_PAYLOADS`` or ``../shared/real-payloads``, never copied here. Under
``CI=true`` a missing directory fails instead of skipping.

Where the shared set has few or no bodies (MultiApps, events, audit log, usage, CF env var values),
``bodies/`` holds small ones we wrote ourselves, each reproducing a documented shape; its manifest keeps
provenance the way the shared one does (``source``, ``mapping``) and says where no public source exists.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from pathlib import Path

import pytest

from .harness import Body, call_with_body, check_value, leaves, load_manifest

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(os.environ.get("SCP_ASYNC_REAL_PAYLOADS") or ROOT.parent / "shared" / "real-payloads")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _bodies() -> list[Body]:
    if not (PAYLOADS / "manifest.json").is_file():
        return []
    return load_manifest(PAYLOADS)


BODIES = _bodies()
OWN_DIR = Path(__file__).parent / "bodies"
OWN = load_manifest(OWN_DIR)


def test_the_real_payloads_are_there() -> None:
    if not BODIES:
        message = f"no real payloads at {PAYLOADS} (set SCP_ASYNC_REAL_PAYLOADS)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert len(BODIES) >= 174


@pytest.mark.parametrize("body", BODIES + OWN, ids=[b.id for b in BODIES + OWN])
async def test_real_body_parses_into_the_typed_model(body: Body, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        result = await call_with_body(body)
    assert result is not None, f"{body.operation} returned nothing for a body"
    # The CF docs' examples carry placeholder GUIDs no server sends (see the payloads' README): those,
    # and only those, may stay strings where a UUID is declared.
    assert check_value(result, placeholders=body.docs_example) == []
    # Leniency is the safety net, not the fix: a real body needs no value kept as sent.
    kept = [r.getMessage() for r in caplog.records if "kept as sent" in r.getMessage()]
    if body.docs_example:
        kept = [m for m in kept if "expected a UUID, got string" not in m]
    assert kept == []
    assert all(v.tzinfo is not None for v in leaves(result) if isinstance(v, datetime.datetime))


def test_our_bodies_name_their_provenance() -> None:
    """Each body of ours is listed once, with the public source of its shape and what we changed."""
    entries = json.loads((OWN_DIR / "manifest.json").read_text(encoding="utf-8"))["payloads"]
    listed = [e["file"] for e in entries]
    on_disk = sorted(str(f.relative_to(OWN_DIR)) for f in OWN_DIR.rglob("*.json") if f.name != "manifest.json")
    assert sorted(listed) == on_disk
    for entry in entries:
        assert entry["id"] == entry["file"].removesuffix(".json")
        assert len(entry.get("mapping", "")) > 20, f"{entry['id']}: no mapping"
        for source in [entry["source"], *entry.get("see_also", [])]:
            assert set(source) == {"repo", "commit", "path", "license"}, entry["id"]
            assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), f"{entry['id']}: commit {source['commit']!r}"
            assert "/" in source["repo"], entry["id"]
            assert source["path"], entry["id"]
