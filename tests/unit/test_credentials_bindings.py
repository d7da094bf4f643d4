"""Bindings read where and as @sap/xsenv reads them: VCAP_SERVICES (env, VCAP_SERVICES_FILE_PATH,
default-env.json), SERVICE_BINDING_ROOT in the SAP BTP service operator's three layouts and the older
<root>/<service>/<instance> one; binding facts kept apart from credentials; X.509 pairs checked at load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest

from scp_async import BindingInfo, ServiceKey, ServiceKeyError, ServiceKeyKind

from .helpers import CLIENT_SECRET, UAA_URL, audit_key_dict, cis_key_dict, sm_key_dict
from .test_credentials import pem_pair, x509_uaa

Layout = Literal["default", "secretKey", "secretRootKey", "both"]

INSTANCE = {
    "instance_name": "my-cis",
    "instance_external_name": "my-cis-external",
    "instance_guid": "0f9d6b2e-7c39-4f2b-9c55-2b1b1f3f3a11",
    "plan": "central",
    "label": "cis",
    "type": "cis",
    "tags": ["cis", "management"],
}
METADATA_FIELDS = {"instance_name", "instance_external_name", "instance_guid", "plan", "label", "type", "tags"}


def write_operator_binding(
    directory: Path, credentials: dict[str, Any], instance: dict[str, Any], layout: Layout = "default"
) -> Path:
    """A binding directory as the SAP BTP service operator's secret is mounted, per its documented
    formats: strings as text, other values as JSON; binding facts beside the credentials."""
    directory.mkdir(parents=True)
    secret: dict[str, str] = {}
    credential_props: list[dict[str, Any]] = []
    if layout in ("secretKey", "both"):
        secret["myCredentials"] = json.dumps(credentials)
        credential_props.append({"name": "myCredentials", "format": "json", "container": True})
    else:
        for name, value in credentials.items():
            text = isinstance(value, str)
            secret[name] = value if text else json.dumps(value)
            credential_props.append({"name": name, "format": "text" if text else "json"})
    meta_props = []
    for name, value in instance.items():
        secret[name] = value if isinstance(value, str) else json.dumps(value)
        if name != "instance_external_name":  # written but not declared, as the operator does
            meta_props.append({"name": name, "format": "text" if isinstance(value, str) else "json"})
    if layout in ("secretRootKey", "both"):
        secret = {"myRoot": json.dumps(secret)}
    else:
        secret[".metadata"] = json.dumps({"metaDataProperties": meta_props, "credentialProperties": credential_props})
    for name, content in secret.items():
        (directory / name).write_text(content, encoding="utf-8")
    return directory


def expected_info(name: str, instance: dict[str, Any] = INSTANCE) -> BindingInfo:
    return BindingInfo(
        name=name,
        label=instance["label"],
        plan=instance["plan"],
        type=instance["type"],
        instance_name=instance["instance_name"],
        instance_guid=instance["instance_guid"],
        tags=tuple(instance["tags"]),
    )


# -- the operator's layouts ------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["default", "secretKey", "secretRootKey", "both"])
def test_operator_layouts_give_the_credentials_and_the_binding_apart(tmp_path: Path, layout: Layout) -> None:
    credentials = cis_key_dict()
    directory = write_operator_binding(tmp_path / "cis-binding", credentials, INSTANCE, layout)
    key = ServiceKey.from_binding_dir(directory)
    assert key.kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert dict(key.raw) == credentials  # exactly the broker's credentials: nothing added, `uaa` an object
    assert not METADATA_FIELDS & key.raw.keys()
    assert key.binding == expected_info("cis-binding")
    assert key.binding is not None
    assert key.binding.extra == {"instance_external_name": "my-cis-external"}
    assert key.uaa.client_secret == CLIENT_SECRET
    assert key.source == str(directory)


def test_root_key_values_are_all_strings_and_endpoints_json_text(tmp_path: Path) -> None:
    directory = write_operator_binding(tmp_path / "b", cis_key_dict(), INSTANCE, "secretRootKey")
    document = json.loads((directory / "myRoot").read_text())
    assert all(isinstance(v, str) for v in document.values())  # the case the issue names
    key = ServiceKey.from_file(directory)
    assert key.endpoints == cis_key_dict()["endpoints"]
    assert key.binding is not None
    assert key.binding.tags == ("cis", "management")


def test_kubernetes_mount_links_are_followed_and_its_own_entries_skipped(tmp_path: Path) -> None:
    staged = write_operator_binding(tmp_path / "staged", audit_key_dict(), INSTANCE)
    mount = tmp_path / "mount"
    data = mount / "..2026_11_25_17_00_00.000000001"
    shutil.copytree(staged, data)
    (mount / "..data").symlink_to(data.name)
    for entry in staged.iterdir():
        (mount / entry.name).symlink_to(Path("..data") / entry.name)
    key = ServiceKey.from_binding_dir(mount)
    assert dict(key.raw) == audit_key_dict()
    assert key.binding == expected_info("mount")


def test_hand_written_directory_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "clientid").write_text("sb-sm!b1|service-manager!b2\n")  # `echo value > file`
    (tmp_path / "clientsecret").write_text(f"{CLIENT_SECRET}\n")
    (tmp_path / "sm_url").write_text("https://service-manager.cfapps.eu10.hana.ondemand.com")
    (tmp_path / "url").write_text(UAA_URL)
    (tmp_path / "type").write_text("service-manager")
    (tmp_path / "tags").write_text('["sm"]')
    (tmp_path / "settings").write_text('{"nested": true}')
    (tmp_path / "list").write_text("[1, 2]")
    key = ServiceKey.from_binding_dir(tmp_path)
    assert key.kind is ServiceKeyKind.SERVICE_MANAGER
    assert key.uaa.client_secret == CLIENT_SECRET
    assert key.raw["settings"] == {"nested": True}  # JSON objects decoded, arrays left as text (as xsenv)
    assert key.raw["list"] == "[1, 2]"
    assert "type" not in key.raw
    assert "tags" not in key.raw
    assert key.binding is not None
    assert (key.binding.type, key.binding.tags) == ("service-manager", ("sm",))


def test_binary_file_beside_a_key_is_kept_as_bytes(tmp_path: Path) -> None:
    for name, value in sm_key_dict().items():
        (tmp_path / name).write_text(value)
    (tmp_path / "ca.p12").write_bytes(b"\x30\x82\x0a\xff\xfe\x00binary")
    key = ServiceKey.from_binding_dir(tmp_path)
    assert key.raw["ca.p12"] == b"\x30\x82\x0a\xff\xfe\x00binary"


def test_binary_file_where_text_is_needed_names_the_file(tmp_path: Path) -> None:
    directory = write_operator_binding(tmp_path / "b", sm_key_dict(), INSTANCE)
    (directory / "clientsecret").write_bytes("s\u00e9cret".encode("latin-1"))
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_binding_dir(directory)
    assert info.value.source == str(directory / "clientsecret")
    assert "not UTF-8" in info.value.problem
    # Without .metadata the same bytes reach the field check, which names the field.
    (directory / ".metadata").unlink()
    with pytest.raises(ServiceKeyError, match=r"clientsecret: expected a string, got binary data"):
        ServiceKey.from_binding_dir(directory)


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object, got an array"),
        ('{"credentialProperties": {"name": "uaa"}}', "expected an array"),
        ('{"credentialProperties": [{"format": "json"}]}', "expected an object with a `name`"),
        ('{"credentialProperties": [{"name": "uaa", "format": "json", "container": true}]}', "a container"),
    ],
)
def test_broken_metadata_is_reported(tmp_path: Path, metadata: str, problem: str) -> None:
    (tmp_path / "uaa").write_text('"just a string"')
    (tmp_path / ".metadata").write_text(metadata)
    with pytest.raises(ServiceKeyError, match=problem):
        ServiceKey.from_binding_dir(tmp_path)


def test_binding_root_given_as_a_binding_says_what_to_call(tmp_path: Path) -> None:
    write_operator_binding(tmp_path / "cis", cis_key_dict(), INSTANCE)
    with pytest.raises(ServiceKeyError, match=r"from_binding_root"):
        ServiceKey.from_binding_dir(tmp_path)
    with pytest.raises(ServiceKeyError, match="directory not found"):
        ServiceKey.from_binding_dir(tmp_path / "missing")


# -- SERVICE_BINDING_ROOT ----------------------------------------------------------------------


def _binding_root(root: Path) -> Path:
    write_operator_binding(root / "cis-binding", cis_key_dict(), INSTANCE)
    audit = {**INSTANCE, "instance_name": "audit", "label": "auditlog-management", "type": "auditlog-management"}
    write_operator_binding(root / "audit-binding", audit_key_dict(), {**audit, "tags": ["audit"]}, "secretKey")
    sm = {**INSTANCE, "instance_name": "sm", "label": "service-manager", "type": "service-manager", "plan": "admin"}
    write_operator_binding(root / "sm-binding", sm_key_dict(), {**sm, "tags": ["sm", "management"]}, "secretRootKey")
    return root


@pytest.mark.parametrize(
    ("criteria", "kind"),
    [
        ({"type": "cis"}, ServiceKeyKind.CLOUD_MANAGEMENT),
        ({"label": "auditlog-management"}, ServiceKeyKind.AUDIT_LOG),
        ({"name": "sm-binding"}, ServiceKeyKind.SERVICE_MANAGER),
        ({"tag": "audit"}, ServiceKeyKind.AUDIT_LOG),
        ({"tag": "management", "plan": "admin"}, ServiceKeyKind.SERVICE_MANAGER),
        ({"instance_name": "my-cis"}, ServiceKeyKind.CLOUD_MANAGEMENT),
    ],
)
def test_lookup_under_service_binding_root(tmp_path: Path, criteria: dict[str, Any], kind: ServiceKeyKind) -> None:
    root = _binding_root(tmp_path / "bindings")
    assert ServiceKey.from_binding_root(root, **criteria).kind is kind
    from_env = ServiceKey.from_binding_root(environ={"SERVICE_BINDING_ROOT": str(root)}, **criteria)
    assert from_env.kind is kind
    assert from_env.binding is not None
    assert from_env.source == str(root / str(from_env.binding.name))


def test_lookup_under_root_ambiguous_or_missing(tmp_path: Path) -> None:
    root = _binding_root(tmp_path / "bindings")
    with pytest.raises(ServiceKeyError, match=r"2 bindings match tag='management': cis-binding \(cis\), sm-binding"):
        ServiceKey.from_binding_root(root, tag="management")
    with pytest.raises(ServiceKeyError, match=r"no binding matches label='xsuaa'.*Bindings: audit-binding"):
        ServiceKey.from_binding_root(root, label="xsuaa")
    with pytest.raises(ServiceKeyError, match="SERVICE_BINDING_ROOT: not set"):
        ServiceKey.from_binding_root(environ={}, label="cis")


def test_an_unreadable_binding_does_not_hide_the_others(tmp_path: Path) -> None:
    root = _binding_root(tmp_path / "bindings")
    broken = root / "broken"
    broken.mkdir()
    (broken / ".metadata").write_text("{")
    assert ServiceKey.from_binding_root(root, label="cis").kind is ServiceKeyKind.CLOUD_MANAGEMENT
    with pytest.raises(ServiceKeyError, match=r"broken/\.metadata: not valid JSON"):
        ServiceKey.from_binding_root(root, label="xsuaa")  # nothing else matches: the broken one may be it


def test_older_service_instance_layout(tmp_path: Path) -> None:
    instance = tmp_path / "sapcp" / "xsuaa" / "my-xsuaa"
    instance.mkdir(parents=True)
    (instance / "clientid").write_text("sb-app!t1")
    (instance / "clientsecret").write_text(CLIENT_SECRET)
    (instance / "url").write_text(UAA_URL)
    (instance / "plan").write_text("application")
    key = ServiceKey.from_binding_root(tmp_path / "sapcp", label="xsuaa", tag="xsuaa")
    assert key.kind is ServiceKeyKind.UAA
    assert key.binding == BindingInfo(name="my-xsuaa", label="xsuaa", plan="application", tags=("xsuaa",))
    assert set(key.raw) == {"clientid", "clientsecret", "url"}


# -- VCAP_SERVICES -----------------------------------------------------------------------------


def _vcap_services() -> dict[str, list[dict[str, Any]]]:
    def entry(label: str, name: str, plan: str, tags: list[str], credentials: dict[str, Any]) -> dict[str, Any]:
        return {
            "label": label,
            "provider": None,
            "plan": plan,
            "name": name,
            "tags": tags,
            "instance_guid": f"guid-{name}",
            "instance_name": name,
            "binding_guid": f"binding-{name}",
            "binding_name": None,
            "credentials": credentials,
            "syslog_drain_url": None,
            "volume_mounts": [],
        }

    return {
        "cis": [entry("cis", "my-cis", "central", ["cis"], cis_key_dict())],
        "auditlog-management": [entry("auditlog-management", "my-audit", "default", ["audit"], audit_key_dict())],
        "service-manager": [
            entry("service-manager", "sm-admin", "subaccount-admin", ["sm"], sm_key_dict()),
            entry("service-manager", "sm-audit", "subaccount-audit", ["sm"], sm_key_dict()),
        ],
    }


def test_vcap_services_by_tag_and_plan_with_binding_facts_apart() -> None:
    env = {"VCAP_SERVICES": json.dumps(_vcap_services())}
    audit = ServiceKey.from_vcap_services(tag="audit", environ=env)
    assert audit.kind is ServiceKeyKind.AUDIT_LOG
    assert dict(audit.raw) == audit_key_dict()
    assert audit.binding == BindingInfo(
        name="my-audit",
        label="auditlog-management",
        plan="default",
        instance_name="my-audit",
        instance_guid="guid-my-audit",
        tags=("audit",),
    )
    assert audit.binding.extra["binding_guid"] == "binding-my-audit"
    sm = ServiceKey.from_vcap_services(label="service-manager", plan="subaccount-audit", environ=env)
    assert sm.source == "VCAP_SERVICES[service-manager][sm-audit]"
    with pytest.raises(ServiceKeyError, match=r"2 bindings match tag='sm': sm-admin .*, sm-audit"):
        ServiceKey.from_vcap_services(tag="sm", environ=env)


def test_vcap_services_file_path_wins_over_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "vcap.json"
    path.write_text(json.dumps(_vcap_services()))
    env = {"VCAP_SERVICES_FILE_PATH": str(path), "VCAP_SERVICES": json.dumps({"cis": []})}
    key = ServiceKey.from_vcap_services(name="my-cis", environ=env)
    assert key.source == f"{path}[cis][my-cis]"
    assert ServiceKey.from_vcap_services(path=path, name="my-cis", environ={}).kind is ServiceKeyKind.CLOUD_MANAGEMENT
    with pytest.raises(ServiceKeyError, match=r"nope\.json: file not found"):
        ServiceKey.from_vcap_services(environ={"VCAP_SERVICES_FILE_PATH": str(tmp_path / "nope.json")})


@pytest.mark.parametrize("as_text", [False, True])
def test_default_env_json(tmp_path: Path, as_text: bool) -> None:
    services: Any = _vcap_services()
    path = tmp_path / "default-env.json"
    path.write_text(json.dumps({"PORT": 3000, "VCAP_SERVICES": json.dumps(services) if as_text else services}))
    key = ServiceKey.from_default_env(path, label="cis")
    assert key.kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert key.source == f"{path}: VCAP_SERVICES[cis][my-cis]"


@pytest.mark.parametrize(
    ("services", "problem"),
    [
        ({"cis": {"name": "x"}}, r"VCAP_SERVICES: cis: expected an array of bindings, got an object"),
        ({"cis": ["x"]}, r"VCAP_SERVICES: cis\[0\]: expected an object, got a string"),
        ({"cis": [{"name": "x", "label": "cis"}]}, r"VCAP_SERVICES\[cis\]\[x\]: credentials: missing"),
        ({"cis": [{"name": "x", "credentials": "s"}]}, r"credentials: expected an object, got a string"),
        ([], r"VCAP_SERVICES: expected a JSON object, got an array"),
    ],
)
def test_malformed_vcap_services(services: object, problem: str) -> None:
    with pytest.raises(ServiceKeyError, match=problem):
        ServiceKey.from_vcap_services(environ={"VCAP_SERVICES": json.dumps(services)})


def test_find_looks_where_xsenv_looks(tmp_path: Path) -> None:
    root = _binding_root(tmp_path / "bindings")
    env = {"VCAP_SERVICES": json.dumps(_vcap_services()), "SERVICE_BINDING_ROOT": str(root)}
    assert ServiceKey.find(label="cis", environ=env).source == "VCAP_SERVICES[cis][my-cis]"  # VCAP first
    assert ServiceKey.find(type="cis", environ=env).source == str(root / "cis-binding")  # then the root
    with pytest.raises(ServiceKeyError, match=r"VCAP_SERVICES and .*bindings: no binding matches label='x'"):
        ServiceKey.find(label="x", environ=env)
    with pytest.raises(ServiceKeyError, match=r"no bindings"):
        ServiceKey.find(label="x", environ={})


def test_documents_that_are_not_keys_say_which_loader_reads_them(tmp_path: Path) -> None:
    vcap = tmp_path / "VCAP_SERVICES.json"
    vcap.write_text(json.dumps(_vcap_services()))
    with pytest.raises(ServiceKeyError, match=r"from_vcap_services\(path="):
        ServiceKey.from_file(vcap)
    default_env = tmp_path / "default-env.json"
    default_env.write_text(json.dumps({"VCAP_SERVICES": _vcap_services()}))
    with pytest.raises(ServiceKeyError, match=r"from_default_env"):
        ServiceKey.from_file(default_env)


# -- checks at load ----------------------------------------------------------------------------


def test_broken_pem_and_mismatched_pairs_are_rejected_at_load() -> None:
    certificate, key = pem_pair()
    other_certificate, other_key = pem_pair()
    cases = [
        (x509_uaa("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", key), "certificate", "not a PEM"),
        (x509_uaa(certificate, key.replace("A", "B", 3)[:200]), "key", "not a PEM private key"),
        (x509_uaa(certificate, other_key), "key", "does not belong to the certificate"),
        (x509_uaa(other_certificate + certificate, key), "key", "does not belong"),  # TLS presents the first
    ]
    for uaa, field, problem in cases:
        with pytest.raises(ServiceKeyError) as info:
            ServiceKey.from_dict({**audit_key_dict(), "uaa": uaa}, source="k.json")
        error = info.value
        assert (error.field, error.source) == (f"uaa.{field}", "k.json")
        assert problem in error.problem
        assert "sb-x509" in error.problem
        assert key.splitlines()[1] not in str(error)
        assert other_key.splitlines()[1] not in str(error)
    chain = ServiceKey.from_dict({**audit_key_dict(), "uaa": x509_uaa(certificate + other_certificate, key)})
    assert chain.uaa.certificate == certificate + other_certificate


def test_encrypted_private_key_is_rejected() -> None:
    from cryptography.hazmat.primitives import serialization

    certificate, key = pem_pair()
    loaded = serialization.load_pem_private_key(key.encode(), password=None)
    encrypted = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(ServiceKeyError, match="encrypted"):
        ServiceKey.from_dict({**audit_key_dict(), "uaa": x509_uaa(certificate, encrypted)})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://auditlog.example"}, "url"),
        ({"url": "auditlog.example"}, "url"),
        ({"url": "https://audit log.example"}, "url"),
        ({"url": "https://[::1"}, "url"),
        ({"uaa": {**audit_key_dict()["uaa"], "url": "https://"}}, "uaa.url"),
        ({"uaa": {**audit_key_dict()["uaa"], "clientid": "sb-x\r\nInjected: 1"}}, "uaa.clientid"),
        ({"uaa": {**audit_key_dict()["uaa"], "clientsecret": "s\ud800"}}, "uaa.clientsecret"),
    ],
)
def test_unusable_values_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_dict({**audit_key_dict(), **change})
    assert info.value.field == field


def test_endpoint_urls_are_checked() -> None:
    data = cis_key_dict()
    data["endpoints"]["accounts_service_url"] = "javascript:alert(1)"
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_dict(data)
    assert info.value.field == "endpoints.accounts_service_url"


# -- the same credentials as @sap/xsenv ----------------------------------------------------------

XSENV = Path(__file__).resolve().parents[2] / "scripts" / "node_modules" / "@sap" / "xsenv"
READ_WITH_XSENV = """
const xsenv = require(process.argv[1]);
const queries = JSON.parse(process.argv[2]);
const out = {};
for (const [id, q] of Object.entries(queries)) {
  out[id] = q.root ? xsenv.serviceCredentials(q.root, q.filter) : xsenv.serviceCredentials(q.filter);
}
process.stdout.write(JSON.stringify(out));
"""


def test_xsenv_reads_the_same_credentials(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not XSENV.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node and scripts/node_modules/@sap/xsenv are needed (npm ci in scripts/)")
        pytest.skip("node or @sap/xsenv not installed (npm ci in scripts/)")
    root = _binding_root(tmp_path / "bindings")  # default and secretKey layouts (xsenv needs a `type` file)
    legacy = tmp_path / "sapcp" / "xsuaa" / "my-xsuaa"
    legacy.mkdir(parents=True)
    for name, value in {"clientid": "sb-app!t1", "clientsecret": CLIENT_SECRET, "url": UAA_URL}.items():
        (legacy / name).write_text(value)
    (legacy / "uaa").write_text(json.dumps(audit_key_dict()["uaa"]))
    vcap = tmp_path / "vcap.json"
    vcap.write_text(json.dumps(_vcap_services()))
    queries = {
        "cis": {"root": str(root), "filter": {"label": "cis"}},
        "audit": {"root": str(root), "filter": {"name": "audit-binding"}},
        "legacy": {"root": str(tmp_path / "sapcp"), "filter": {"label": "xsuaa"}},
        "vcap": {"filter": {"tag": "audit"}},
        "plan": {"filter": {"label": "service-manager", "plan": "subaccount-admin"}},
    }
    env = {"PATH": os.environ.get("PATH", ""), "VCAP_SERVICES_FILE_PATH": str(vcap)}
    result = subprocess.run(
        [node, "-e", READ_WITH_XSENV, str(XSENV), json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    theirs = json.loads(result.stdout)
    ours = {
        "cis": ServiceKey.from_binding_root(root, label="cis"),
        "audit": ServiceKey.from_binding_root(root, name="audit-binding"),
        "legacy": ServiceKey.from_binding_root(tmp_path / "sapcp", label="xsuaa"),
        "vcap": ServiceKey.find(tag="audit", environ=env),
        "plan": ServiceKey.find(label="service-manager", plan="subaccount-admin", environ=env),
    }
    for name, key in ours.items():
        assert dict(key.raw) == theirs[name], name


# -- what the emulator writes (--write-keys DIR) reads in one call ---------------------------------


def test_emulator_key_directory_reads_in_one_call_per_source(tmp_path: Path) -> None:
    from scp_async.emulator._keys import BINDINGS, write_service_keys

    write_service_keys(tmp_path, "http://127.0.0.1:4004")
    for name, (label, plan, tags) in BINDINGS.items():
        from_file = ServiceKey.from_file(tmp_path / f"{name}.json")
        loaded = [
            ServiceKey.from_vcap_services(path=tmp_path / "VCAP_SERVICES.json", label=label, environ={}),
            ServiceKey.from_default_env(tmp_path / "default-env.json", label=label),
            ServiceKey.from_binding_root(tmp_path / "bindings", label=label),
            ServiceKey.find(tag=tags[0], environ={"SERVICE_BINDING_ROOT": str(tmp_path / "bindings")}),
        ]
        for key in loaded:
            assert dict(key.raw) == dict(from_file.raw), (name, key.source)
            assert key.binding is not None
            assert (key.binding.label, key.binding.plan, key.binding.tags) == (label, plan, tags)
