"""Log in to Cloud Foundry and page through every app, with its space (the `include` parameter), then the
apps of two spaces (a list filter) and those created since a date (a relational operator, as extra_query)."""

import json
from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import Session, paginate
from scp_async_clients.cf_v3.models import ListAppsIncludeItem


async def main(keys: Path) -> None:
    login = json.loads((keys / "cf.json").read_text())  # API URL, user and password
    async with Session() as session:
        cf = await session.cloud_foundry(login["api_url"], username=login["username"], password=login["password"])
        first = await paginate(cf.list_apps, per_page=10, include=[ListAppsIncludeItem.SPACE])
        print(f"{first.pagination.total_results} apps; first page has {len(first.resources)}")
        count = 0
        async for app in paginate(cf.list_apps, per_page=10):
            count += 1
            if count <= 3:
                print(f"  {app.name}: {app.state}")
        print(f"{count} apps listed")
        spaces = (await cf.list_spaces(per_page=2)).resources
        in_two = [app.name async for app in paginate(cf.list_apps, space_guids=[s.guid for s in spaces])]
        print(f"{len(in_two)} apps in the spaces {', '.join(s.name for s in spaces)}")
        # What the spec has no parameter for goes as extra_query: CF's relational operators on timestamps.
        recent = paginate(cf.list_apps, extra_query={"created_ats[gte]": "2020-01-01T00:00:00Z"}, per_page=100)
        print(f"{len([app async for app in recent])} apps created since 2020")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
