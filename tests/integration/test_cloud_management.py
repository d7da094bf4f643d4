"""Cloud Management (cis) end to end over loopback: accounts, entitlements, provisioning, SaaS, events."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from scp_async import BadRequest, Conflict, NotFound, ServiceKey, Session
from scp_async.emulator import Emulator, ManualClock
from scp_async_clients.accounts.models import (
    CreateSubaccountRequestPayload,
    GlobalAccountResponseObject,
    SubaccountResponseObject,
    UpdateSubaccountRequestPayload,
)
from scp_async_clients.saas_provisioning.models import CreateSubscriptionRequestPayload

from .helpers import SEED_SUBACCOUNTS, TRANSITION_DELAY

MISSING_GUID = "00000000-0000-4000-8000-000000000000"


async def test_global_account_is_a_typed_model_with_datetimes(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        cis = session.cloud_management(ServiceKey.from_dict(keys["cis"]))
        ga = await cis.accounts.get_global_account()
    assert isinstance(ga, GlobalAccountResponseObject)
    assert ga.guid == emu.state.global_account["guid"]
    assert ga.display_name == emu.state.global_account["displayName"]
    assert isinstance(ga.created_date, datetime.datetime)
    assert ga.created_date.tzinfo is not None
    # the emulator sends epoch milliseconds; the model turns them into the same instant
    assert ga.created_date.timestamp() * 1000 == pytest.approx(emu.state.global_account["createdDate"])


async def test_service_keys_from_files_work_too(emu: Emulator, tmp_path: Any) -> None:
    paths = emu.write_service_keys(tmp_path)
    async with Session() as session:
        cis = session.cloud_management(ServiceKey.from_file(paths["cis"]))
        ga = await cis.accounts.get_global_account()
    assert ga.guid == emu.state.global_account["guid"]


async def test_list_subaccounts_matches_the_seed(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        cis = session.cloud_management(keys["cis"])
        listed = await cis.accounts.get_subaccounts()
    assert isinstance(listed.value, list)
    seeded = [s for s in listed.value if not s.display_name.startswith("itest-")]  # made by other tests here
    assert len(seeded) == SEED_SUBACCOUNTS == emu.config.subaccounts
    assert {s.guid for s in listed.value} == set(emu.state.subaccounts)
    assert all(isinstance(s, SubaccountResponseObject) for s in listed.value)
    assert all(isinstance(s.created_date, datetime.datetime) for s in listed.value)


async def test_subaccount_lifecycle(emu: Emulator, clock: ManualClock, keys: dict[str, Any]) -> None:
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        created = await accounts.create_subaccount(
            body=CreateSubaccountRequestPayload(display_name="itest-lifecycle", region="eu10", description="first")
        )
        assert created.state.value == "STARTED"
        assert created.display_name == "itest-lifecycle"
        assert created.region == "eu10"

        # still transitioning: the emulator refuses updates, as BTP does
        with pytest.raises(Conflict):
            await accounts.update_subaccount(created.guid, body=UpdateSubaccountRequestPayload(display_name="x"))
        assert (await accounts.get_subaccount(created.guid)).state.value == "STARTED"

        clock.advance(TRANSITION_DELAY + 1)
        fetched = await accounts.get_subaccount(created.guid)
        assert fetched.state.value == "OK"
        assert fetched.guid == created.guid

        updated = await accounts.update_subaccount(
            created.guid,
            body=UpdateSubaccountRequestPayload(display_name="itest-renamed", description="second"),
        )
        assert (updated.display_name, updated.description) == ("itest-renamed", "second")
        assert (await accounts.get_subaccount(created.guid)).display_name == "itest-renamed"
        assert created.guid in {s.guid for s in (await accounts.get_subaccounts()).value or []}

        deleting = await accounts.delete_subaccount(created.guid)
        assert deleting.state.value == "DELETING"
        clock.advance(TRANSITION_DELAY + 1)
        with pytest.raises(NotFound):
            await accounts.get_subaccount(created.guid)
        assert created.guid not in {s.guid for s in (await accounts.get_subaccounts()).value or []}


async def test_missing_subaccount_raises_not_found_with_sap_error_fields(keys: dict[str, Any]) -> None:
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        with pytest.raises(NotFound) as caught:
            await accounts.get_subaccount(MISSING_GUID)
    error = caught.value
    assert error.status_code == 404
    assert error.error_code == "11002"
    assert MISSING_GUID in error.message
    assert error.target == "/accounts/v1/subaccounts"
    assert error.correlation_id  # from X-CorrelationID and the body's correlationID
    assert error.correlation_id == error.response.json()["error"]["correlationID"]
    assert error.correlation_id in str(error)
    assert "Bearer" not in error.response.request.headers.get("authorization", "")  # the token is not kept


async def test_invalid_requests_raise_bad_request(keys: dict[str, Any]) -> None:
    async with Session() as session:
        accounts = session.cloud_management(keys["cis"]).accounts
        with pytest.raises(BadRequest) as unknown_region:
            await accounts.create_subaccount(
                body=CreateSubaccountRequestPayload(display_name="itest-bad", region="moon-1")
            )
        with pytest.raises(BadRequest) as malformed:
            await accounts.request(
                "POST",
                "/accounts/v1/subaccounts",
                content=b'{"displayName": ',
                headers={"Content-Type": "application/json"},
            )
    assert unknown_region.value.error_code == "11011"
    assert "moon-1" in unknown_region.value.message
    assert malformed.value.status_code == 400
    assert "Malformed JSON" in malformed.value.message
    assert malformed.value.correlation_id


async def test_entitlements_show_the_assignments_of_a_subaccount(emu: Emulator, keys: dict[str, Any]) -> None:
    subaccount = next(iter(emu.state.subaccounts))
    expected = {(svc, plan) for svc, plan in emu.state.entitlements[subaccount]}
    async with Session() as session:
        entitlements = session.cloud_management(keys["cis"]).entitlements
        tree = await entitlements.get_global_account_assignments(subaccount_guid=subaccount)
    assert tree is not None
    assigned = {
        (service.name, plan.name)
        for service in tree.assigned_services or []
        for plan in service.service_plans or []
        if any(info.entity_id == subaccount for info in plan.assignment_info or [])
    }
    assert assigned == expected
    assert tree.entitled_services
    category = tree.entitled_services[0].business_category
    assert category.id  # an object with id/displayName, as the spec says


async def test_provisioning_lists_environment_instances(emu: Emulator, keys: dict[str, Any]) -> None:
    async with Session() as session:
        provisioning = session.cloud_management(keys["cis"]).provisioning
        listed = await provisioning.get_environment_instances()
    instances = listed.environment_instances or []
    assert instances
    assert {i.id for i in instances} <= set(emu.state.environments)
    assert all(i.subaccount_guid in emu.state.subaccounts for i in instances)
    assert all(isinstance(i.created_date, datetime.datetime) for i in instances)


async def test_saas_subscription_goes_from_in_process_to_subscribed(
    emu: Emulator, clock: ManualClock, keys: dict[str, Any]
) -> None:
    async with Session() as session:
        saas = session.cloud_management(keys["cis"]).saas_provisioning
        apps = (await saas.get_entitled_applications()).applications or []
        candidate = next(a for a in apps if a.state.value == "NOT_SUBSCRIBED")
        name = candidate.app_name
        raw = await saas.with_raw_response.create_subscription_async(
            name, body=CreateSubscriptionRequestPayload(plan_name=candidate.plan_name)
        )
        assert raw.status_code == 202
        assert raw.headers["location"].startswith("/api/v2.0/jobs/")
        assert (await saas.get_entitled_application(name)).state.value == "IN_PROCESS"
        clock.advance(TRANSITION_DELAY + 1)
        subscribed = await saas.get_entitled_application(name)
        job = await saas.get_job_related_to_saas_application_by_id(raw.headers["location"].rsplit("/", 1)[1])
    assert subscribed.state.value == "SUBSCRIBED"
    assert subscribed.subscription_url
    assert job.state.value == "SUCCEEDED"


async def test_events_walk_every_page(emu: Emulator, keys: dict[str, Any]) -> None:
    seen: list[int] = []
    pages = 0
    async with Session() as session:
        events = session.cloud_management(keys["cis"]).events
        first = await events.get_business_events(page_size=7, page_num=1)
        total, total_pages = first.total, first.total_pages
        page = first
        while True:
            pages += 1
            assert page.page_num == pages
            assert len(page.events or []) <= 7
            seen.extend(e.id for e in page.events or [])
            if not page.more_pages:
                break
            page = await events.get_business_events(page_size=7, page_num=pages + 1)
    assert total == len(emu.state.events)
    assert total > 7  # more than one page, or the walk proves nothing
    assert pages == total_pages
    assert len(seen) == total
    assert len(set(seen)) == total
    assert set(seen) == {e["id"] for e in emu.state.events}
