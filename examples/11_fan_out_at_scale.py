"""One call per subaccount across a whole global account: outcomes as they complete, a progress line,
and the counters of the session's rate governor (one pace per API host and tenant, shared by every task).

The emulator enforces SAP's documented limits here (``rate_limits=True``); the governor starts from the
same limits (``SAP_PRESETS``) and, where a server answers 429, slows every task of that API at once. Its
counters say how often that happened. A host no preset names (the emulator's 127.0.0.1, here) starts
slowly, as TCP does: a few calls at once, then a pace that doubles until it holds no one back (0.1 s);
``RateGovernor(cold_start=None)`` turns that off, ``ColdStart(...)`` tunes it. A limit you know that the
presets lack (a gateway of your own in front of an API, say) is told to the governor as a ``RateLimit``
for the host: it paces from the first call.
"""

from pathlib import Path

import anyio
import httpx
from _keys import service_keys

from scp_async import SAP_PRESETS, RateGovernor, RateLimit, ServiceKey, Session, fan_out, fan_out_stream


async def main(keys: Path) -> None:
    async with Session() as session:
        cis = session.cloud_management(ServiceKey.from_file(keys / "cis.json"))
        subaccounts = (await cis.accounts.get_subaccounts()).value or []

        def progress(done: int, total: int, outcome: object) -> None:
            if done % 20 == 0 or done == total:
                print(f"{done}/{total} subaccounts")

        failed = 0
        async with fan_out_stream(
            lambda s: cis.accounts.get_subaccount_labels(s.guid), subaccounts, limit=50, progress=progress
        ) as outcomes:
            async for outcome in outcomes:
                if not outcome.ok:
                    failed += 1
                    print(f"{outcome.item.display_name}: {outcome.error}")
        stats = session.governor.stats()
        print(f"{len(subaccounts) - failed} ok, {failed} failed; {stats.requests} requests, {stats.throttled} 429s,")
        print(f"{stats.waits} waited for their slot ({stats.waited:.1f} s in all)")

    # The same API behind a limit of 20 calls a second (bursts of 5) that only you know of.
    key = ServiceKey.from_file(keys / "cis.json")
    host = httpx.URL(cis.accounts.base_url).host
    governor = RateGovernor(presets=(*SAP_PRESETS, RateLimit(host, 20, burst=5, source="our gateway")))
    async with Session(governor=governor) as session:
        accounts = session.cloud_management(key).accounts
        started = anyio.current_time()
        await fan_out(lambda s: accounts.get_subaccount(s.guid), subaccounts[:40], limit=50)
        stats = session.governor.stats()
        print(f"told 20/s: 40 calls in {anyio.current_time() - started:.1f} s, {stats.throttled} 429s")


if __name__ == "__main__":
    with service_keys(subaccounts=120, rate_limits=True) as keys:
        anyio.run(main, keys)
