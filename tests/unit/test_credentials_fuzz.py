"""Whatever a loader is given, it returns a key or raises ServiceKeyError naming the source: never
UnicodeDecodeError, RecursionError, a bare ValueError or OSError, and never with a secret in the message."""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scp_async import ServiceKey, ServiceKeyError, load_service_key

from .helpers import CLIENT_SECRET, audit_key_dict, cis_key_dict, sm_key_dict

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
keys = st.sampled_from([cis_key_dict, audit_key_dict, sm_key_dict]).map(lambda make: make())


def _load(loader: Callable[[], ServiceKey], source: str | None = None) -> ServiceKey | ServiceKeyError:
    """Run a loader; anything but a key or a ServiceKeyError fails the test (pytest shows the raw one)."""
    try:
        return loader()
    except ServiceKeyError as raised:
        error = raised
    message = str(error)
    message.encode("utf-8")  # printable, whatever bytes came in
    assert CLIENT_SECRET not in message
    if source is not None:
        assert error.source.startswith(source), (error.source, source)
    return error


@st.composite
def mutated_keys(draw: st.DrawFn) -> dict[str, Any]:
    """A valid key with one value somewhere replaced by any JSON value, or removed."""
    key = draw(keys)
    target: Any = key
    while True:
        name = draw(st.sampled_from(sorted(target)))
        if isinstance(target[name], dict) and draw(st.booleans()):
            target = target[name]
            continue
        if draw(st.booleans()):
            del target[name]
        else:
            target[name] = draw(json_values)
        return key


@FUZZ
@given(mutated_keys())
def test_any_mutation_of_a_key_is_a_key_or_a_service_key_error(data: dict[str, Any]) -> None:
    _load(lambda: ServiceKey.from_dict(data, source="fuzz"), "fuzz")
    _load(lambda: ServiceKey.from_json(json.dumps(data), source="fuzz"), "fuzz")
    _load(lambda: ServiceKey.from_vcap_services(environ={"VCAP_SERVICES": json.dumps({"x": [{"credentials": data}]})}))


@FUZZ
@given(json_values)
def test_any_json_document(document: Any) -> None:
    text = json.dumps(document)
    _load(lambda: ServiceKey.from_json(text, source="doc"), "doc")
    _load(lambda: ServiceKey.from_vcap_services(environ={"VCAP_SERVICES": text}), "VCAP_SERVICES")
    _load(lambda: load_service_key(text))


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    _load(lambda: ServiceKey.from_json(data, source="bytes"), "bytes")


@FUZZ
@given(keys, st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-32"]))
def test_keys_in_other_encodings_name_the_file(key: dict[str, Any], encoding: str) -> None:
    key["vendor"] = "Société Générale"  # a character whose bytes differ outside UTF-8
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "key.json")
        path.write_bytes(json.dumps(key, ensure_ascii=False).encode(encoding))
        result = _load(lambda: ServiceKey.from_file(path), str(path))
        assert isinstance(result, ServiceKeyError)
        assert "not UTF-8" in result.problem


names = st.sampled_from(
    ["uaa", "endpoints", "url", "sm_url", "clientid", "clientsecret", "type", "tags", "label", "ca.p12", "creds"]
)
contents = st.one_of(
    st.binary(max_size=40),
    json_values.map(json.dumps).map(str.encode),
    st.text(max_size=20).map(str.encode),
    st.sampled_from([b"\xff\xfe\x00binary", "Soci\u00e9t\u00e9".encode("latin-1"), b"[" * 5000]),
)
metadata = st.one_of(
    st.none(),
    st.binary(max_size=20),
    st.builds(
        lambda props, container: json.dumps(
            {"credentialProperties": [{"name": n, "format": f, "container": container} for n, f in props]}
        ).encode(),
        st.lists(st.tuples(names, st.sampled_from(["text", "json", "other"])), max_size=4),
        st.booleans(),
    ),
)


@settings(FUZZ, max_examples=120)
@given(st.dictionaries(names, contents, max_size=6), metadata, keys)
def test_any_binding_directory(files: dict[str, bytes], meta: bytes | None, key: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as root:
        binding = Path(root, "binding")
        binding.mkdir()
        for name, value in key.items():  # a real key underneath, so some inputs load
            Path(binding, name).write_text(value if isinstance(value, str) else json.dumps(value))
        for name, data in files.items():
            Path(binding, name).write_bytes(data)
        if meta is not None:
            Path(binding, ".metadata").write_bytes(meta)
        _load(lambda: ServiceKey.from_binding_dir(binding), str(binding))
        _load(lambda: ServiceKey.from_file(binding), str(binding))
        _load(lambda: ServiceKey.from_binding_root(root), root)
        _load(lambda: ServiceKey.find(environ={"SERVICE_BINDING_ROOT": root}), root)


paths = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=string.printable, max_size=10).map(lambda t: f"dir\x00{t}"),
    st.sampled_from(["/dev/null", "/dev/zero", "/proc/self", "/etc", "\udcff.json", ".", "nope/../x.json"]),
)


@FUZZ
@given(paths)
def test_any_path(path: str) -> None:
    _load(lambda: ServiceKey.from_file(path))
    _load(lambda: ServiceKey.from_binding_dir(path))
    _load(lambda: ServiceKey.from_binding_root(path))
    _load(lambda: ServiceKey.from_default_env(path))
    _load(lambda: ServiceKey.from_vcap_services(path=path, environ={}))
    _load(lambda: ServiceKey.from_vcap_services(environ={"VCAP_SERVICES_FILE_PATH": path}))
    _load(lambda: load_service_key(path))


@FUZZ
@given(st.text(max_size=30), st.sampled_from(["\udcff", "\ud800", "\x00", "\u00e9", ""]))
def test_any_environment_value(text: str, odd: str) -> None:
    # os.environ hands undecodable bytes over as lone surrogates.
    value = json.dumps(audit_key_dict())[:-1] + f', "x": "{text}{odd}"}}'
    _load(lambda: ServiceKey.from_env("KEY", environ={"KEY": value}), "environment variable KEY")
    _load(lambda: ServiceKey.from_vcap_services(environ={"VCAP_SERVICES": value}), "VCAP_SERVICES")


DEEP = 100_000


@pytest.mark.parametrize(
    "document",
    ["[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP, '{"uaa": ' + "[" * DEEP + "]" * DEEP + "}"],
    ids=["array", "object", "inside-a-key"],
)
def test_deep_nesting_is_a_service_key_error(tmp_path: Path, document: str) -> None:
    with pytest.raises(ServiceKeyError, match="nested too deeply"):
        ServiceKey.from_json(document)
    with pytest.raises(ServiceKeyError, match="VCAP_SERVICES: not a service key"):
        ServiceKey.from_vcap_services(environ={"VCAP_SERVICES": document})
    (tmp_path / "uaa").write_text(document)  # in a binding directory: a value that stays text
    (tmp_path / "url").write_text("https://auditlog.example")
    with pytest.raises(ServiceKeyError, match=r"uaa: expected an object, got a string"):
        ServiceKey.from_binding_dir(tmp_path)
    (tmp_path / ".metadata").write_text(json.dumps({"credentialProperties": [{"name": "uaa", "format": "json"}]}))
    with pytest.raises(ServiceKeyError, match=r"uaa: declared as JSON in \.metadata but is not"):
        ServiceKey.from_binding_dir(tmp_path)


def test_nul_in_a_path_names_the_path() -> None:
    with pytest.raises(ServiceKeyError, match=r"key\\x00\.json: not a usable path"):
        ServiceKey.from_file("key\x00.json")
    with pytest.raises(ServiceKeyError, match=r"directory not found"):
        ServiceKey.from_binding_root("bindings\x00")


def test_special_files_are_refused_without_reading_them() -> None:
    with pytest.raises(ServiceKeyError, match=r"/dev/zero: not a regular file"):
        ServiceKey.from_file("/dev/zero")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_names_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(audit_key_dict()))
    path.chmod(0)
    with pytest.raises(ServiceKeyError, match=r"key\.json: cannot read file \(Permission denied\)"):
        ServiceKey.from_file(path)


def test_a_fifo_or_a_directory_where_a_file_belongs(tmp_path: Path) -> None:
    fifo = tmp_path / "key.json"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ServiceKeyError, match=r"key\.json: not a regular file"):
        ServiceKey.from_file(fifo)
    with pytest.raises(ServiceKeyError, match=r"is a directory, not a file"):
        ServiceKey.from_vcap_services(path=tmp_path, environ={})


def test_a_directory_of_many_files_is_no_binding(tmp_path: Path) -> None:
    for index in range(300):
        (tmp_path / f"f{index}").write_text("x")
    with pytest.raises(ServiceKeyError, match=r"more than 256 files, so not a binding"):
        ServiceKey.from_binding_dir(tmp_path)
