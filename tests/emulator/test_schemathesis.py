"""schemathesis, run against the emulator with the emulator's own specs, finds no server error (5xx).

A bounded run: a deterministic sample of operations per API, two positive and two negative examples each,
over real loopback HTTP, with the spec fetched from the emulator's own discovery endpoint.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from scp_async.emulator import API_PREFIXES, Emulator

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

# A deeper run: SCP_ASYNC_SCHEMATHESIS_OPS=1000 pytest tests/emulator/test_schemathesis.py
MAX_OPERATIONS_PER_API = int(os.environ.get("SCP_ASYNC_SCHEMATHESIS_OPS", "4"))


@pytest.mark.parametrize("api", sorted(API_PREFIXES))
def test_no_server_errors(served: Emulator, api: str) -> None:
    from schemathesis.generation.modes import GenerationMode

    if served.app.spec(api) is None:
        pytest.skip(f"specs/{api}.json is not there")
    schema = schemathesis.openapi.from_url(served.base_url(api) + "/v3/api-docs")
    token = served.issue_token("cf", user="admin@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [r.ok() for r in schema.get_all_operations() if r.ok() is not None]
    step = max(1, len(operations) // MAX_OPERATIONS_PER_API)
    sample = operations[::step][:MAX_OPERATIONS_PER_API]
    assert sample
    failures: list[str] = []
    settings = hypothesis.settings(
        max_examples=2,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    for operation in sample:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings  # type: ignore[untyped-decorator]
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[untyped-decorator]
            def run(case: Any) -> None:
                response = case.call(headers=headers, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                    )

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue
    assert not failures, "\n".join(failures)
    assert served.counters.statuses.get(500, 0) == 0
