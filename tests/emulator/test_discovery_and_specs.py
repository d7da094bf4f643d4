from __future__ import annotations

import re

import httpx
import pytest

from scp_async.emulator import API_PREFIXES, Emulator
from scp_async.emulator._openapi import synthesize


@pytest.mark.parametrize("api", sorted(API_PREFIXES))
async def test_discovery_serves_the_committed_spec(emu: Emulator, api: str) -> None:
    spec = emu.app.spec(api)
    if spec is None:
        pytest.skip(f"specs/{api}.json is not there")
    base = emu.base_url(api)
    async with emu.client() as c:  # discovery needs no token
        config = (await c.get(f"{base}/v3/api-docs/swagger-config")).json()
        doc_url = httpx.URL(base).join(config["url"])
        doc = (await c.get(doc_url)).json()
        assert doc["paths"].keys() == spec.doc["paths"].keys()
        assert doc["servers"] == [{"url": base}]
        resources = (await c.get(f"{base}/swagger-resources")).json()
        assert (await c.get(httpx.URL(base).join(resources[0]["url"]))).json()["paths"].keys() == doc["paths"].keys()
        js = (await c.get(f"{base}/swagger-ui/swagger-initializer.js")).text
        assert config["url"] in js
        assert (await c.get(f"{base}/v2/api-docs")).status_code == 200


async def test_every_operation_in_the_specs_can_be_called(emu: Emulator) -> None:
    """Requests built from each operation's own schema get a non-5xx answer (synthesized or stateful)."""
    token = emu.issue_token("cf", user="admin@example.com")
    seen = 0
    async with emu.client(token=token) as c:
        csrf = (await c.get("/multiapps/api/v1/csrf-token", headers={"X-CSRF-Token": "Fetch"})).headers["x-csrf-token"]
        for api in API_PREFIXES:
            spec = emu.app.spec(api)
            if spec is None:
                continue
            for op in spec.operations():
                path = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", op.template)
                params = {}
                for q in op.query.values():
                    if q.required:
                        value = synthesize(spec, q.schema, q.name)
                        params[q.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
                headers = {h.name: "x" for h in op.headers if h.required}
                headers["X-CSRF-Token"] = csrf
                kwargs: dict[str, object] = {}
                if op.body_schema is not None and op.body_required:
                    kwargs["json"] = synthesize(spec, op.body_schema, "body")
                r = await c.request(op.method, emu.base_url(api) + path, params=params, headers=headers, **kwargs)  # type: ignore[arg-type]
                assert r.status_code < 500, f"{api} {op.method} {op.template}: {r.status_code} {r.text[:200]}"
                seen += 1
    assert seen > 300
    assert emu.counters.statuses.get(500, 0) == 0


async def test_synthesized_responses_are_deterministic(emu: Emulator, client: httpx.AsyncClient) -> None:
    if emu.app.spec("xsuaa") is None:
        pytest.skip("no xsuaa spec")
    url = "/xsuaa/sap/rest/authorization/v2/rolecollections"
    first, second = await client.get(url), await client.get(url)
    assert first.status_code == 200
    assert first.content == second.content
    assert isinstance(first.json(), list)
