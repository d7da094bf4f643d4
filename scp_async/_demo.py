"""`make demo` / `scp-async demo`: a tour of a global account, against the embedded emulator.

Discovers the global account, then asks about every subaccount concurrently (details, labels and last
month's usage) with a bounded fan-out, and prints a short summary. No account, network or
configuration needed: the emulator runs in-process.
"""

from __future__ import annotations

import collections
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._fan_out import fan_out
from ._session import Session


@dataclass(frozen=True)
class SubaccountFacts:
    name: str
    region: str
    state: str
    labels: dict[str, list[str]]
    usage: float


def _last_month(today: datetime.date) -> tuple[int, int]:
    last_day = today.replace(day=1) - datetime.timedelta(days=1)
    first_day = last_day.replace(day=1)
    return int(first_day.strftime("%Y%m%d")), int(last_day.strftime("%Y%m%d"))


async def tour(session: Session, keys: dict[str, Any], *, limit: int = 16, out: Callable[[str], None] = print) -> None:
    cis = session.cloud_management(keys["cis"])
    usage_api = session.resource_consumption(keys["resource_consumption"])
    started = time.perf_counter()

    account = await cis.accounts.get_global_account()
    out(f"Global account   {account.display_name} ({account.license_type}, created {account.created_date:%Y-%m-%d})")
    subaccounts = (await cis.accounts.get_subaccounts()).value or []
    out(f"Subaccounts      {len(subaccounts)}; asking about each, at most {limit} at a time ...")
    from_day, to_day = _last_month(datetime.date.today())

    async def facts(guid: str) -> SubaccountFacts:
        subaccount = await cis.accounts.get_subaccount(guid)
        labels = await cis.accounts.get_subaccount_labels(guid)
        usage = await usage_api.get_subaccount_usage(subaccount_id=guid, from_date=from_day, to_date=to_day)
        label_map = labels.labels.additional_properties if labels.labels else {}
        return SubaccountFacts(
            name=subaccount.display_name,
            region=subaccount.region,
            state=str(subaccount.state),
            labels={k: list(v) for k, v in label_map.items()},
            usage=sum(float(row.usage or 0) for row in usage.content or []),
        )

    results = await fan_out(facts, [s.guid for s in subaccounts], limit=limit, return_exceptions=True)
    found = [r for r in results if isinstance(r, SubaccountFacts)]
    failed = [r for r in results if not isinstance(r, SubaccountFacts)]
    elapsed = time.perf_counter() - started

    regions = collections.Counter(f.region for f in found)
    states = collections.Counter(f.state for f in found)
    teams = collections.Counter(team for f in found for team in f.labels.get("team", []))
    out(f"By region        {', '.join(f'{r} {n}' for r, n in sorted(regions.items()))}")
    out(f"By state         {', '.join(f'{s} {n}' for s, n in sorted(states.items()))}")
    out(f"Most subaccounts {', '.join(f'{t} ({n})' for t, n in teams.most_common(3)) or 'no team labels'}")
    out(f"Top usage {from_day // 100 % 100:02d}/{from_day // 10000}:")
    for item in sorted(found, key=lambda f: f.usage, reverse=True)[:5]:
        out(f"  {item.usage:10.1f}  {item.name} ({item.region})")
    calls = 3 * len(subaccounts) + 2
    out(f"Done: {len(found)} subaccounts in {elapsed:.2f} s ({calls} API calls), {len(failed)} failed")


async def run_demo(subaccounts: int = 50, limit: int = 16, out: Callable[[str], None] = print) -> None:
    from .emulator import Emulator

    # SAP's documented rate limits, ten times as generous: the tour stays fast and the limits stay real
    emulator = Emulator(subaccounts=subaccounts, rate_limits=True, rate_limit_factor=10.0)
    out(f"Embedded BTP emulator: {subaccounts} subaccounts, in-process (no network, no account)\n")
    async with Session(transport=emulator.transport()) as session:
        await tour(session, emulator.service_keys(), limit=limit, out=out)
    out(
        f"\nRequests served: {sum(emulator.counters.snapshot()['requests'].values())}, tokens issued: "
        f"{emulator.counters.tokens_issued}"
    )
