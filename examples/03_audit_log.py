"""Every audit log record of the last 30 days, following the service's Paging handles (500 per page)."""

import collections
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session


async def main(keys: Path) -> None:
    async with Session() as session:
        audit_log = session.audit_log(ServiceKey.from_file(keys / "audit_log.json"))
        now = datetime.now(UTC)
        categories: collections.Counter[str] = collections.Counter()
        async for record in audit_log.records(time_from=now - timedelta(days=30), time_to=now):
            categories[record.category or "?"] += 1
        for category, count in categories.most_common():
            print(f"{count:6} {category}")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
