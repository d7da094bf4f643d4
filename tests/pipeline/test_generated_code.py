"""The committed generated code: every module imports, models load lazily, payloads of the real shapes parse."""

from __future__ import annotations

import datetime
import importlib
import json
import subprocess
import sys

import pytest

from scripts.pipeline._common import GENERATED_DIR, GENERATED_PACKAGE, ROOT

PACKAGE_DIR = GENERATED_DIR / GENERATED_PACKAGE
APIS = sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists())


def _modules(api: str) -> list[str]:
    root = PACKAGE_DIR / api
    return [
        ".".join((GENERATED_PACKAGE, api, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for path in sorted(root.rglob("*.py"))
    ]


@pytest.mark.parametrize("api", APIS)
def test_every_generated_module_imports(api: str) -> None:
    modules = _modules(api)
    assert len(modules) > 5
    for name in modules:
        importlib.import_module(name)


@pytest.mark.parametrize("api", APIS)
def test_every_model_is_reachable_from_the_lazy_models_package(api: str) -> None:
    models = importlib.import_module(f"{GENERATED_PACKAGE}.{api}.models")
    for name in models.__all__:
        assert getattr(models, name).__name__ == name
    with pytest.raises(AttributeError, match="NoSuchModel"):
        models.NoSuchModel  # noqa: B018


def _fresh_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_one_cf_operation_loads_only_its_models() -> None:
    loaded = _fresh_python(
        "import sys, scp_async_clients.cf_v3.api.apps.get_app\n"
        "print(sum(1 for m in sys.modules if m.startswith('scp_async_clients.cf_v3.models.')))"
    )
    total = len(importlib.import_module(f"{GENERATED_PACKAGE}.cf_v3.models").__all__)
    assert total > 400
    assert 0 < int(loaded) < 40


def test_importing_scp_async_imports_no_generated_package() -> None:
    loaded = _fresh_python(
        "import sys, scp_async\nprint([m for m in sys.modules if m.startswith('scp_async_clients')])"
    )
    assert loaded == "[]"


def test_every_file_carries_the_do_not_edit_banner() -> None:
    for path in PACKAGE_DIR.rglob("*.py"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert "DO NOT EDIT" in first or path.parent == PACKAGE_DIR, path
    assert (PACKAGE_DIR / "py.typed").exists()


# Dates the way SAP sends them: epoch milliseconds where the spec says date-time, ISO strings elsewhere,
# YYYYMM / YYYYMMDD integers and YYYY-MM-DD strings in resource consumption.

EPOCH_MS = 1700000000123
AS_DATETIME = datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=datetime.UTC)


def test_accounts_dates_given_as_epoch_milliseconds_parse() -> None:
    from scp_async_clients.accounts.models import GlobalAccountResponseObject

    # Shaped like a real response: dates as JSON numbers, not strings.
    payload = json.loads(
        json.dumps(
            {
                "guid": "ga-1",
                "globalAccountGUID": "ga-1",
                "parentGUID": "ga-1",
                "parentType": "ROOT",
                "displayName": "Global",
                "description": "",
                "createdDate": EPOCH_MS,
                "modifiedDate": EPOCH_MS,
                "expiryDate": EPOCH_MS,
                "entityState": "OK",
                "subdomain": "ga",
                "commercialModel": "Subscription",
                "consumptionBased": False,
                "licenseType": "ENTERPRISE",
                "geoAccess": "STANDARD",
            }
        )
    )
    account = GlobalAccountResponseObject.from_dict(payload)
    assert account.created_date == AS_DATETIME
    assert account.expiry_date == AS_DATETIME


def test_dates_given_as_iso_strings_still_parse() -> None:
    from scp_async_clients.events.models import BusinessEventResponseObject

    iso = BusinessEventResponseObject.from_dict({"actionTime": "2023-11-14T22:13:20.123Z", "id": 1})
    epoch = BusinessEventResponseObject.from_dict({"actionTime": EPOCH_MS, "id": 1})
    assert iso.action_time == epoch.action_time == AS_DATETIME


def test_resource_consumption_month_and_day_integers_and_date_strings() -> None:
    from scp_async_clients.resource_consumption.models import CloudCreditsDetails, SubaccountUsageList

    usage = SubaccountUsageList.from_dict(
        {"content": [{"periodStartDate": 20240101, "periodEndDate": 20240131, "usage": 2.5, "serviceId": "x"}]}
    )
    assert usage.content[0].period_start_date == 20240101
    credits = CloudCreditsDetails.from_dict(
        {
            "contracts": [
                {"contractStartDate": "2024-01-01", "phases": [{"phaseUpdates": [{"phaseUpdatedOn": "2024-02-03"}]}]}
            ]
        }
    )
    assert credits.contracts[0].contract_start_date == datetime.date(2024, 1, 1)
    assert credits.contracts[0].phases[0].phase_updates[0].phase_updated_on == datetime.date(2024, 2, 3)


def test_audit_log_message_as_string_or_object() -> None:
    from scp_async_clients.audit_log.models import AuditLogMessage, AuditLogRecord

    as_text = AuditLogRecord.from_dict({"message_uuid": "1", "time": "2024-05-01T10:00:00.000Z", "message": "{}"})
    as_object = AuditLogRecord.from_dict({"message_uuid": "2", "message": {"uuid": "m", "data": '{"a": 1}'}})
    assert as_text.message == "{}"
    assert isinstance(as_object.message, AuditLogMessage)
    assert as_object.message.data == '{"a": 1}'


def test_unknown_enum_values_are_kept_not_rejected() -> None:
    from scp_async_clients.accounts.models import SubaccountResponseObjectState

    state = SubaccountResponseObjectState("SOME_STATE_SAP_ADDED_LATER")
    assert state.value == "SOME_STATE_SAP_ADDED_LATER"
    assert SubaccountResponseObjectState("OK") is SubaccountResponseObjectState.OK
