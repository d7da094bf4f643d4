"""`x-scp-date-time: epoch-milliseconds`: the spec says integer (what the service sends), our models say datetime.

See scripts/pipeline/extensions.py. The entitlements assignment dates are the first fields marked.
"""

from __future__ import annotations

import datetime
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_async_clients.entitlements.models.assigned_service_plan_subaccount_dto import (
    AssignedServicePlanSubaccountDTO,
)
from scripts.pipeline._common import SPECS_DIR
from scripts.pipeline.extensions import epoch_millisecond_properties
from scripts.pipeline.generate import _generate_in_process

MARKED = {"type": "integer", "format": "int64", "x-scp-date-time": "epoch-milliseconds"}
# 2023-02-13T14:38:47.572Z, a date the entitlements service sent (see the overlay's reason)
MILLISECONDS = 1676299127572
WHEN = datetime.datetime(2023, 2, 13, 14, 38, 47, 572000, tzinfo=datetime.UTC)


def test_the_spec_types_assignment_dates_as_integers_marked_as_epoch_milliseconds() -> None:
    spec = json.loads((SPECS_DIR / "entitlements.json").read_text(encoding="utf-8"))
    properties = spec["components"]["schemas"]["AssignedServicePlanSubaccountDTO"]["properties"]
    assert properties["createdDate"] == MARKED
    assert properties["modifiedDate"] == MARKED


def test_the_model_reads_epoch_milliseconds_as_an_aware_utc_datetime() -> None:
    item = AssignedServicePlanSubaccountDTO.from_dict({"createdDate": MILLISECONDS, "modifiedDate": MILLISECONDS + 1})
    assert item.created_date == WHEN
    assert isinstance(item.created_date, datetime.datetime)
    assert item.created_date.utcoffset() == datetime.timedelta(0)
    assert item.modified_date == WHEN + datetime.timedelta(milliseconds=1)


def test_to_dict_writes_epoch_milliseconds_back() -> None:
    body = {"createdDate": MILLISECONDS, "modifiedDate": 0, "entityId": "x"}
    written = AssignedServicePlanSubaccountDTO.from_dict(body).to_dict()
    assert written == body
    assert type(written["createdDate"]) is int


def test_to_dict_writes_any_datetime_as_its_epoch_milliseconds() -> None:
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    item = AssignedServicePlanSubaccountDTO(
        created_date=WHEN.astimezone(berlin),
        modified_date=WHEN.replace(tzinfo=None),  # no offset means UTC, as when reading
    )
    assert item.to_dict() == {"createdDate": MILLISECONDS, "modifiedDate": MILLISECONDS}


def test_an_iso_date_still_reads_and_is_written_as_epoch_milliseconds() -> None:
    item = AssignedServicePlanSubaccountDTO.from_dict({"createdDate": "2023-02-13T14:38:47.572Z"})
    assert item.created_date == WHEN
    assert item.to_dict() == {"createdDate": MILLISECONDS}


# -- the rule ---------------------------------------------------------------------------------------------


def _document(schemas: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Child"}}}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "1"},
        "paths": {"/things": {"get": {"operationId": "getThing", "responses": {"200": ok}, **extra}}},
        "components": {"schemas": schemas},
    }


MS = {"x-scp-date-time": "epoch-milliseconds"}
SCHEMAS = {
    "Base": {
        "type": "object",
        "properties": {
            "at": {"type": "integer", "format": "int64", **MS},
            "when": {"type": "integer", "format": "int64", "nullable": True, **MS},
            "count": {"type": "integer"},
        },
        "required": ["at"],
    },
    "Child": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "properties": {"name": {}}}]},
}


def test_a_marked_property_is_marked_in_every_schema_that_takes_it_in_through_all_of() -> None:
    assert epoch_millisecond_properties(_document(SCHEMAS)) == {"Base": {"at", "when"}, "Child": {"at", "when"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["components"]["schemas"]["Base"]["properties"]["at"].update(type="string"), "needs `type: inte"),
        (lambda d: d["components"]["schemas"]["Base"]["properties"]["at"].update({"x-scp-date-time": "s"}), "unknown"),
        (lambda d: d["components"]["schemas"]["Base"]["properties"]["at"].update(default=0), "default"),
        (
            lambda d: d["paths"]["/things"]["get"].update(
                parameters=[{"name": "since", "in": "query", "schema": {"type": "integer", **MS}}]
            ),
            "at /paths/~1things/get/parameters/0/schema: only properties of component schemas",
        ),
    ],
)
def test_a_marker_that_cannot_be_honoured_fails_naming_where_it_is(change: Any, message: str) -> None:
    document = json.loads(json.dumps(_document(SCHEMAS)))
    change(document)
    with pytest.raises(ValueError, match="x-scp-date-time") as failure:
        epoch_millisecond_properties(document)
    assert message in str(failure.value)


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[str]:
    """A package generated from SCHEMAS, importable as `epoch_ms_pkg`."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_document(SCHEMAS)), encoding="utf-8")
    outcome = _generate_in_process("t", str(spec), str(tmp_path / "epoch_ms_pkg"))
    assert "fatal" not in outcome, outcome
    assert outcome["warnings"] == []
    sys.path.insert(0, str(tmp_path))
    try:
        yield "epoch_ms_pkg"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "epoch_ms_pkg" or n.startswith("epoch_ms_pkg.")]:
            del sys.modules[name]


def test_generated_models_type_marked_fields_as_datetimes_also_when_nullable_and_inherited(generated: str) -> None:
    child = importlib.import_module(f"{generated}.models.child").Child
    item = child.from_dict({"at": MILLISECONDS, "when": None, "count": 3})
    assert item.at == WHEN
    assert item.when is None
    assert item.count == 3  # an unmarked integer stays an int
    assert item.to_dict() == {"at": MILLISECONDS, "when": None, "count": 3}
    assert child.from_dict({"at": 0, "when": MILLISECONDS}).when == WHEN
    hints = importlib.import_module(f"{generated}.models.base").Base.__annotations__
    assert "datetime.datetime" in str(hints["at"])
    assert "datetime.datetime" in str(hints["when"])


def test_a_marked_property_no_model_has_fails_generation(tmp_path: Path) -> None:
    schemas = json.loads(json.dumps(SCHEMAS))
    schemas["Orphan"] = {"type": "integer", "properties": {"x": {"type": "integer", **MS}}}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_document(schemas)), encoding="utf-8")
    outcome = _generate_in_process("t", str(spec), str(tmp_path / "out"))
    assert "Orphan.x" in outcome.get("fatal", ""), outcome
