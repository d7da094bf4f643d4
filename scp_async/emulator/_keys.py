"""Service keys and bindings in SAP's own formats, pointing at a running emulator.

Besides one ``<name>.json`` per key, :func:`write_service_keys` writes the key set the three ways SAP delivers
bindings to applications:

- ``VCAP_SERVICES.json``: Cloud Foundry's ``VCAP_SERVICES`` (by label: ``name``, ``label``, ``plan``, ``tags``,
  ``instance_guid``, ``credentials``...), for ``VCAP_SERVICES_FILE_PATH`` or ``VCAP_SERVICES="$(cat ...)"``;
- ``default-env.json``: ``{"VCAP_SERVICES": ...}`` as ``@sap/xsenv``'s ``loadEnv()`` and local CAP/approuter
  runs read it;
- ``bindings/<name>/``: a servicebinding.io tree as the SAP BTP service operator mounts a binding secret in
  Kubernetes: one file per credential field (strings as text, everything else as JSON), ``instance_name``,
  ``instance_guid``, ``plan``, ``label``, ``type``, ``tags`` and a ``.metadata`` file saying which is which.
  Point ``SERVICE_BINDING_ROOT`` at ``bindings/``.

The UAA ``url`` in every key is the bare origin of the client's identity zone, so ``new URL('/oauth/token',
url)`` (SAP Cloud SDK, ``@sap/xssec``) and ``url + '/oauth/token'`` both reach the token endpoint; ``uaadomain``
is that origin's host (``@sap/xssec`` fetches ``https://<uaadomain>/token_keys``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ._config import API_PREFIXES, UAA_HOST_LABEL, UAA_PREFIX, Credentials, EmulatorConfig, zone_id

#: How each key appears as a binding: service offering (label), plan, tags. The labels and plans are SAP's
#: offering and plan names; the tags are the emulator's (what ``VCAP_SERVICES`` lookups by tag can use).
BINDINGS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cis": ("cis", "central", ("cis",)),
    "audit_log": ("auditlog-management", "default", ("auditlog-management",)),
    "service_manager": ("service-manager", "subaccount-admin", ("service-manager",)),
    "resource_consumption": ("uas", "reporting-ga-admin", ("uas",)),
    "xsuaa": ("xsuaa", "apiaccess", ("xsuaa",)),
}


def uaa_origin(root_url: str, zone: str, origins: dict[str, str] | None = None) -> str:
    """The UAA origin of identity ``zone``: from ``origins`` (a served emulator's own UAA sockets), else the
    host ``<zone>.authentication.<host of root_url>`` that the emulator routes to its UAA."""
    if origins and zone in origins:
        return origins[zone].rstrip("/")
    root = root_url.rstrip("/")
    scheme, _, rest = root.partition("://")
    host = rest.split("/", 1)[0]
    if _is_address(host):  # no subdomains on an IP address: the UAA path of the API origin serves every zone
        return root + UAA_PREFIX
    return f"{scheme}://{zone}{UAA_HOST_LABEL}{host}"


def _is_address(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _uaa_block(root: str, creds: Credentials, seed: int, origins: dict[str, str] | None) -> dict[str, Any]:
    uaa = uaa_origin(root, creds.identityzone, origins)
    host = uaa.partition("://")[2]
    # XSUAA's uaadomain is the part after the subdomain; a zone with its own port has no subdomain to strip
    uaadomain = host.partition(".")[2] if host.startswith(creds.identityzone + UAA_HOST_LABEL) else host
    zid = zone_id(seed, creds.identityzone)
    return {
        "apiurl": root + API_PREFIXES["xsuaa"],
        "clientid": creds.client_id,
        "clientsecret": creds.client_secret,
        "credential-type": "binding-secret",
        "identityzone": creds.identityzone,
        "identityzoneid": zid,
        "sburl": uaa,
        "subaccountid": zid,
        "tenantid": zid,
        "tenantmode": "dedicated",
        "uaadomain": uaadomain,
        "url": uaa,
        "xsappname": creds.xsappname,
        "zoneid": zid,
    }


def service_keys(
    root_url: str, config: EmulatorConfig | None = None, uaa_origins: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every key the emulator hands out, by file stem: cis, audit_log, service_manager,
    resource_consumption, xsuaa, cf (CF API URL + user credentials) and emulator (an index).

    ``uaa_origins`` maps identity zones to their UAA origins (a served emulator passes its UAA sockets);
    without it each zone's UAA is ``<zone>.authentication.<host>`` (in-process routing).
    """
    cfg = config or EmulatorConfig()
    root = root_url.rstrip("/")
    base = {api: root + prefix for api, prefix in API_PREFIXES.items()}
    clients = cfg.clients
    seed = cfg.seed
    user, password = next(iter(cfg.users.items()))
    sm = clients["service_manager"]
    sm_uaa = _uaa_block(root, sm, seed, uaa_origins)
    keys: dict[str, dict[str, Any]] = {
        "cis": {
            "endpoints": {
                "accounts_service_url": base["accounts"],
                "cloud_automation_url": root + "/cloud_automation",
                "entitlements_service_url": base["entitlements"],
                "events_service_url": base["events"],
                "external_provider_registry_url": root + "/external_provider_registry",
                "metadata_service_url": root + "/metadata",
                "order_processing_url": root + "/order_processing",
                "provisioning_service_url": base["provisioning"],
                "saas_registry_service_url": base["saas_provisioning"],
            },
            "grant_type": "client_credentials",
            "sap.cloud.service": "com.sap.core.commercial.service.central",
            "uaa": _uaa_block(root, clients["cis"], seed, uaa_origins),
        },
        "audit_log": {
            "url": base["audit_log"],
            "vendor": "SAP",
            "uaa": _uaa_block(root, clients["audit_log"], seed, uaa_origins),
        },
        "service_manager": {
            "clientid": sm.client_id,
            "clientsecret": sm.client_secret,
            "sm_url": base["service_manager"],
            "url": sm_uaa["url"],
            "uaadomain": sm_uaa["uaadomain"],
            "xsappname": sm.xsappname,
        },
        "resource_consumption": {
            "target_url": base["resource_consumption"],
            "url": base["resource_consumption"],
            "uaa": _uaa_block(root, clients["resource_consumption"], seed, uaa_origins),
        },
        "xsuaa": _uaa_block(root, clients["xsuaa"], seed, uaa_origins),
    }
    cf_zone = clients["cf"].identityzone if "cf" in clients else "emulator"
    cf_uaa = uaa_origin(root, cf_zone, uaa_origins)
    keys["cf"] = {
        "api": base["cf_v3"],
        "api_url": base["cf_v3"],
        "uaa_url": cf_uaa,
        "deploy_service_url": base["multiapps"],
        "username": user,
        "password": password,
        "client_id": "cf",
        "client_secret": "",
    }
    keys["emulator"] = {"root": root, "uaa": cf_uaa, "apis": base}
    return keys


def _guid(seed: int, *parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "scp-async-emulator/" + "/".join([str(seed), *parts])))


def vcap_services(keys: dict[str, dict[str, Any]], seed: int = 42) -> dict[str, list[dict[str, Any]]]:
    """``VCAP_SERVICES`` for the keys that are service bindings (all but ``cf`` and ``emulator``)."""
    services: dict[str, list[dict[str, Any]]] = {}
    for name, (label, plan, tags) in BINDINGS.items():
        if name not in keys:
            continue
        instance = f"{label}-{plan}"
        services.setdefault(label, []).append(
            {
                "binding_guid": _guid(seed, "binding", name),
                "binding_name": None,
                "credentials": keys[name],
                "instance_guid": _guid(seed, "instance", name),
                "instance_name": instance,
                "label": label,
                "name": instance,
                "plan": plan,
                "provider": None,
                "syslog_drain_url": None,
                "tags": list(tags),
                "volume_mounts": [],
            }
        )
    return services


def _binding_files(entry: dict[str, Any]) -> dict[str, str]:
    """The files of one servicebinding.io binding as the SAP BTP service operator writes its secret."""
    files: dict[str, str] = {}
    credential_props = []
    for field, value in entry["credentials"].items():
        text = isinstance(value, str)
        files[field] = value if text else json.dumps(value)
        credential_props.append({"name": field, "format": "text" if text else "json"})
    meta = {
        "instance_name": entry["instance_name"],
        "instance_guid": entry["instance_guid"],
        "plan": entry["plan"],
        "label": entry["label"],
        "type": entry["label"],
    }
    files.update(meta)
    files["tags"] = json.dumps(entry["tags"])
    metadata = {
        "metaDataProperties": [
            *({"name": name, "format": "text"} for name in meta),
            {"name": "tags", "format": "json"},
        ],
        "credentialProperties": credential_props,
    }
    files[".metadata"] = json.dumps(metadata)
    return files


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _write_binding_tree(root: Path, services: dict[str, list[dict[str, Any]]]) -> None:
    """Write ``root`` (``bindings/``) whole in a sibling directory, then swap it in."""
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for entries in services.values():
            for entry in entries:
                directory = staging / entry["name"]
                directory.mkdir(mode=0o700)
                for name, text in _binding_files(entry).items():
                    # a fresh directory nobody reads until it is swapped in: no temp file or fsync per field
                    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(text.encode())
        old = None
        if root.exists():
            old = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(root, old)
        os.replace(staging, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_service_keys(
    directory: str | os.PathLike[str],
    root_url: str,
    config: EmulatorConfig | None = None,
    uaa_origins: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``<name>.json`` for every key of :func:`service_keys` into ``directory`` (created if needed), and
    the same keys as ``VCAP_SERVICES.json``, ``default-env.json`` and the ``bindings/`` tree (module docs).

    Each file is written to a temporary file in the same directory and renamed over the target, with mode
    0600 (they hold client secrets and a password); ``bindings/`` is built aside and swapped in whole. Returns
    the file paths by name (key names, ``VCAP_SERVICES`` and ``default-env``).
    """
    cfg = config or EmulatorConfig()
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = service_keys(root_url, cfg, uaa_origins)
    written: dict[str, Path] = {}
    for name, key in keys.items():
        path = out_dir / f"{name}.json"
        _write_private(path, _json_bytes(key))
        written[name] = path
    services = vcap_services(keys, cfg.seed)
    written["VCAP_SERVICES"] = out_dir / "VCAP_SERVICES.json"
    _write_private(written["VCAP_SERVICES"], _json_bytes(services))
    written["default-env"] = out_dir / "default-env.json"
    _write_private(written["default-env"], _json_bytes({"VCAP_SERVICES": services}))
    _write_binding_tree(out_dir / "bindings", services)
    return written
