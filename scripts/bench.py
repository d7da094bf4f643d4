"""`make bench`: the pipeline's and the package's performance figures, taken side by side in one run.

It writes docs/benchmarks.md and docs/benchmarks.json: the fan-out figures B1-B9 of issue 11, each
beside its reference from the same run (a plain aiohttp or httpx script, cloudfoundry-client), with the
emulator in a separate process. `python -m scripts.bench B1 B8` runs some of them only.

Figures, not assertions (the machines are shared and noisy):
- regenerating every API client from specs/ (target ≤ 30 s on 2 cores);
- `import scp_async`: which generated packages it loads (target: none), and its cost with and without the facade;
- importing one CF V3 operation module vs a bare `import httpx, attrs` (target: ≤ 150 ms above it);
- the emulator's start-up and requests per second (see scp_async.emulator._bench), when present.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    package = _import_ms("import scp_async")
    print(f"import scp_async (its names load on first use): {package:.0f} ms")
    facade = _import_ms("from scp_async import Session")
    print(f"from scp_async import Session (httpx, authlib, anyio included): {facade:.0f} ms")
    above = _import_ms("from scp_async import Session; import scp_async_clients.cf_v3.api.apps.get_app")
    print(f"+ one CF V3 operation above the Session: {above:.0f} ms ({above - facade:+.0f} ms)")


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


# -- fan-out figures (issue 11): B1-B9 against an emulator in a separate process ------------------------


class EmulatorProcess:
    """``Emulator.serve`` in a child process (so its CPU is not ours); counters on request over stdin."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.proc: subprocess.Popen[str] | None = None
        self.keys: dict[str, Any] = {}
        self.root = ""

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.bench", "--serve", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.root, self.keys = hello["root"], hello["keys"]
        return self

    def counters(self) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("counters\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def token(self) -> str:
        return str(self.keys["_token"])

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=20)


def _serve(config_json: str) -> int:
    """The child side of :class:`EmulatorProcess`."""
    from scp_async.emulator import Emulator, EmulatorConfig, FaultConfig, FaultRule

    options = json.loads(config_json)
    faults = FaultConfig(**options.pop("faults", {}))
    rules = [FaultRule(pattern, FaultConfig(**cfg)) for pattern, cfg in options.pop("rules", {}).items()]
    apps_per_space = options.pop("apps_per_space", None)
    config = EmulatorConfig(faults=faults, fault_rules=rules, **options)
    with Emulator.serve(config) as emu:
        if apps_per_space:
            _grow_cf(emu, apps_per_space)
        keys = emu.service_keys()
        keys["_token"] = emu.issue_token("cis")
        gc.freeze()  # as `scp-async emulator` does (run_server): the seeded landscape out of the collector's view
        print(json.dumps({"root": emu.root_url, "keys": keys}), flush=True)
        for line in sys.stdin:
            if line.strip() == "counters":
                print(json.dumps(emu.counters.snapshot()), flush=True)
    return 0


def _grow_cf(emu: Any, apps_per_space: int) -> None:
    """Copies of the seeded apps until every space has ``apps_per_space`` (the B4 landscape)."""
    import uuid

    state = emu.state
    by_space: dict[str, list[dict[str, Any]]] = {}
    for app in list(state.cf_apps.values()):
        by_space.setdefault(app["space"], []).append(app)
    for space, apps in by_space.items():
        for n in range(len(apps), apps_per_space):
            guid = str(uuid.UUID(int=random.getrandbits(128)))
            state.cf_apps[guid] = {**apps[n % len(apps)], "guid": guid, "name": f"app-{n}", "space": space}


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _typed_calls(session: Any, key: Any, guids: list[str], limit: int) -> tuple[float, int, list[BaseException]]:
    from scp_async import fan_out

    accounts = session.cloud_management(key).accounts
    await accounts.get_subaccount(guids[0])  # token and connections warm
    started = time.perf_counter()
    results = await fan_out(accounts.get_subaccount, guids, limit=limit, return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = [r for r in results if isinstance(r, BaseException)]
    return elapsed, len(results) - len(errors), errors


async def _aiohttp_calls(url: str, token: str, guids: list[str], limit: int) -> float:
    """The reference: a plain aiohttp script (one ClientSession, a semaphore, GET + json())."""
    import aiohttp

    semaphore = asyncio.Semaphore(limit)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), headers=headers) as http:

        async def one(guid: str) -> None:
            async with semaphore, http.get(f"{url}/accounts/v1/subaccounts/{guid}") as response:
                response.raise_for_status()
                await response.json()

        await one(guids[0])
        started = time.perf_counter()
        await asyncio.gather(*(one(g) for g in guids))
        return time.perf_counter() - started


def _guids(emu: EmulatorProcess, count: int) -> list[str]:
    import httpx

    base = emu.keys["cis"]["endpoints"]["accounts_service_url"]
    body = httpx.get(
        f"{base}/accounts/v1/subaccounts", headers={"Authorization": f"Bearer {emu.token()}"}, timeout=30
    ).json()
    guids = [s["guid"] for s in body["value"]]
    return [guids[n % len(guids)] for n in range(count)]


def _session(pool: str = "default", **kwargs: Any) -> Any:
    """A session on the default transport (aiohttp's pool under asyncio), or on httpcore's pool."""
    from scp_async import DefaultTransport, Session

    if pool == "httpcore":
        kwargs["transport"] = DefaultTransport(aiohttp=False)
    return Session(**kwargs)


def bench_b1(figures: dict[str, Any]) -> None:
    """1,000 GETs at 50 ms, limit 50 and 200: the facade vs a plain aiohttp script (medians of 3, interleaved).

    Once each, to show why the default transport is what it is: the facade on httpcore's pool (the trio
    path) and a plain httpx script on httpx's stock pool.
    """
    with EmulatorProcess(faults={"latency": 0.05}) as emu:
        guids = _guids(emu, 1000)
        url = emu.keys["cis"]["endpoints"]["accounts_service_url"]
        for limit in (50, 200):

            async def typed(pool: str, limit: int = limit) -> float:
                async with _session(pool) as session:
                    elapsed, _ok, errors = await _typed_calls(session, emu.keys["cis"], guids, limit)
                    assert not errors, errors[:1]
                    return elapsed

            runs: dict[str, list[float]] = {"aiohttp": [], "facade": []}
            for _ in range(3):  # interleaved, medians
                runs["aiohttp"].append(asyncio.run(_aiohttp_calls(url, emu.token(), guids, limit)))
                runs["facade"].append(asyncio.run(typed("default")))
            runs["facade_httpcore_pool"] = [asyncio.run(typed("httpcore"))]
            runs["httpx_stock_pool"] = [asyncio.run(_httpx_calls(url, emu.token(), guids, limit))]
            medians = {k: statistics.median(v) for k, v in runs.items()}
            figures[f"B1_limit{limit}"] = {
                "ideal_s": 1000 / limit * 0.05,
                **{f"{k}_s": round(v, 3) for k, v in medians.items()},
                "facade_vs_aiohttp": round(medians["facade"] / medians["aiohttp"], 2),
            }
            print("B1", limit, figures[f"B1_limit{limit}"], flush=True)


async def _httpx_calls(url: str, token: str, guids: list[str], limit: int) -> float:
    """A plain httpx script: one AsyncClient with its stock pool, a semaphore, GET + json()."""
    import httpx

    semaphore = asyncio.Semaphore(limit)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers) as http:

        async def one(guid: str) -> None:
            async with semaphore:
                response = await http.get(f"{url}/accounts/v1/subaccounts/{guid}")
                response.raise_for_status()
                response.json()

        await one(guids[0])
        started = time.perf_counter()
        await asyncio.gather(*(one(g) for g in guids))
        return time.perf_counter() - started


def bench_b2(figures: dict[str, Any], calls: int = 2000) -> None:
    """Client CPU per call (this process only; the emulator runs in its own), 16 at a time."""
    with EmulatorProcess() as emu:
        guids = _guids(emu, calls)
        url = emu.keys["cis"]["endpoints"]["accounts_service_url"]
        cpu: dict[str, list[float]] = {"aiohttp": [], "httpx": [], "facade": []}

        async def typed() -> None:
            async with _session() as session:
                await _typed_calls(session, emu.keys["cis"], guids, 16)

        for _ in range(3):
            for name, run in (
                ("aiohttp", lambda: _aiohttp_calls(url, emu.token(), guids, 16)),
                ("httpx", lambda: _httpx_calls(url, emu.token(), guids, 16)),
                ("facade", typed),
            ):
                t = time.process_time()
                asyncio.run(run())
                cpu[name].append(time.process_time() - t)
        per_call = {k: statistics.median(v) / calls * 1e6 for k, v in cpu.items()}
        figures["B2"] = {
            **{f"{k}_us_per_call": round(v) for k, v in per_call.items()},
            "facade_vs_aiohttp": round(per_call["facade"] / per_call["aiohttp"], 2),
        }
        print("B2", figures["B2"], flush=True)


def bench_b3(figures: dict[str, Any]) -> None:
    """Tokens: 1,000 concurrent first calls; then 5 s of calls with tokens living 1 s."""
    from scp_async import ApiError, fan_out

    async def first_calls(emu: EmulatorProcess) -> tuple[int, int]:
        before = emu.counters()["tokens_issued"]
        async with _session() as session:
            accounts = session.cloud_management(emu.keys["cis"]).accounts
            guids = _guids(emu, 1000)
            results = await fan_out(accounts.get_subaccount, guids, limit=1000, return_exceptions=True)
        return emu.counters()["tokens_issued"] - before, sum(isinstance(r, BaseException) for r in results)

    async def short_tokens(emu: EmulatorProcess) -> tuple[int, int, int]:
        before = emu.counters()["tokens_issued"]
        unauthorized = calls = 0
        async with _session() as session:
            accounts = session.cloud_management(emu.keys["cis"]).accounts
            guid = _guids(emu, 1)[0]
            deadline = time.perf_counter() + 5

            async def loop(_: int) -> None:
                nonlocal unauthorized, calls
                while time.perf_counter() < deadline:
                    try:
                        await accounts.get_subaccount(guid)
                    except ApiError as exc:
                        unauthorized += exc.status_code == 401
                    calls += 1

            await fan_out(loop, range(20), limit=20)
        return emu.counters()["tokens_issued"] - before, unauthorized, calls

    with EmulatorProcess() as emu:
        tokens, failed = asyncio.run(first_calls(emu))
    with EmulatorProcess(token_ttl=1.0) as emu:
        renewed, unauthorized, calls = asyncio.run(short_tokens(emu))
    figures["B3"] = {
        "first_calls_tokens": tokens,
        "first_calls_failed": failed,
        "ttl1_tokens_in_5s": renewed,
        "ttl1_401s_to_caller": unauthorized,
        "ttl1_calls": calls,
    }
    print("B3", figures["B3"], flush=True)


def bench_b4(figures: dict[str, Any]) -> None:
    """Every app of 50 spaces x 100 apps at 20 ms, space by space (CF's own paging, 50 per page, as an
    admin's inventory does), keeping each app's name: the facade (50 spaces at a time) vs a plain httpx
    script doing the same vs cloudfoundry-client (synchronous: one space after the other)."""
    import httpx

    from scp_async import fan_out, paginate

    with EmulatorProcess(subaccounts=32, apps_per_space=100, faults={"latency": 0.02}) as emu:
        api = emu.root + "/cf"
        user, password = "admin@example.com", "emulator-password"
        token = _cf_token(emu)
        spaces = [
            s["guid"]
            for s in httpx.get(
                f"{api}/v3/spaces?per_page=5000", headers={"Authorization": f"Bearer {token}"}, timeout=30
            ).json()["resources"]
        ][:50]  # the issue's landscape: 50 spaces x 100 apps (the emulator seeds a few more)

        async def facade() -> tuple[float, int]:
            async with _session() as session:
                cf = await session.cloud_foundry(api, username=user, password=password)
                await cf.list_apps(per_page=1)  # token and connection warm

                async def apps_of(space: str) -> int:
                    names = [app.name async for app in paginate(cf.list_apps, space_guids=[space], per_page=50)]
                    return len(names)

                started = time.perf_counter()
                counts = await fan_out(apps_of, spaces, limit=50)
                return time.perf_counter() - started, sum(counts)

        async def plain() -> tuple[float, int]:
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                semaphore = asyncio.Semaphore(50)

                async def apps_of(space: str) -> int:
                    names: list[str] = []
                    url: str | None = f"{api}/v3/apps?space_guids={space}&per_page=50"
                    async with semaphore:
                        while url:
                            body = (await http.get(url)).json()
                            names.extend(app["name"] for app in body["resources"])
                            url = (body["pagination"].get("next") or {}).get("href")
                    return len(names)

                started = time.perf_counter()
                counts = await asyncio.gather(*(apps_of(s) for s in spaces))
                return time.perf_counter() - started, sum(counts)

        def cf_client() -> tuple[float, int]:
            from cloudfoundry_client.client import CloudFoundryClient

            client = CloudFoundryClient(api, verify=False)
            client.init_with_user_credentials(user, password)
            started = time.perf_counter()
            names = [app["name"] for space in spaces for app in client.v3.apps.list(space_guids=space, per_page=50)]
            return time.perf_counter() - started, len(names)

        facade_runs, plain_runs = [], []
        for _ in range(5):  # interleaved, medians (a full garbage collection inside one run moves it by a third)
            facade_runs.append(asyncio.run(facade()))
            plain_runs.append(asyncio.run(plain()))
        try:
            cfc = cf_client()
        except Exception as exc:  # an optional reference: say why it is missing
            cfc = (float("nan"), 0)
            print(f"B4: cloudfoundry-client failed: {type(exc).__name__}: {exc}")
        f, p = statistics.median(r[0] for r in facade_runs), statistics.median(r[0] for r in plain_runs)
        figures["B4"] = {
            "spaces": len(spaces),
            "apps": facade_runs[0][1],
            "plain_httpx_apps": plain_runs[0][1],
            "facade_s": round(f, 3),
            "plain_httpx_s": round(p, 3),
            "cloudfoundry_client_s": round(cfc[0], 3),
            "cloudfoundry_client_apps": cfc[1],
            "facade_vs_plain_httpx": round(f / p, 2),
            "cloudfoundry_client_vs_facade": round(cfc[0] / f, 1),
        }
        print("B4", figures["B4"], flush=True)


def _cf_token(emu: EmulatorProcess) -> str:
    import httpx

    response = httpx.post(
        emu.root + "/uaa/oauth/token",
        data={"grant_type": "password", "username": "admin@example.com", "password": "emulator-password"},
        auth=("cf", ""),
    )
    return str(response.json()["access_token"])


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_b5(figures: dict[str, Any], total: int = 1_000_000) -> None:
    """1 M audit-log records streamed through ``records()``: client RSS sampled every 100 k records."""
    from datetime import UTC, datetime, timedelta

    with EmulatorProcess(audit_log_records=total) as emu:

        async def run() -> tuple[float, int, list[float]]:
            samples = [_current_rss_mb()]
            count = 0
            async with _session() as session:
                logs = session.audit_log(emu.keys["audit_log"])
                now = datetime.now(UTC)
                started = time.perf_counter()
                async for _record in logs.records(time_from=now - timedelta(days=31), time_to=now):
                    count += 1
                    if count % 100_000 == 0:
                        samples.append(_current_rss_mb())
                return time.perf_counter() - started, count, samples

        elapsed, count, samples = asyncio.run(run())
        figures["B5"] = {
            "records": count,
            "wall_s": round(elapsed, 1),
            "client_rss_mb_every_100k": [round(x) for x in samples],
            "client_rss_growth_mb": round(samples[-1] - samples[1], 1) if len(samples) > 2 else None,
        }
        print("B5", figures["B5"], flush=True)


def bench_b6(figures: dict[str, Any]) -> None:
    """2,000 GETs with 10 % 503 and 5 % 429 (Retry-After 1 s): every call must succeed."""
    with EmulatorProcess(faults={"rate_5xx": 0.10, "rate_429": 0.05, "retry_after": 1.0}) as emu:
        guids = _guids(emu, 2000)
        rates = []
        for _ in range(2):

            async def run() -> tuple[float, int, Any]:
                async with _session() as session:
                    elapsed, ok, _errors = await _typed_calls(session, emu.keys["cis"], guids, 50)
                    return elapsed, ok, session.governor.stats()

            elapsed, ok, stats = asyncio.run(run())
            rates.append(ok / len(guids))
        figures["B6"] = {
            "calls": len(guids),
            "success_rates": rates,
            "last_run_s": round(elapsed, 2),
            "last_run_429s": stats.throttled,
        }
        print("B6", figures["B6"], flush=True)


def bench_b8(figures: dict[str, Any]) -> None:
    """600 calls at limit 50 against a token bucket of 100 req/s, burst 20: a governor that learns the limit
    from the 429s (the host is no SAP landscape, so no preset applies), and one told the limit up front."""
    from scp_async import RateGovernor, RateLimit

    with EmulatorProcess(rules={"accounts": {"rate_limit": 100.0, "burst": 20}}) as emu:
        guids = _guids(emu, 600)
        host = httpx_host(emu.keys["cis"]["endpoints"]["accounts_service_url"])
        told = [RateLimit(host, 100, burst=20, source="the emulator's bucket, as a user would configure it")]
        runs: dict[str, list[tuple[float, int, int]]] = {"learning": [], "told": []}
        for _ in range(3):
            for kind in runs:
                time.sleep(0.5)  # the bucket fills up again

                async def run(kind: str = kind) -> tuple[float, int, int]:
                    before = emu.counters()["rate_limited"]
                    governor = RateGovernor(presets=told) if kind == "told" else None
                    async with _session(governor=governor) as session:
                        elapsed, ok, _errors = await _typed_calls(session, emu.keys["cis"], guids, 50)
                    return elapsed, ok, emu.counters()["rate_limited"] - before

                runs[kind].append(asyncio.run(run()))
        ideal = (600 - 20) / 100
        learning, told_runs = runs["learning"], runs["told"]
        elapsed = statistics.median(r[0] for r in learning)
        figures["B8"] = {
            "ideal_s": ideal,
            "wall_s": round(elapsed, 2),
            "vs_ideal": round(elapsed / ideal, 2),
            "success_rates": [r[1] / 600 for r in learning],
            "429s_per_run": [r[2] for r in learning],
            "429_share": round(statistics.median(r[2] for r in learning) / 600, 3),
            "limit_told_vs_ideal": round(statistics.median(r[0] for r in told_runs) / ideal, 2),
            "limit_told_success_rates": [r[1] / 600 for r in told_runs],
            "limit_told_429s_per_run": [r[2] for r in told_runs],
        }
        print("B8", figures["B8"], flush=True)


def httpx_host(url: str) -> str:
    import httpx

    return httpx.URL(url).host


def bench_b9(figures: dict[str, Any], rounds: int = 5) -> None:
    """5,000 subaccounts, one call each, limit 200, 50 ms: wall vs ideal (medians of 5, interleaved with a
    plain aiohttp script's runs: one run on this shared machine varies by a fifth), client RSS."""
    with EmulatorProcess(subaccounts=5000, faults={"latency": 0.05}) as emu:
        guids = _guids(emu, 5000)
        rss_before = _rss_mb()
        url = emu.keys["cis"]["endpoints"]["accounts_service_url"]

        async def run() -> tuple[float, int]:
            async with _session() as session:
                elapsed, ok, _ = await _typed_calls(session, emu.keys["cis"], guids, 200)
                return elapsed, ok

        walls: list[float] = []
        oks: list[int] = []
        references: list[float] = []
        for _ in range(rounds):
            elapsed, ok = asyncio.run(run())
            walls.append(elapsed)
            oks.append(ok)
            # What the emulator and this machine allow at all: a plain aiohttp script, same calls, same limit.
            references.append(asyncio.run(_aiohttp_calls(url, emu.token(), guids, 200)))
        # The same calls on uvloop, when installed: the loop a service on uvicorn runs them on.
        on_uvloop: list[float] = []
        try:
            import uvloop
        except ImportError:
            uvloop = None
        if uvloop is not None:
            on_uvloop = [uvloop.run(run())[0] for _ in range(3)]
        ideal = 5000 / 200 * 0.05
        wall, reference = statistics.median(walls), statistics.median(references)
        figures["B9"] = {
            "ideal_s": ideal,
            "wall_s": round(wall, 2),
            "vs_ideal": round(wall / ideal, 2),
            "runs_s": [round(w, 2) for w in walls],
            "aiohttp_s": round(reference, 2),
            "aiohttp_vs_ideal": round(reference / ideal, 2),
            "aiohttp_runs_s": [round(r, 2) for r in references],
            **(
                {
                    "uvloop_s": round(statistics.median(on_uvloop), 2),
                    "uvloop_vs_ideal": round(statistics.median(on_uvloop) / ideal, 2),
                }
                if on_uvloop
                else {}
            ),
            "ok": min(oks),
            "client_max_rss_mb": round(_rss_mb(), 1),
            "client_max_rss_before_mb": round(rss_before, 1),
        }
        print("B9", figures["B9"], flush=True)


def bench_s1(figures: dict[str, Any], rounds: int = 3) -> None:
    """Stray 429s: 200 calls at limit 50 against the emulator rejecting a tenth of all requests at random with
    a 50 ms reset (and Retry-After: 1), under the governor and with it off (each 429 then waits its second)."""
    from scp_async import RateGovernor

    with EmulatorProcess(faults={"rate_429": 0.10, "retry_after": 0.05}) as emu:
        guids = _guids(emu, 200)
        runs: dict[str, list[tuple[float, int]]] = {"governor": [], "off": []}
        for _ in range(rounds):
            for kind in runs:

                async def run(kind: str = kind) -> tuple[float, int]:
                    governor = RateGovernor(enabled=False) if kind == "off" else None
                    async with _session(governor=governor) as session:
                        elapsed, ok, _errors = await _typed_calls(session, emu.keys["cis"], guids, 50)
                    return elapsed, ok

                runs[kind].append(asyncio.run(run()))
        governed, off = runs["governor"], runs["off"]
        figures["S1"] = {
            "calls": len(guids),
            "wall_s": round(statistics.median(r[0] for r in governed), 2),
            "runs_s": [round(r[0], 2) for r in governed],
            "governor_off_s": round(statistics.median(r[0] for r in off), 2),
            "ok": min(r[1] for r in governed + off),
        }
        print("S1", figures["S1"], flush=True)


FIGURES = {
    "B1": bench_b1,
    "B2": bench_b2,
    "B3": bench_b3,
    "B4": bench_b4,
    "B5": bench_b5,
    "B6": bench_b6,
    "B8": bench_b8,
    "B9": bench_b9,
    "S1": bench_s1,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--serve"]:
        return _serve(args[1])
    chosen = [a.upper() for a in args] or list(FIGURES)
    print(f"scp-async benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if not args:
        bench_generation()
        bench_imports()
        bench_emulator()
    figures: dict[str, Any] = {}
    for name in chosen:
        FIGURES[name](figures)
    write_report(figures, partial=bool(args))
    return 0


TARGETS = {
    "B1": "≤ 1.1x a plain aiohttp script at both limits",
    "B2": "≤ 2x raw aiohttp get + json()",
    "B3": "1 token for 1,000 first calls; ≤ 6 tokens and 0 401s with 1 s tokens over 5 s",
    "B4": "≥ 10x faster than cloudfoundry-client; ≤ 1.2x a plain httpx script",
    "B5": "≤ 150 MB client RSS, flat",
    "B6": "100 % success in every run",
    "B8": "100 % success, ≤ 1.15x the ideal, 429s ≤ 5 % of calls",
    "B9": "≤ 1.2x the ideal; client RSS reported",
    "S1": "all succeed; no slower than with the governor off",
}


def _rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for limit in (50, 200):
        b1 = f.get(f"B1_limit{limit}")
        if b1:
            rows.append(
                (
                    f"B1 1,000 `get_subaccount`, 50 ms latency, limit {limit} (ideal {b1['ideal_s']:.2f} s)",
                    f"{b1['facade_s']:.2f} s ({b1['facade_vs_aiohttp']:.2f}x); "
                    f"on httpcore's pool (trio's path) {b1['facade_httpcore_pool_s']:.2f} s",
                    f"plain aiohttp {b1['aiohttp_s']:.2f} s; plain httpx (stock pool) {b1['httpx_stock_pool_s']:.2f} s",
                    TARGETS["B1"],
                )
            )
    b2 = f.get("B2")
    if b2:
        ours = f"{b2['facade_us_per_call']} µs ({b2['facade_vs_aiohttp']:.1f}x)"
        rows.append(
            (
                "B2 client CPU per typed call",
                ours,
                f"raw aiohttp {b2['aiohttp_us_per_call']} µs; raw httpx {b2['httpx_us_per_call']} µs",
                TARGETS["B2"],
            )
        )
    b3 = f.get("B3")
    if b3:
        rows.append(
            (
                "B3 tokens: 1,000 concurrent first calls; 1 s tokens over 5 s of calls",
                f"{b3['first_calls_tokens']} token(s), {b3['first_calls_failed']} failed; "
                f"{b3['ttl1_tokens_in_5s']} tokens and {b3['ttl1_401s_to_caller']} 401s in {b3['ttl1_calls']:,} calls",
                "—",
                TARGETS["B3"],
            )
        )
    b4 = f.get("B4")
    if b4:
        rows.append(
            (
                f"B4 every app's name in {b4['spaces']} spaces ({b4['apps']:,} apps), space by space, 20 ms latency",
                f"{b4['facade_s']:.2f} s ({b4['facade_vs_plain_httpx']:.2f}x plain httpx)",
                f"plain httpx {b4['plain_httpx_s']:.2f} s; cloudfoundry-client {b4['cloudfoundry_client_s']:.2f} s "
                f"({b4['cloudfoundry_client_vs_facade']}x slower than scp-async)",
                TARGETS["B4"],
            )
        )
    b5 = f.get("B5")
    if b5:
        rss = b5["client_rss_mb_every_100k"]
        rows.append(
            (
                f"B5 {b5['records']:,} audit-log records streamed",
                f"client RSS {rss[0]} MB before, {min(rss[1:])}-{max(rss[1:])} MB while streaming "
                f"({b5['wall_s']:.0f} s)",
                "—",
                TARGETS["B5"],
            )
        )
    b6 = f.get("B6")
    if b6:
        rates = ", ".join(f"{r:.1%}" for r in b6["success_rates"])
        rows.append(
            (
                f"B6 {b6['calls']:,} GETs with 10 % 503 + 5 % 429",
                f"success {rates}; {b6['last_run_s']:.1f} s, {b6['last_run_429s']} 429s in the last run",
                "—",
                TARGETS["B6"],
            )
        )
    b8 = f.get("B8")
    if b8:
        rates = ", ".join(f"{r:.1%}" for r in b8["success_rates"])
        rows.append(
            (
                "B8 600 calls at limit 50 against 100 req/s, burst 20",
                f"{b8['wall_s']:.2f} s = {b8['vs_ideal']:.2f}x the ideal; success {rates}; "
                f"429s {b8['429s_per_run']} ({b8['429_share']:.1%} of calls), the limit learned from them",
                f"ideal {b8['ideal_s']:.2f} s"
                + (
                    f"; the limit told up front (a RateLimit for the host): {b8['limit_told_vs_ideal']:.2f}x the ideal,"
                    f" 429s {b8['limit_told_429s_per_run']}"
                    if "limit_told_vs_ideal" in b8
                    else ""
                ),
                TARGETS["B8"],
            )
        )
    b9 = f.get("B9")
    if b9:
        rows.append(
            (
                "B9 5,000 subaccounts, one call each, limit 200, 50 ms",
                f"{b9['wall_s']:.2f} s = {b9['vs_ideal']:.2f}x the ideal"
                + (f" (median of {', '.join(f'{r:.2f}' for r in b9['runs_s'])} s)" if "runs_s" in b9 else "")
                + f"; {b9['ok']:,} ok in every run; "
                f"client max RSS {b9['client_max_rss_mb']:.0f} MB",
                f"ideal {b9['ideal_s']:.2f} s"
                + (
                    f"; plain aiohttp {b9['aiohttp_s']:.2f} s ({b9['aiohttp_vs_ideal']:.2f}x the ideal)"
                    if "aiohttp_s" in b9
                    else ""
                )
                + (
                    f"; scp-async on uvloop {b9['uvloop_s']:.2f} s ({b9['uvloop_vs_ideal']:.2f}x)"
                    if "uvloop_s" in b9
                    else ""
                ),
                TARGETS["B9"],
            )
        )
    s1 = f.get("S1")
    if s1:
        rows.append(
            (
                f"S1 {s1['calls']} calls at limit 50, a tenth rejected at random (429, 50 ms reset)",
                f"{s1['wall_s']:.2f} s (runs {', '.join(f'{r:.2f}' for r in s1['runs_s'])} s); {s1['ok']} ok",
                f"the governor off: {s1['governor_off_s']:.2f} s",
                TARGETS["S1"],
            )
        )
    return rows


def write_report(figures: dict[str, Any], *, partial: bool) -> None:
    """docs/benchmarks.json (the numbers) and docs/benchmarks.md (the table); a partial run updates its figures."""
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    path = docs / "benchmarks.json"
    previous = json.loads(path.read_text()) if partial and path.exists() else {}
    merged = {**previous.get("figures", {}), **figures}
    data = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "figures": merged,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m scripts.bench [B1 ...]`); the numbers are in `benchmarks.json`.",
        "The emulator runs in a separate process on 127.0.0.1; each figure sits beside its reference from",
        "the same run (medians of interleaved runs where repeated). Figures, not assertions: the machine is",
        f"shared ({data['machine']['cores']} cores, Python {data['machine']['python']}), so expect noise.",
        "",
        "| measure | scp-async | reference, same run | target |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _rows(merged)),
        "",
    ]
    md = docs / "benchmarks.md"
    tmp_md = md.with_suffix(".md.tmp")
    tmp_md.write_text("\n".join(lines))
    tmp_md.replace(md)
    print(f"wrote {md.relative_to(ROOT)} and {path.relative_to(ROOT)}")


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
