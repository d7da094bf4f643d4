"""Emulator benchmark: start-up time, requests per second on loopback, memory under sustained load.

Run with ``python -m scp_async.emulator._bench [--seconds 5] [--connections 16]``. The server runs in a child
process (its own GIL); the load generator is a minimal keep-alive HTTP/1.1 client on raw asyncio streams, so
that the client costs as little CPU as possible on a small machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BenchResult:
    startup_seconds: float
    requests: int
    seconds: float
    errors: int
    rss_before_mb: float
    rss_after_mb: float
    server_cpu_seconds: float = float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of server CPU: what one core sustains, whatever else the machine is doing."""
        return self.requests / self.server_cpu_seconds if self.server_cpu_seconds else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _worker(port: int, request: bytes, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if head[9:12] == b"200":
                counts[0] += 1
            else:
                counts[1] += 1
    finally:
        writer.close()


async def _load(port: int, path: str, token: str, seconds: float, connections: int) -> tuple[int, int, float]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    counts = [0, 0]
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(_worker(port, request, stop_at, counts) for _ in range(connections)))
    return counts[0], counts[1], time.perf_counter() - start


def run_benchmark(seconds: float = 5.0, connections: int = 16, subaccounts: int = 50) -> BenchResult:
    port = _free_port()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "scp_async", "emulator", "--port", str(port), "--subaccounts", str(subaccounts)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(root + "/cf/v2/info", timeout=1) as resp:
                    resp.read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 30:
                    raise RuntimeError("emulator did not start") from None
                time.sleep(0.01)
        startup = time.perf_counter() - t0
        form = b"grant_type=client_credentials&client_id=sb-cis-emulator%21b1&client_secret=cis-emulator-secret"
        with urllib.request.urlopen(root + "/", timeout=5) as resp:
            uaa = json.loads(resp.read())["uaa"]  # the UAA has its own origin (port)
        token_req = urllib.request.Request(uaa + "/oauth/token", data=form, method="POST")
        with urllib.request.urlopen(token_req, timeout=5) as resp:
            token = json.loads(resp.read())["access_token"]
        sub_req = urllib.request.Request(
            root + "/accounts/accounts/v1/subaccounts", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(sub_req, timeout=5) as resp:
            guid = json.loads(resp.read())["value"][0]["guid"]
        path = f"/accounts/accounts/v1/subaccounts/{guid}"
        asyncio.run(_load(port, path, token, 0.5, connections))  # warm-up
        before = _rss_mb(proc.pid)
        cpu_before = _cpu_seconds(proc.pid)
        ok, errors, elapsed = asyncio.run(_load(port, path, token, seconds, connections))
        cpu = _cpu_seconds(proc.pid) - cpu_before
        after = _rss_mb(proc.pid)
        return BenchResult(startup, ok, elapsed, errors, before, after, cpu)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--subaccounts", type=int, default=50)
    args = parser.parse_args(argv)
    result = run_benchmark(args.seconds, args.connections, args.subaccounts)
    print(f"emulator start-up (process spawn to first response): {result.startup_seconds:.2f} s")
    print(
        f"GET subaccount: {result.rps:,.0f} requests/s over {result.seconds:.1f} s "
        f"({result.requests} ok, {result.errors} errors, {args.connections} connections)"
    )
    print(
        f"server CPU: {result.server_cpu_seconds:.2f} s, i.e. {result.per_cpu_second:,.0f} authenticated GETs per "
        "second of one core"
    )
    print(f"server RSS: {result.rss_before_mb:.1f} MiB before, {result.rss_after_mb:.1f} MiB after the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
