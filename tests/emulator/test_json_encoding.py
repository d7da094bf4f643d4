"""The emulator's JSON encoder (orjson, with the standard library for what orjson would write differently)."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any

import pytest

from scp_async.emulator._http import dumps


class _State(enum.StrEnum):
    STARTED = "STARTED"


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"guid": "1b3dbd5c", "name": "grüße ✓ \u2028", "n": [1, -2, 0, 2**63 - 1, 2**64 - 1], "ok": True, "no": None},
        {"nested": {"a": [{"b": [[], {}]}]}, "tuple": (1, "x"), "float": 2.5, "small": 0.1},
        {"big": 2**70, "negative": -(2**65)},  # past 64 bits: the standard library writes them
        {1: "int key", "s": "x"},  # a non-string key: the standard library's spelling ("1")
        {"state": _State.STARTED},  # a str subclass: written as its value
        ["\x00\x1f control", 'quote " and \\ backslash', "emoji 🧪"],
    ],
)
def test_bodies_are_the_standard_librarys_bytes(value: Any) -> None:
    assert dumps(value) == _stdlib(value)


def test_floats_read_back_the_same_whatever_their_spelling() -> None:
    values = [1e16, 1e-7, 123456.789, 5e-324, 1.7976931348623157e308, -0.0]
    assert json.loads(dumps(values)) == json.loads(_stdlib(values)) == values


def test_what_neither_encoder_takes_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        dumps({"when": datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)})
