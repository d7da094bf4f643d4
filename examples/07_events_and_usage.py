"""Business events of the global account (page by page) and last year's monthly usage."""

import datetime
from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session, paginate


async def main(keys: Path) -> None:
    async with Session() as session:
        cis = session.cloud_management(ServiceKey.from_file(keys / "cis.json"))
        event_types = {event.event_type async for event in paginate(cis.events.get_business_events, page_size=50)}
        print(f"event types seen: {sorted(map(str, event_types))[:5]}")

        usage = session.resource_consumption(ServiceKey.from_file(keys / "resource_consumption.json"))
        this_month = int(datetime.date.today().strftime("%Y%m"))
        report = await usage.get_monthly_usage(from_date=this_month - 100, to_date=this_month)
        rows = report.content or []
        services = {row.service_name for row in rows}
        print(f"{len(rows)} usage rows over {len(services)} services")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
