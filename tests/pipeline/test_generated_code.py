"""The committed generated code: every module imports, models load lazily, payloads of the real shapes parse."""

from __future__ import annotations

import datetime
import enum
import importlib
import inspect
import json
import subprocess
import sys
import types
import typing
import uuid
from typing import Any

import pytest

from scp_async._namespace import CALL_OPTIONS, NOT_GIVEN
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


# -- argument checks of the generated namespaces ----------------------------------------------------


class _NeverSent:
    """A context whose request fails the test: a wrong argument must be refused before any request."""

    base_url = "https://never.example.test"

    async def request(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a request was sent")


def _sample(tp: Any) -> Any:
    """A value the argument check accepts for `tp` (a model is made without running its __init__)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None) and a.__name__ != "Unset"]
        return _sample(members[0])
    if typing.get_origin(tp) is list:
        return []
    samples: dict[Any, Any] = {uuid.UUID: uuid.UUID(int=1), str: "x", int: 1, float: 1.5, bool: True}
    if tp in samples:
        return samples[tp]
    if issubclass(tp, enum.Enum):
        return next(iter(tp))
    return tp.__new__(tp)


def _refused(method: Any, args: list[Any], kwargs: dict[str, Any]) -> BaseException:
    coroutine = method(*args, **kwargs)
    try:
        coroutine.send(None)  # the checks run before the method's first await
    except (TypeError, ValueError) as exc:
        return exc
    finally:
        coroutine.close()
    raise AssertionError("accepted")


@pytest.mark.parametrize("api", APIS)
def test_every_parameter_of_every_namespace_method_is_checked_before_sending(api: str) -> None:
    package = f"{GENERATED_PACKAGE}.{api}"
    namespace_module = importlib.import_module(f"{package}._namespace")
    modules = {
        op.module.rsplit(".", 1)[1]: op.module for op in importlib.import_module(f"{package}._operations").OPERATIONS
    }
    checked = 0
    for class_name in namespace_module.__all__:
        namespace = getattr(namespace_module, class_name)(_NeverSent())
        for name, function in vars(type(namespace)).items():
            if name.startswith("_") or not inspect.iscoroutinefunction(function):
                continue
            hints = typing.get_type_hints(importlib.import_module(f"{package}.{modules[name]}")._get_kwargs)
            parameters = list(inspect.signature(function).parameters.values())[1:]
            # Every method ends with the per-call options, keyword-only and not given by default.
            options = parameters[-len(CALL_OPTIONS) :]
            keyword_only = inspect.Parameter.KEYWORD_ONLY
            assert [(p.name, p.kind) for p in options] == [(o, keyword_only) for o in CALL_OPTIONS], name
            assert all(p.default in (NOT_GIVEN, None) for p in options)
            parameters = parameters[: -len(CALL_OPTIONS)]
            valid = {p.name: _sample(hints[p.name]) for p in parameters if p.default is p.empty}
            for option in CALL_OPTIONS:
                args = [valid[p.name] for p in parameters if p.kind is not keyword_only]
                keywords = {p.name: valid[p.name] for p in parameters if p.kind is keyword_only and p.name in valid}
                raised = _refused(getattr(namespace, name), args, {**keywords, option: object()})
                assert (type(raised), str(raised).startswith(f"{name}(): {option} must be ")) == (TypeError, True)
                checked += 1
            for parameter in parameters:
                for wrong, error, message in [
                    (object(), TypeError, f"{name}(): {parameter.name} must be "),
                    ("", ValueError, f"{name}(): {parameter.name} must not be empty"),
                ]:
                    sample = _sample(hints[parameter.name])
                    text = isinstance(sample, str | uuid.UUID) and not isinstance(sample, enum.Enum)
                    if error is ValueError and (parameter.kind is parameter.KEYWORD_ONLY or not text):
                        continue  # only path parameters (positional) that take text
                    values = {**valid, parameter.name: wrong}
                    args = [values.pop(p.name) for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
                    raised = _refused(getattr(namespace, name), args, values)
                    assert (type(raised), str(raised)[: len(message)]) == (error, message), f"{api}.{name}: {raised}"
                    checked += 1
    assert checked >= 8  # the smallest API (audit log) has one operation with four parameters, twice


def test_the_generator_refuses_a_parameter_type_it_cannot_check() -> None:
    from scripts.pipeline.namespaces import _checks, _Parameter

    with pytest.raises(ValueError, match=r"patch\(options\): no argument check for the annotation 'dict\[str, Any\]'"):
        _checks("patch", [_Parameter("options", "dict[str, Any] | Unset", "UNSET", keyword_only=True)])
    assert _checks("get", [_Parameter("guid", "UUID | str", None, keyword_only=False)]) == [
        "        if not isinstance(guid, (str, _uuid.UUID)):",
        "            raise _wrong('get', 'guid', 'str or UUID', guid)",
        "        if not guid:",
        "            raise _empty('get', 'guid')",
    ]


def test_the_generator_refuses_an_operation_parameter_named_like_a_per_call_option() -> None:
    from scripts.pipeline.namespaces import OPTIONS, _Parameter, option_collisions

    assert tuple(OPTIONS) == CALL_OPTIONS
    timeout = _Parameter("timeout", "int | Unset", "UNSET", keyword_only=True)
    guid = _Parameter("guid", "str", None, keyword_only=False)
    assert option_collisions("cf_v3", "getApp", [guid], ["from collections.abc import Mapping"]) == []
    (problem,) = option_collisions("cf_v3", "listThings", [guid, timeout], [])
    assert problem.startswith("listThings has a parameter 'timeout', which every method takes as a per-call option")
    assert "specs/overlays/cf_v3.yaml" in problem
    (problem,) = option_collisions("cf_v3", "getMap", [guid], ["from .models.mapping import Mapping"])
    assert "['Mapping']" in problem


@pytest.mark.parametrize("api", APIS)
def test_every_model_repr_is_short_and_shows_no_text_beyond_what_identifies_it(api: str) -> None:
    import attrs

    models = importlib.import_module(f"{GENERATED_PACKAGE}.{api}.models")
    identifying = {"guid", "id", "name", "display_name", "state"}
    checked = 0
    for name in models.__all__:
        cls = getattr(models, name)
        if not attrs.has(cls):
            continue  # an enum
        model = cls.__new__(cls)
        for field in attrs.fields(cls):
            value = {} if field.name == "additional_properties" else "SECRET-" * 40
            shown = field.name in identifying or field.name.endswith("_guid")
            object.__setattr__(model, field.name, "i" * 300 if shown else value)
        text = repr(model)
        assert len(text) <= 200, name
        assert text.startswith(f"{name}("), name
        assert "SECRET" not in text, name
        checked += 1
    assert checked >= 4  # the audit log API has four models
