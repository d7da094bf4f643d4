"""Service keys in SAP's own formats, pointing at a running emulator."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._config import API_PREFIXES, UAA_PREFIX, Credentials, EmulatorConfig


def _uaa_block(root: str, creds: Credentials) -> dict[str, Any]:
    uaa = root + UAA_PREFIX
    return {
        "apiurl": root + API_PREFIXES["xsuaa"],
        "clientid": creds.client_id,
        "clientsecret": creds.client_secret,
        "credential-type": "binding-secret",
        "identityzone": creds.identityzone,
        "identityzoneid": creds.identityzone,
        "sburl": uaa,
        "subaccountid": creds.identityzone,
        "tenantid": creds.identityzone,
        "tenantmode": "dedicated",
        "uaadomain": root.split("://", 1)[-1],
        "url": uaa,
        "xsappname": creds.xsappname,
        "zoneid": creds.identityzone,
    }


def service_keys(root_url: str, config: EmulatorConfig | None = None) -> dict[str, dict[str, Any]]:
    """Every key the emulator hands out, by file stem: cis, audit_log, service_manager,
    resource_consumption, xsuaa, cf (CF API URL + user credentials) and emulator (an index)."""
    cfg = config or EmulatorConfig()
    root = root_url.rstrip("/")
    base = {api: root + prefix for api, prefix in API_PREFIXES.items()}
    clients = cfg.clients
    user, password = next(iter(cfg.users.items()))
    sm = clients["service_manager"]
    return {
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
            "uaa": _uaa_block(root, clients["cis"]),
        },
        "audit_log": {"url": base["audit_log"], "vendor": "SAP", "uaa": _uaa_block(root, clients["audit_log"])},
        "service_manager": {
            "clientid": sm.client_id,
            "clientsecret": sm.client_secret,
            "sm_url": base["service_manager"],
            "url": root + UAA_PREFIX,
            "xsappname": sm.xsappname,
        },
        "resource_consumption": {
            "target_url": base["resource_consumption"],
            "url": base["resource_consumption"],
            "uaa": _uaa_block(root, clients["resource_consumption"]),
        },
        "xsuaa": _uaa_block(root, clients["xsuaa"]),
        "cf": {
            "api": base["cf_v3"],
            "api_url": base["cf_v3"],
            "uaa_url": root + UAA_PREFIX,
            "deploy_service_url": base["multiapps"],
            "username": user,
            "password": password,
            "client_id": "cf",
            "client_secret": "",
        },
        "emulator": {"root": root, "uaa": root + UAA_PREFIX, "apis": base},
    }


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


def write_service_keys(
    directory: str | os.PathLike[str], root_url: str, config: EmulatorConfig | None = None
) -> dict[str, Path]:
    """Write ``<name>.json`` for every key of :func:`service_keys` into ``directory`` (created if needed).

    Each file is written to a temporary file in the same directory and renamed over the target, with mode
    0600 (they hold client secrets and a password). Returns the paths by key name.
    """
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, key in service_keys(root_url, config).items():
        path = out_dir / f"{name}.json"
        _write_private(path, (json.dumps(key, indent=2, sort_keys=True) + "\n").encode())
        written[name] = path
    return written
