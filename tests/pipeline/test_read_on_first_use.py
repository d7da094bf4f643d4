"""Models read on first use (scripts/pipeline/deferred.py, scp_async._decoding.fill).

A body that fits the model's shape is kept as it came and read when a field is first asked for; one that
does not fit is read at once, so warnings and errors are exactly those of an eager reading.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import logging
import pickle
import pkgutil
import random
import re
import uuid
from typing import Any

import attrs
import pytest

import scp_async._decoding as _scp
import scp_async_clients
from scp_async_clients.cf_v3.models.app import App
from scp_async_clients.cf_v3.models.app_links import AppLinks
from scp_async_clients.cf_v3.models.app_list import AppList
from scp_async_clients.cf_v3.models.link import Link

GUID = "1b3dbd5c-e9a1-4a6f-81f7-6d1c2dbc2134"
HREF = f"https://api.cf.example.com/v3/apps/{GUID}"


def _app(**changes: Any) -> dict[str, Any]:
    app: dict[str, Any] = {
        "guid": GUID,
        "name": "approuter",
        "state": "STARTED",
        "created_at": "2026-03-14T01:19:35Z",
        "updated_at": "2026-03-14T01:19:35Z",
        "lifecycle": {"type": "buildpack", "data": {"buildpacks": ["nodejs_buildpack"], "stack": "cflinuxfs4"}},
        "relationships": {"space": {"data": {"guid": "c30ff46e-8026-495f-b8cd-a88b436d76e2"}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": HREF},
            "space": {"href": "https://api.cf.example.com/v3/spaces/c30ff46e-8026-495f-b8cd-a88b436d76e2"},
            "start": {"href": f"{HREF}/actions/start", "method": "POST"},
            "droplets": {"href": f"{HREF}/droplets", "note": "an extra key"},
        },
    }
    app.update(changes)
    return app


def _page(*apps: dict[str, Any]) -> dict[str, Any]:
    pagination = {"total_results": len(apps), "total_pages": 1, "first": {"href": HREF}, "last": {"href": HREF}}
    return {"pagination": {**pagination, "next": None, "previous": None}, "resources": list(apps)}


def _read(body: dict[str, Any]) -> Any:
    """As the generated `_parse_response` reads a response body."""
    return _scp.model(AppList, body, None)


def _waits(model: Any, field: str) -> bool:
    """Whether `field` of `model` is still to be read from the body the model keeps."""
    if _scp.unread_body(model) is None:
        return False
    try:
        object.__getattribute__(model, field)
    except AttributeError:
        return True
    return False


def _is_waiting(model: Any) -> bool:
    return _scp.unread_body(model) is not None and all(_waits(model, f.name) for f in attrs.fields(type(model)))


def test_links_of_a_body_wait_and_read_the_same_as_an_eager_reading() -> None:
    app = _read(_page(_app())).resources[0]
    assert _is_waiting(app.links)
    eager = AppLinks.from_dict(_app()["links"])  # a caller's from_dict reads at once
    assert not _is_waiting(eager)
    assert app.links.self_.href == HREF
    assert not _waits(app.links, "self_")
    assert _waits(app.links, "start")  # each field is read when first used, alone
    assert app.links == eager
    assert app.links.start.method == "POST"
    assert app.links.droplets["note"] == "an extra key"  # additional properties too
    assert app.links.to_dict() == _app()["links"]


def test_the_items_of_a_list_wait_and_each_field_is_read_alone() -> None:
    """A CF app of a page is kept as sent: reading its name reads neither its dates nor its links."""
    app = _read(_page(_app())).resources[0]
    assert _is_waiting(app)
    assert app.name == "approuter"
    assert not _waits(app, "name")
    assert _waits(app, "created_at")
    assert _waits(app, "links")
    assert app.guid == uuid.UUID(GUID)
    assert app.created_at == App.from_dict(_app()).created_at
    assert _is_waiting(app.relationships)  # read as a model kept as sent, itself
    assert app.relationships.space.data.guid == uuid.UUID("c30ff46e-8026-495f-b8cd-a88b436d76e2")
    assert app.to_dict() == App.from_dict(_app()).to_dict()  # the fields not read yet, in one go
    assert _scp.unread_body(app) is None  # every field set: the body is let go
    assert app.to_dict() == App.from_dict(_app()).to_dict()
    assert app == App.from_dict(_app())


@pytest.mark.parametrize(
    ("created_at", "waits"),
    [
        (1710379175000, True),  # epoch milliseconds (as cis sends dates) read without a doubt
        (1710379175000.5, True),
        ("2026-03-14T01:19:35.123+01:00", True),
        ("1710379175000", False),  # epoch milliseconds as text: the general path
        ("2026-03-14T01:19:35Z[Europe/Berlin]", False),  # java.time's zoned form: the general path
        (True, False),
        (None, False),  # kept as sent, with a warning
    ],
)
def test_an_item_waits_when_its_dates_read_without_a_doubt(created_at: Any, waits: bool) -> None:
    app = _read(_page(_app(created_at=created_at))).resources[0]
    assert _is_waiting(app) is waits
    assert app.created_at == App.from_dict(_app(created_at=created_at)).created_at


@pytest.mark.parametrize("created_at", ["not a date", 10**16, -(10**15)])
def test_an_item_with_a_date_that_is_no_date_is_an_error_at_once_naming_it(created_at: Any) -> None:
    with pytest.raises(_scp.ResponseDecodeError, match=re.escape("$.resources[0].created_at")):
        _read(_page(_app(created_at=created_at)))


def test_a_field_of_an_item_read_on_first_use_is_set_once_and_can_be_assigned() -> None:
    app = _read(_page(_app())).resources[0]
    assert app.created_at is app.created_at
    app.name = "renamed"
    assert app.name == "renamed"
    assert app.to_dict()["name"] == "renamed"  # reading the others keeps what was assigned
    assert app.to_dict()["state"] == "STARTED"


def test_a_model_read_on_first_use_behaves_like_any_model() -> None:
    first, second = (_read(_page(_app())).resources[0] for _ in range(2))
    assert first == second  # equality reads both
    assert [f.name for f in attrs.fields(AppLinks)][-1] == "additional_properties"  # no field of ours
    assert pickle.loads(pickle.dumps(_read(_page(_app())).resources[0])) == first
    assert copy.deepcopy(_read(_page(_app())).resources[0]) == first
    assert repr(_read(_page(_app())).resources[0].links) == repr(AppLinks.from_dict(_app()["links"]))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = _read(_page(_app())).resources[0].links.nope
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = Link(href="x").nope  # type: ignore[attr-defined]


def test_a_field_assigned_before_the_first_reading_is_kept() -> None:
    links = _read(_page(_app())).resources[0].links
    links.self_ = Link(href="mine")
    assert links.start.href.endswith("/actions/start")  # this reads the body...
    assert links.self_.href == "mine"  # ...and keeps what was assigned


def test_a_callers_dict_is_read_at_once_so_later_changes_to_it_do_not_leak_in() -> None:
    source = _app()
    app = App.from_dict(source)
    source["links"]["self"]["href"] = "changed"
    assert app.links.self_.href == HREF


@pytest.mark.parametrize(
    ("links", "path"),
    [
        ({"self": None}, "$.resources[0].links.self"),  # null for an object
        ({"self": "a string"}, "$.resources[0].links.self"),
    ],
)
def test_links_that_do_not_fit_are_read_at_once_with_the_usual_warning(
    links: dict[str, Any], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        app = _read(_page(_app(links=links))).resources[0]
    assert not _is_waiting(app.links)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [f"response field {path}"]
    assert app.links.self_ == links["self"]  # kept as sent


def test_a_link_without_its_required_href_is_an_error_at_once_naming_it() -> None:
    with pytest.raises(_scp.ResponseDecodeError, match=re.escape("$.resources[0].links.self.href")):
        _read(_page(_app(links={"self": {"method": "GET"}})))


def _generated_model_classes() -> list[type[Any]]:
    classes = []
    for api in pkgutil.iter_modules(scp_async_clients.__path__):
        models = importlib.import_module(f"scp_async_clients.{api.name}.models")
        for name in getattr(models, "__all__", []):
            cls = getattr(models, name)
            if attrs.has(cls):
                classes.append(cls)
    return classes


PASSED_THROUGH = {"str", "int", "float", "bool", "Any", "None", "Unset"}
VOUCHED = {"UUID", "datetime.datetime", "list[str]", "list[int]", "list[float]", "list[bool]", "list[Any]"}


def _parts(annotation: object) -> set[str]:
    return {part.strip() for part in str(annotation).split("|")}


def test_only_models_whose_reading_cannot_fail_or_warn_are_read_on_first_use() -> None:
    """Each deferred model's fields are plain JSON values, UUIDs, plain lists, string enums or deferred models
    (or null), or optional fields the body must lack; its shape tests every required key and each such field,
    no more and no less."""
    classes = _generated_model_classes()
    deferred = {cls.__name__: cls for cls in classes if hasattr(cls, "_scp_shape")}
    str_enums = {cls.__name__ for api in _model_modules() for cls in _enums(api) if issubclass(cls, str)}
    assert "Link" in deferred
    assert "AppLinks" in deferred
    assert "AppRelationships" in deferred
    assert "Lifecycle" in deferred  # the credentials (a map of unions) only where a body has none
    assert "LifecycleData" in deferred
    for cls in deferred.values():
        assert issubclass(cls, _scp.ReadOnFirstUse)
        required, checks = cls._scp_shape
        tests = {key: test for key, test, _inner in checks if key is not None}
        undeclared = [(test, inner) for key, test, inner in checks if key is None]
        names = {f.name: f for f in attrs.fields(cls)}
        expected: dict[str, str] = {}
        for field in names.values():
            if field.name == "additional_properties":
                value_type = str(field.type).removeprefix("dict[str, ").removesuffix("]")
                if undeclared:  # a map of plain lists: each undeclared key's value tested as a list
                    assert value_type in VOUCHED - {"UUID", "datetime.datetime"}, (cls.__name__, field.type)
                    declared = {f.alias for f in names.values() if f.name != "additional_properties"}
                    assert undeclared == [("list", undeclared[0][1])], cls.__name__
                    assert len(undeclared[0][1]) == len(declared), cls.__name__
                else:
                    assert _parts(value_type) <= PASSED_THROUGH, (cls.__name__, field.type)
                continue
            parts = _parts(field.type) - {"Unset"}
            if parts <= PASSED_THROUGH:
                continue
            (first, *rest) = sorted(parts - {"None"})
            if not rest and (
                (parts == {first} and first in VOUCHED | set(deferred) | str_enums)
                or (parts == {first, "None"} and first in deferred)
            ):
                expected[field.name] = "vouched"
            else:
                assert field.default is not attrs.NOTHING, (cls.__name__, field.name)  # never a required one
                expected[field.name] = "absent"
        without_default = [f for f in names.values() if f.init and f.default is attrs.NOTHING]
        assert len(required) == len(without_default), cls.__name__
        assert len(tests) == len(expected), cls.__name__
        absent = sorted(k for k, t in tests.items() if t == "absent")
        assert len(absent) == sum(e == "absent" for e in expected.values()), (cls.__name__, tests, expected)
        assert set(tests.values()) <= {"object", "object or null", "uuid", "date-time", "list", "str", "absent"}
    assert len(deferred) > 100  # CF's links objects above all


def _model_modules() -> list[Any]:
    return [
        importlib.import_module(f"scp_async_clients.{api.name}.models")
        for api in pkgutil.iter_modules(scp_async_clients.__path__)
    ]


def _enums(models: Any) -> list[type[Any]]:
    import enum

    found = (getattr(models, name) for name in getattr(models, "__all__", []))
    return [cls for cls in found if isinstance(cls, type) and issubclass(cls, enum.Enum)]


def test_a_lifecycle_with_credentials_is_read_at_once_and_one_without_waits() -> None:
    """A key that must be absent (a map of unions) makes the object read at once; without it, it waits."""
    lifecycle = {
        "type": "docker",
        "data": {"credentials": {"registry.example.com": {"username": "u", "password": "p"}}},
    }
    app = _read(_page(_app(lifecycle=lifecycle))).resources[0]
    assert not _is_waiting(app.lifecycle)
    assert not _is_waiting(app.lifecycle.data)
    assert app.lifecycle.data.credentials["registry.example.com"].username == "u"
    plain = _read(_page(_app())).resources[0]
    assert _is_waiting(plain.lifecycle)
    assert plain.lifecycle.data.buildpacks == ["nodejs_buildpack"]
    assert plain.lifecycle.to_dict() == _app()["lifecycle"]


def test_relationships_with_a_guid_that_is_no_uuid_are_read_at_once_with_the_usual_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    relationships = {"space": {"data": {"guid": "quota-guid"}}}
    with caplog.at_level(logging.WARNING, logger="scp_async"):
        app = _read(_page(_app(relationships=relationships))).resources[0]
    assert not _is_waiting(app.relationships)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "response field $.resources[0].relationships.space.data.guid"
    ]
    assert app.relationships.space.data.guid == "quota-guid"


def test_relationships_wait_and_read_guids_as_uuids() -> None:
    app = _read(
        _page(_app(relationships={"space": {"data": {"guid": GUID.upper()}}, "current_droplet": {"data": None}}))
    ).resources[0]
    assert _is_waiting(app.relationships)
    assert app.relationships.space.data.guid == uuid.UUID(GUID)
    assert app.relationships.current_droplet.data is None


def _fits_by_the_book(value: Any, shape: Any) -> bool:
    """The shape's meaning, read straight off its tuples (the oracle of the compiled checks)."""
    required, checks = shape
    if any(key not in value for key in required):
        return False
    for key, test, inner in checks:
        if key is None:  # every undeclared key's value is a list
            if any(type(v) is not list for k, v in value.items() if k not in inner):
                return False
            continue
        if key not in value:
            continue
        item = value[key]
        ok = {
            "object": lambda i, inner=inner: type(i) is dict and _fits_by_the_book(i, inner),
            "object or null": lambda i, inner=inner: i is None or (type(i) is dict and _fits_by_the_book(i, inner)),
            "uuid": lambda i: type(i) is str and re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", i),
            "date-time": lambda i: (
                (type(i) is str and _iso(i))
                or (
                    type(i) in (int, float)
                    and datetime.datetime.min.replace(tzinfo=datetime.UTC).timestamp() * 1000
                    <= i
                    <= datetime.datetime.max.replace(tzinfo=datetime.UTC).timestamp() * 1000
                )
            ),
            "list": lambda i: type(i) is list,
            "str": lambda i: type(i) is str,
        }.get(test, lambda i: False)(item)
        if not ok:
            return False
    return True


def _iso(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return not text.isdigit()


def _fitting(shape: Any) -> dict[str, Any]:
    required, checks = shape
    body: dict[str, Any] = dict.fromkeys(required, "x")
    for key, test, inner in checks:
        if key is None:  # an undeclared key, holding a list
            body["stage"] = ["dev"]
        elif test in ("object", "object or null"):
            body[key] = _fitting(inner)
        elif test != "absent":
            body[key] = {"uuid": GUID, "date-time": "2026-03-14T01:19:35Z", "list": [], "str": "s"}[test]
    return body


def _variants(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in body.items():
        for other in (
            None,
            1,
            2**70,  # epoch milliseconds past datetime's years
            -(2**60),
            1.5e12,
            "not-a-guid",
            GUID,
            "2026-03-14T01:19:35Z",
            "2026-03-14",
            "20260314",
            "2026-02-30T00:00:00Z",
            [],
            {},
            True,
        ):
            out.append({**body, key: other})
        out.append({k: v for k, v in body.items() if k != key})
        if isinstance(value, dict):
            out.extend({**body, key: inner} for inner in _variants(value)[:40])
    return out


def test_the_compiled_shape_checks_agree_with_the_shapes_meaning() -> None:
    classes = [cls for cls in _generated_model_classes() if hasattr(cls, "_scp_shape")]
    rng = random.Random(20261207)
    checked = 0
    labelled = [cls for cls in classes if any(key is None for key, _test, _inner in cls._scp_shape[1])]
    assert any(cls.__name__ == "SubaccountResponseObjectLabels" for cls in labelled)
    for cls in [*rng.sample(classes, 150), *labelled, AppLinks, App, Link]:
        shape = cls._scp_shape
        fits = _scp._fitter(shape)
        assert fits is not None
        body = _fitting(shape)
        assert fits(body), cls.__name__
        absent = [key for key, test, _inner in shape[1] if test == "absent"]
        for variant in [*_variants(body), *({**body, key: {}} for key in absent)]:
            assert bool(fits(variant)) == bool(_fits_by_the_book(variant, shape)), (cls.__name__, variant)
            checked += 1
    assert checked > 1000


def _subaccount(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "guid": GUID,
        "technicalName": GUID,
        "displayName": "dev",
        "globalAccountGUID": GUID,
        "parentGUID": GUID,
        "region": "eu10",
        "subdomain": "dev-1",
        "betaEnabled": False,
        "usedForProduction": "NOT_USED_FOR_PRODUCTION",
        "state": "OK",
        "createdDate": 1710379175000,
        "modifiedDate": 1710379175000,
        "labels": {"stage": ["dev"], "team": ["a", "b"]},
    }
    body.update(changes)
    return body


def test_a_subaccount_with_labels_waits_and_reads_them_as_lists() -> None:
    from scp_async_clients.accounts.models.subaccount_response_object import SubaccountResponseObject

    subaccount = _scp.model(SubaccountResponseObject, _subaccount(), None)
    assert _is_waiting(subaccount)
    assert subaccount.labels["team"] == ["a", "b"]
    assert subaccount.created_date == SubaccountResponseObject.from_dict(_subaccount()).created_date
    assert subaccount.to_dict() == SubaccountResponseObject.from_dict(_subaccount()).to_dict()


def test_a_label_that_is_no_list_is_read_at_once_with_the_usual_warning(caplog: pytest.LogCaptureFixture) -> None:
    from scp_async_clients.accounts.models.subaccount_response_object import SubaccountResponseObject

    with caplog.at_level(logging.WARNING, logger="scp_async"):
        subaccount = _scp.model(SubaccountResponseObject, _subaccount(labels={"stage": "dev"}), None)
    assert not _is_waiting(subaccount)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["response field $.labels.stage"]
    assert subaccount.labels["stage"] == "dev"  # kept as sent
