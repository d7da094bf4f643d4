"""Log in to Cloud Foundry and page through every app, with its space (the `include` parameter), then the
apps of two spaces (a list filter)."""

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


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
