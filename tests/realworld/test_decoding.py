"""Lenient decoding (scp_async._decoding, called by the generated models): every date form SAP sends, values of
an unexpected JSON type kept with a warning, and unreadable values as typed errors naming the JSON path."""

from __future__ import annotations

import copy
import datetime
import json
import logging
from pathlib import Path
from typing import Any

import pytest

import scp_async
from scp_async import InvalidResponseError
from scp_async._decoding import ResponseDecodeError, date_time, parse_date_time

from .harness import Body, call_with_body

UTC = datetime.UTC
BERLIN_WINTER = datetime.timezone(datetime.timedelta(hours=1))


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2017-11-24T13:35:45.831Z", datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        ("2017-11-24T13:35:45.831z", datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        ("2017-11-24T14:35:45.831+01:00", datetime.datetime(2017, 11, 24, 14, 35, 45, 831000, tzinfo=BERLIN_WINTER)),
        ("2017-11-24T13:35:45", datetime.datetime(2017, 11, 24, 13, 35, 45, tzinfo=UTC)),  # no offset: UTC
        ("2017-11-24T13:35:45.831Z[UTC]", datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        ("2017-11-24T13:35:45.831Z[Etc/UTC]", datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        (
            "2017-11-24T14:35:45.831+01:00[Europe/Berlin]",
            datetime.datetime(2017, 11, 24, 14, 35, 45, 831000, tzinfo=BERLIN_WINTER),
        ),
        (1511530545831, datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        (1511530545831.0, datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        ("1511530545831", datetime.datetime(2017, 11, 24, 13, 35, 45, 831000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime.datetime(1, 1, 1, tzinfo=UTC)),  # Go's zero time, sent by SM
        # java.time with nanoseconds, and without seconds (ZonedDateTime.toString drops zero seconds)
        ("2024-09-09T22:25:08.792192529Z[Etc/UTC]", datetime.datetime(2024, 9, 9, 22, 25, 8, 792192, tzinfo=UTC)),
        ("2019-06-11T13:50Z[UTC]", datetime.datetime(2019, 6, 11, 13, 50, tzinfo=UTC)),
    ],
)
def test_every_date_form_the_services_send(sent: Any, expected: datetime.datetime) -> None:
    parsed = parse_date_time(sent)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()
    field = date_time(sent, "created_at")  # what the models call, with its fast path for ISO strings
    assert (field, field.utcoffset()) == (parsed, parsed.utcoffset())


def test_a_region_without_an_offset_takes_the_region_s_offset() -> None:
    parsed = parse_date_time("2024-07-01T12:00:00[Europe/Berlin]")
    assert parsed is not None
    assert parsed.utcoffset() == datetime.timedelta(hours=2)  # summer time


@pytest.mark.parametrize("sent", [1e300, -1e300, float("nan"), "1e300", "garbage", "", "2024-13-45T00:00:00Z", "x[UTC"])
def test_unreadable_dates_are_none_not_overflow(sent: Any) -> None:
    assert parse_date_time(sent) is None


def _write(tmp_path: Path, api: str, operation: str, body: Any) -> Body:
    path = tmp_path / f"{operation}.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return Body(f"{api}/{operation}", api, operation, path)


OWN = Path(__file__).parent / "bodies"


def _multiapps_operation() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((OWN / "multiapps" / "operation-zoned-dates.json").read_text())
    return result


@pytest.mark.parametrize("sent", [1e300, "garbage", "2017-11-24T13:35:45.831Z[UTC"])
async def test_an_unreadable_date_is_a_typed_error_naming_the_field(tmp_path: Path, sent: Any) -> None:
    body = _multiapps_operation()
    body["messages"][1]["timestamp"] = sent
    with pytest.raises(InvalidResponseError) as caught:
        await call_with_body(_write(tmp_path, "multiapps", "getMtaOperation", body))
    error = caught.value
    assert error.operation_id == "getMtaOperation"
    assert error.path == "$.messages[1].timestamp"
    assert error.expected is not None
    assert "date-time" in error.expected
    assert error.got is not None
    assert error.got.startswith(("number", "string"))
    assert isinstance(error.cause, ResponseDecodeError)
    assert "$.messages[1].timestamp" in str(error)


async def test_a_value_of_another_json_type_is_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = _multiapps_operation()
    body["messages"] = {"not": "a list"}
    body["startedAt"] = True
    body["state"] = 7
    secret = "s3cr3t-value-never-logged"
    body["parameters"] = secret  # an object declared, a string sent
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        operation = await call_with_body(_write(tmp_path, "multiapps", "getMtaOperation", body))
    # Everything else is typed as usual; the odd values are there as they came.
    assert operation.ended_at == datetime.datetime(2017, 11, 24, 13, 38, 2, 117000, tzinfo=BERLIN_WINTER)
    assert operation.messages == {"not": "a list"}
    assert operation.started_at is True
    assert operation.state == 7
    assert operation.parameters == secret
    warnings = sorted(r.getMessage() for r in caplog.records)
    assert warnings == [
        "response field $.messages: expected an array, got object; kept as sent",
        "response field $.parameters: expected an object (OperationParameters), got string; kept as sent",
        "response field $.startedAt: expected " + _date_forms() + ", got boolean; kept as sent",
        "response field $.state: expected a OperationState value, got number; kept as sent",
    ]
    assert secret not in caplog.text


def _date_forms() -> str:
    from scp_async._decoding import DATE_TIME_FORMS

    return DATE_TIME_FORMS


async def test_a_missing_required_field_names_its_path(tmp_path: Path) -> None:
    body = json.loads(json.dumps({"guid": "ga", "displayName": "x", "createdDate": 0}))
    with pytest.raises(InvalidResponseError) as caught:
        await call_with_body(_write(tmp_path, "accounts", "getGlobalAccount", body))
    assert caught.value.path is not None
    assert caught.value.path.startswith("$.")
    assert caught.value.got == "missing"


async def test_a_body_that_is_no_object_is_an_error_not_kept(tmp_path: Path) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        await call_with_body(_write(tmp_path, "multiapps", "getMtaOperation", ["not", "an", "object"]))
    assert caught.value.path == "$"
    assert caught.value.got == "array"


def test_one_unset_for_every_api() -> None:
    from scp_async import UNSET
    from scp_async_clients.accounts.types import UNSET as ACCOUNTS_UNSET
    from scp_async_clients.cf_v3.types import UNSET as CF_UNSET
    from scp_async_clients.cf_v3.types import Unset

    assert ACCOUNTS_UNSET is CF_UNSET is UNSET
    assert isinstance(ACCOUNTS_UNSET, Unset)
    assert Unset is scp_async.Unset
    assert copy.deepcopy(UNSET) is UNSET
    assert not UNSET
    assert repr(UNSET) == "UNSET"


def test_dates_without_time_are_lenient_too(caplog: pytest.LogCaptureFixture) -> None:
    from scp_async_clients.resource_consumption.models import CloudCreditsDetails

    with caplog.at_level(logging.WARNING, logger="scp_async"):
        odd = CloudCreditsDetails.from_dict({"contracts": [{"contractStartDate": 20240101}]})
    assert odd.contracts[0].contract_start_date == 20240101
    assert "contracts[0].contractStartDate: expected a date (YYYY-MM-DD), got number; kept as sent" in caplog.text
    with pytest.raises(ResponseDecodeError) as caught:
        CloudCreditsDetails.from_dict({"contracts": [{"contractStartDate": "2024-99-01"}]})
    assert caught.value.path == "$.contracts[0].contractStartDate"


def _service_instance(guid: str, kind: str) -> dict[str, Any]:
    return {
        "guid": guid,
        "name": f"my-{kind}-instance",
        "type": kind,
        "created_at": "2024-05-06T07:08:09Z",
        "relationships": {"space": {"data": {"guid": "5a84d315-9513-4d74-95e5-f6a5501eeef7"}}},
        "links": {"self": {"href": f"https://api.example.org/v3/service_instances/{guid}"}},
    }


async def test_a_union_item_of_another_json_type_is_kept_and_the_others_typed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from scp_async_clients.cf_v3.models import ManagedServiceInstance, UserProvidedServiceInstance

    managed = _service_instance("c89b3280-fe8d-4aa0-a42e-44465bb1c61c", "managed")
    provided = _service_instance("88ce23e5-27c3-4381-a2df-32a28ec43133", "user-provided")
    body = {"pagination": {"total_results": 3, "total_pages": 1, "next": None}, "resources": [managed, True, provided]}
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        listed = await call_with_body(_write(tmp_path, "cf_v3", "listServiceInstances", body))
    first, odd, last = listed.resources
    assert isinstance(first, ManagedServiceInstance)
    assert isinstance(last, UserProvidedServiceInstance)
    assert str(last.guid) == provided["guid"]
    assert first.created_at == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert odd is True
    assert listed.pagination.total_results == 3
    assert [r.getMessage() for r in caplog.records] == [
        "response field $.resources[1]: expected one of ManagedServiceInstance, UserProvidedServiceInstance,"
        " got boolean; kept as sent"
    ]


async def test_a_union_body_of_another_json_type_is_an_error_naming_the_operation(tmp_path: Path) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        await call_with_body(_write(tmp_path, "cf_v3", "getServiceInstance", True))
    assert caught.value.operation_id == "getServiceInstance"
    assert caught.value.path == "$"
    assert caught.value.got == "boolean"


async def test_a_deviation_deep_in_a_list_is_named_once_with_its_index(caplog: pytest.LogCaptureFixture) -> None:
    """Bodies are read without JSON paths first (they cost a string per nested object) and read again with
    them only when something deviates: the warning is the one a path-tracking reading gives, once."""
    from scp_async._decoding import model
    from scp_async.emulator import Emulator
    from scp_async_clients.cf_v3.models import App, AppList, Lifecycle

    emulator = Emulator(subaccounts=2)
    async with emulator.client(token=emulator.issue_token("cf", user="admin@example.com")) as client:
        body = (await client.get(emulator.base_url("cf_v3") + "/v3/apps", params={"per_page": 5})).json()
    assert len(body["resources"]) >= 3
    clean = model(AppList, copy.deepcopy(body), None)
    assert all(isinstance(app.lifecycle, Lifecycle) for app in clean.resources)
    body["resources"][2]["lifecycle"] = "buildpack"
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        odd = model(AppList, body, None)
    assert [r.getMessage() for r in caplog.records] == [
        "response field $.resources[2].lifecycle: expected an object (Lifecycle), got string; kept as sent"
    ]
    assert odd.resources[2].lifecycle == "buildpack"
    assert all(isinstance(app, App) for app in odd.resources)
    assert odd.resources[0] == clean.resources[0]
