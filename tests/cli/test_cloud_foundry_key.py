"""session.cloud_foundry from the cf.json the emulator writes, and CF API URLs from landscape labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scp_async import ServiceKeyError, Session
from scp_async._session import cf_api_url
from scp_async.emulator import Emulator


async def test_login_from_the_emulator_key_dict_and_file(tmp_path: Path) -> None:
    emulator = Emulator(subaccounts=2)
    key = emulator.service_keys()["cf"]
    emulator.write_service_keys(tmp_path)
    async with Session(transport=emulator.transport()) as session:
        for source in (key, tmp_path / "cf.json", str(tmp_path / "cf.json")):
            cf = await session.cloud_foundry(source)
            orgs = await cf.list_organizations()
            assert len(orgs.resources) == len(emulator.state.cf_orgs)
            # the deploy service comes from the key, not derived from the API URL
            assert cf.multiapps.base_url == key["deploy_service_url"]
        cf = await session.cloud_foundry(key=tmp_path / "cf.json", deploy_service_url="http://elsewhere.example")
        assert cf.multiapps.base_url == "http://elsewhere.example"


@pytest.mark.parametrize(
    ("label", "url"),
    [
        ("cf-eu10", "https://api.cf.eu10.hana.ondemand.com"),
        ("cf-us10-001", "https://api.cf.us10-001.hana.ondemand.com"),
        ("CF-AP21", "https://api.cf.ap21.hana.ondemand.com"),
        ("https://api.example.org", "https://api.example.org"),
    ],
)
def test_landscape_labels(label: str, url: str) -> None:
    assert cf_api_url(label) == url


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"username": "u", "password": "p"}, "api_url"),
        ({"api": "https://api.example.org", "username": 7}, "username"),
    ],
)
async def test_bad_login_files_name_the_field(tmp_path: Path, content: dict[str, object], field: str) -> None:
    path = tmp_path / "cf.json"
    path.write_text(json.dumps({**content, "password": "pw-secret-value"}))
    async with Session() as session:
        with pytest.raises(ServiceKeyError) as caught:
            await session.cloud_foundry(path)
    assert field in str(caught.value)
    assert "cf.json" in str(caught.value)
    assert "pw-secret-value" not in str(caught.value)
