"""`make bench`: the pipeline's and the package's performance figures, taken side by side in one run.

Figures, not assertions (the machines are shared and noisy):
- regenerating every API client from specs/ (target ≤ 30 s on 2 cores);
- `import scp_async`: which generated packages it loads (target: none);
- importing one CF V3 operation module vs a bare `import httpx, attrs` (target: ≤ 150 ms above it);
- the emulator's start-up and requests per second (see scp_async.emulator._bench), when present.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.pipeline._common import ROOT, SPECS_DIR, load_sources
from scripts.pipeline.generate import generate

RUNS = 9


def _import_ms(statement: str) -> float:
    """Median wall time of `statement` in fresh interpreters (bytecode caches warm)."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def bench_generation() -> None:
    with tempfile.TemporaryDirectory(prefix="scp-bench-") as scratch:
        started = time.perf_counter()
        results = generate(list(load_sources().values()), SPECS_DIR, Path(scratch))
        elapsed = time.perf_counter() - started
    operations = sum(len(r.operations) for r in results)
    print(f"generate all {len(results)} APIs ({operations} operations): {elapsed:.1f} s (target ≤ 30 s)")


def bench_imports() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, scp_async; print(sorted({m.split('.')[0] for m in sys.modules}))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    generated = "scp_async_clients" in loaded
    print(f"import scp_async loads a generated package: {'YES' if generated else 'no'} (target: no)")
    _import_ms("import scp_async_clients.cf_v3.api.apps.get_app")  # warm the bytecode cache once
    base = _import_ms("import httpx, attrs")
    one = _import_ms("import httpx, attrs, scp_async_clients.cf_v3.api.apps.get_app")
    every = _import_ms("import scp_async_clients.cf_v3.models as m; [getattr(m, n) for n in m.__all__]")
    print(
        f"import httpx, attrs: {base:.0f} ms; + one CF V3 operation: {one:.0f} ms "
        f"(+{one - base:.0f} ms, target ≤ +150 ms); all {RUNS}-run medians"
    )
    print(f"for comparison, loading every CF V3 model: {every:.0f} ms")
    facade = _import_ms("import scp_async")
    print(f"import scp_async (httpx, authlib, anyio included): {facade:.0f} ms")


def bench_facade_overhead(requests: int = 3000, concurrency: int = 16) -> None:
    """The same GETs against one emulator server: plain httpx with a bearer token vs the typed facade."""
    import anyio
    import httpx

    from scp_async import Session, fan_out
    from scp_async.emulator import Emulator

    async def measure(call: object, total: int) -> float:
        started = time.perf_counter()
        await fan_out(call, range(total), limit=concurrency)  # type: ignore[arg-type]
        return total / (time.perf_counter() - started)

    async def run(emulator: Emulator) -> tuple[float, float]:
        keys = emulator.service_keys()
        async with Session() as session, httpx.AsyncClient() as plain:
            accounts = session.cloud_management(keys["cis"]).accounts
            guid = (await accounts.get_subaccounts()).value[0].guid
            token = emulator.issue_token("cis")
            url = f"{emulator.base_url('accounts')}/accounts/v1/subaccounts/{guid}"
            headers = {"Authorization": f"Bearer {token}"}

            async def raw(_: int) -> None:
                response = await plain.get(url, headers=headers)
                response.raise_for_status()
                response.json()  # the typed path parses too (into models)

            async def typed(_: int) -> None:
                await accounts.get_subaccount(guid)

            await measure(raw, 200)  # warm both paths (connections, token, imports)
            await measure(typed, 200)
            return await measure(raw, requests), await measure(typed, requests)

    with Emulator.serve() as emulator:
        raw_rate, typed_rate = anyio.run(run, emulator)
    print(
        f"GET subaccount x{requests}, {concurrency} at a time: plain httpx {raw_rate:,.0f}/s, "
        f"typed facade {typed_rate:,.0f}/s (facade/plain = {typed_rate / raw_rate:.2f}; one process, emulator included)"
    )


def bench_emulator() -> None:
    try:
        from scp_async.emulator import _bench
    except ImportError:
        print("emulator benchmark: not available")
        return
    _bench.main(["--seconds", "5"])


def main() -> int:
    print(f"scp-async benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    bench_generation()
    bench_imports()
    bench_facade_overhead()
    bench_emulator()
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
