"""``paginate`` is typed for user code: ``mypy --strict`` knows the item type of every paging style and
reports a keyword the operation does not take."""

from __future__ import annotations

import re
from pathlib import Path

from .test_typing import mypy_strict

USER_CODE = """\
from __future__ import annotations

import uuid

from scp_async import Session, paginate
from scp_async_clients.cf_v3.models import App


async def main(key: dict[str, object]) -> list[App]:
    async with Session() as session:
        cf = await session.cloud_foundry("https://api.cf.example.com", username="u", password="p")
        apps = [app async for app in paginate(cf.list_apps, per_page=100, names=["a"])]
        async for process in paginate(cf.list_app_processes, uuid.uuid4()):
            reveal_type(process)
        sm = session.service_manager(key)
        async for instance in paginate(sm.get_all_service_instances, max_items=50):
            reveal_type(instance)
        async for event in paginate(session.cloud_management(key).events.get_business_events, page_size=10):
            reveal_type(event)
        async for collection in paginate(session.xsuaa(key).get_role_collections, top=10):
            reveal_type(collection)
        first = await paginate(cf.list_apps)
        reveal_type(first)
        async for page in paginate(cf.list_apps).with_max_pages(3).pages():
            reveal_type(page)
        reveal_type(apps[0])
        paginate(cf.list_apps, per_pag=100)
        paginate(cf.list_apps, per_page="100")
        return apps
"""


def test_items_are_typed_and_wrong_keywords_are_reported(tmp_path: Path, mypy_cache: Path) -> None:
    path = tmp_path / "paging_user_code.py"
    path.write_text(USER_CODE, encoding="utf-8")
    result = mypy_strict(path, mypy_cache)
    lines = USER_CODE.splitlines()
    reported: dict[str, str] = {}
    for line in result.stdout.splitlines():
        match = re.match(r".*paging_user_code\.py:(\d+): (?:note|error): (.*)$", line)
        if match and " defined in " not in match.group(2):
            reported[lines[int(match.group(1)) - 1].strip()] = match.group(2)
    assert reported == {
        "reveal_type(process)": 'Revealed type is "scp_async_clients.cf_v3.models.process.Process"',
        "reveal_type(instance)": (
            'Revealed type is "scp_async_clients.service_manager.models.listed_service_instance_response_object.'
            'ListedServiceInstanceResponseObject"'
        ),
        "reveal_type(event)": (
            'Revealed type is "scp_async_clients.events.models.business_event_response_object.'
            'BusinessEventResponseObject"'
        ),
        "reveal_type(collection)": 'Revealed type is "scp_async_clients.xsuaa.models.role_collection.RoleCollection"',
        "reveal_type(first)": 'Revealed type is "scp_async_clients.cf_v3.models.app_list.AppList"',
        "reveal_type(page)": 'Revealed type is "scp_async_clients.cf_v3.models.app_list.AppList"',
        "reveal_type(apps[0])": 'Revealed type is "scp_async_clients.cf_v3.models.app.App"',
        "paginate(cf.list_apps, per_pag=100)": (
            'Unexpected keyword argument "per_pag" for "paginate"; did you mean "per_page"?  [call-arg]'
        ),
        'paginate(cf.list_apps, per_page="100")': (
            'Argument "per_page" to "paginate" has incompatible type "str"; expected "int | Unset"  [arg-type]'
        ),
    }, result.stdout + result.stderr
