from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from scp_async import (
    CfCliConfig,
    CredentialType,
    ServiceKey,
    ServiceKeyError,
    ServiceKeyKind,
    load_service_key,
)

from .helpers import (
    ACCOUNTS_URL,
    AUDIT_URL,
    CLIENT_SECRET,
    SM_URL,
    TOKEN_URL,
    UAA_URL,
    audit_key_dict,
    cis_key_dict,
    sm_key_dict,
)


def test_cis_key_from_dict() -> None:
    key = ServiceKey.from_dict(cis_key_dict())
    assert key.kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert key.endpoints["accounts_service_url"] == ACCOUNTS_URL
    assert key.uaa.client_secret == CLIENT_SECRET
    assert key.uaa.token_url == TOKEN_URL
    assert key.uaa.credential_type is CredentialType.SECRET
    assert key.uaa.identity_zone == "sub"


def test_audit_log_and_service_manager_keys() -> None:
    audit = ServiceKey.from_dict(audit_key_dict())
    assert (audit.kind, audit.url) == (ServiceKeyKind.AUDIT_LOG, AUDIT_URL)
    sm = ServiceKey.from_dict(sm_key_dict())
    assert (sm.kind, sm.url) == (ServiceKeyKind.SERVICE_MANAGER, SM_URL)
    assert sm.uaa.token_url == TOKEN_URL
    assert sm.uaa.xsappname == "sm!b1|service-manager!b2"


def pem_pair() -> tuple[str, str]:
    """A self-signed certificate (PEM) and its private key (PKCS#8 PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scp-async-credentials-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def x509_uaa(certificate: str, key: str) -> dict[str, Any]:
    return {
        "clientid": "sb-x509",
        "credential-type": "x509",
        "certificate": certificate,
        "key": key,
        "certurl": "https://sub.authentication.cert.eu10.hana.ondemand.com",
        "url": UAA_URL,
    }


def test_x509_uaa_block_uses_certurl() -> None:
    data = cis_key_dict()
    data["uaa"] = x509_uaa(*pem_pair())
    uaa = ServiceKey.from_dict(data).uaa
    assert uaa.credential_type is CredentialType.X509
    assert uaa.token_url == "https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token"
    assert uaa.client_secret is None
    assert uaa.key == data["uaa"]["key"]


def test_cf_service_key_output_with_header_and_credentials_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    body = json.dumps({"credentials": cis_key_dict()}, indent=2)
    path.write_text(f"Getting key k for service instance cis as me@example.com...\n\n{body}\n")
    key = ServiceKey.from_file(path)
    assert key.kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert key.source == str(path)


def test_cf_v6_output_without_wrapper() -> None:
    text = "Getting key k for service instance a as me...\n\n" + json.dumps(audit_key_dict())
    assert ServiceKey.from_json(text).kind is ServiceKeyKind.AUDIT_LOG


def test_btp_cli_binding_output() -> None:
    data = {"id": "b-1", "name": "binding", "credentials": sm_key_dict(), "ready": True}
    assert ServiceKey.from_dict(data).kind is ServiceKeyKind.SERVICE_MANAGER


def test_from_env() -> None:
    key = ServiceKey.from_env("MY_KEY", environ={"MY_KEY": json.dumps(cis_key_dict())})
    assert key.source == "environment variable MY_KEY"
    with pytest.raises(ServiceKeyError, match="environment variable OTHER: not set"):
        ServiceKey.from_env("OTHER", environ={})


def _vcap(*bindings: tuple[str, str, str, dict[str, Any]]) -> dict[str, str]:
    services: dict[str, list[dict[str, Any]]] = {}
    for label, name, instance, credentials in bindings:
        services.setdefault(label, []).append(
            {"label": label, "name": name, "instance_name": instance, "credentials": credentials}
        )
    return {"VCAP_SERVICES": json.dumps(services)}


def test_vcap_services_selection() -> None:
    env = _vcap(
        ("cis", "my-cis", "cis-inst", cis_key_dict()),
        ("auditlog-management", "my-audit", "audit-inst", audit_key_dict()),
    )
    assert ServiceKey.from_vcap_services(label="cis", environ=env).kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert ServiceKey.from_vcap_services(name="my-audit", environ=env).kind is ServiceKeyKind.AUDIT_LOG
    by_instance = ServiceKey.from_vcap_services(instance_name="audit-inst", environ=env)
    assert by_instance.source == "VCAP_SERVICES[auditlog-management][my-audit]"
    with pytest.raises(ServiceKeyError, match="2 bindings match"):
        ServiceKey.from_vcap_services(environ=env)
    with pytest.raises(ServiceKeyError, match=r"no binding matches name='nope'.*my-cis \(cis\)"):
        ServiceKey.from_vcap_services(name="nope", environ=env)


def test_kubernetes_binding_directory_with_metadata(tmp_path: Path) -> None:
    key = cis_key_dict()
    (tmp_path / "endpoints").write_text(json.dumps(key["endpoints"]))
    (tmp_path / "uaa").write_text(json.dumps(key["uaa"]))
    (tmp_path / "grant_type").write_text("client_credentials")
    (tmp_path / "instance_name").write_text("cis")
    (tmp_path / ".metadata").write_text(
        json.dumps(
            {
                "metaDataProperties": [{"name": "instance_name", "format": "text"}],
                "credentialProperties": [
                    {"name": "endpoints", "format": "json"},
                    {"name": "uaa", "format": "json"},
                    {"name": "grant_type", "format": "text"},
                ],
            }
        )
    )
    loaded = ServiceKey.from_file(tmp_path)  # a directory path goes to from_binding_dir
    assert loaded.kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert loaded.uaa.client_secret == CLIENT_SECRET
    assert loaded.raw["grant_type"] == "client_credentials"


def test_kubernetes_binding_directory_flat_and_container(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for name, value in sm_key_dict().items():
        (flat / name).write_text(value)
    assert ServiceKey.from_binding_dir(flat).kind is ServiceKeyKind.SERVICE_MANAGER

    container = tmp_path / "container"
    container.mkdir()
    (container / "creds").write_text(json.dumps(audit_key_dict()))
    (container / ".metadata").write_text(
        json.dumps({"credentialProperties": [{"name": "creds", "format": "json", "container": True}]})
    )
    assert ServiceKey.from_binding_dir(container).kind is ServiceKeyKind.AUDIT_LOG


def test_load_service_key_accepts_every_form(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(cis_key_dict()))
    key = ServiceKey.from_dict(cis_key_dict())
    assert load_service_key(key) is key
    assert load_service_key(cis_key_dict()).kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert load_service_key(json.dumps(cis_key_dict())).kind is ServiceKeyKind.CLOUD_MANAGEMENT
    assert load_service_key(path).source == str(path)
    assert load_service_key(str(path)).source == str(path)


# -- broken keys ---------------------------------------------------------------------------


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    target = data
    for name in path[:-1]:
        target = target[name]
    del target[path[-1]]
    return data


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (_without(cis_key_dict(), "uaa"), "uaa", "missing"),
        (_without(cis_key_dict(), "uaa", "clientsecret"), "uaa.clientsecret", "missing"),
        (_without(cis_key_dict(), "uaa", "clientid"), "uaa.clientid", "missing"),
        (_without(audit_key_dict(), "uaa", "url"), "uaa.url", "missing"),
        ({**cis_key_dict(), "uaa": None}, "uaa", "expected an object, got null"),
        ({**cis_key_dict(), "uaa": ["x"]}, "uaa", "expected an object, got an array"),
        ({**cis_key_dict(), "endpoints": "https://x"}, "endpoints", "expected an object, got a string"),
        ({**sm_key_dict(), "clientsecret": 42}, "clientsecret", "expected a string, got int"),
        ({**sm_key_dict(), "clientsecret": ""}, "clientsecret", "empty"),
        ({"credentials": _without(cis_key_dict(), "uaa", "clientsecret")}, "credentials.uaa.clientsecret", ""),
    ],
)
def test_incomplete_keys_name_source_and_field(data: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_dict(data, source="/keys/cis.json")
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.source, error.field) == ("/keys/cis.json", field)
    assert problem in error.problem
    assert str(error).startswith(f"/keys/cis.json: {field}: ")
    assert error.hint  # says what to do
    assert CLIENT_SECRET not in str(error)


def test_not_json_names_file_and_position_only(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"uaa": {"clientsecret": "' + CLIENT_SECRET + '", ')
    with pytest.raises(ServiceKeyError, match=r"key\.json: not valid JSON \(.* at line 1 column") as info:
        ServiceKey.from_file(path)
    assert CLIENT_SECRET not in str(info.value)


@pytest.mark.parametrize("document", ["[1, 2]", '"text"', "null", "42"])
def test_wrong_top_level_type(document: str) -> None:
    with pytest.raises(ServiceKeyError, match="<json>: expected a JSON object"):
        ServiceKey.from_json(document)


def test_unrecognised_key_lists_the_known_kinds() -> None:
    with pytest.raises(ServiceKeyError, match=r"not a recognised service key.*Cloud Management"):
        ServiceKey.from_dict({"foo": "bar"})


def test_missing_file() -> None:
    with pytest.raises(ServiceKeyError, match=r"nope.json: file not found"):
        ServiceKey.from_file("/nonexistent/nope.json")


def test_require_reports_kind_mismatch() -> None:
    key = ServiceKey.from_dict(cis_key_dict(), source="cis.json")
    assert key.require(ServiceKeyKind.CLOUD_MANAGEMENT) is key
    with pytest.raises(ServiceKeyError, match=r"cis.json: expected an Audit Log key .* Cloud Management"):
        key.require(ServiceKeyKind.AUDIT_LOG)


def test_x509_without_certificate_names_the_field() -> None:
    data = audit_key_dict()
    data["uaa"] = {"clientid": "x", "credential-type": "x509", "key": "k", "certurl": "https://c"}
    with pytest.raises(ServiceKeyError) as info:
        ServiceKey.from_dict(data)
    assert info.value.field == "uaa.certificate"


def test_binding_dir_metadata_json_mismatch(tmp_path: Path) -> None:
    (tmp_path / "uaa").write_text("not json")
    (tmp_path / ".metadata").write_text(json.dumps({"credentialProperties": [{"name": "uaa", "format": "json"}]}))
    with pytest.raises(ServiceKeyError, match="declared as JSON"):
        ServiceKey.from_binding_dir(tmp_path)


def test_cf_cli_config(tmp_path: Path) -> None:
    cf_dir = tmp_path / ".cf"
    cf_dir.mkdir()
    (cf_dir / "config.json").write_text(
        json.dumps(
            {
                "AccessToken": "bearer abc.def.ghi",
                "RefreshToken": "refresh-1",
                "UaaEndpoint": "https://uaa.cf.example",
                "AuthorizationEndpoint": "https://login.cf.example",
                "Target": "https://api.cf.example",
                "UAAOAuthClient": "cf",
                "UAAOAuthClientSecret": "",
            }
        )
    )
    config = CfCliConfig.load(environ={"CF_HOME": str(tmp_path)})
    assert config.access_token == "abc.def.ghi"
    assert config.refresh_token == "refresh-1"
    assert config.target == "https://api.cf.example"
    assert "abc.def" not in repr(config)
    assert "refresh-1" not in repr(config)
    with pytest.raises(ServiceKeyError, match=r"cf CLI config not found.*cf login"):
        CfCliConfig.load(environ={"CF_HOME": str(tmp_path / "missing")})
