"""An embedded emulator of the SAP BTP management APIs (``pip install scp-async[emulator]``).

URL layout (one root, one path prefix per API, standing in for SAP's distinct hosts; each identity zone's UAA
at its own origin: its own port when served, ``<zone>.authentication.<host>`` in-process)::

    <uaa origin>/oauth/token           UAA / XSUAA token endpoint (``<root>/uaa/oauth/token`` answers too)
    <uaa origin>/token_keys            its signing keys (JWKS) for the RS256 access tokens
    <root>/accounts/...                Accounts          (/accounts/v1/..., /jobs-management/v1/...)
    <root>/entitlements/...            Entitlements      (/entitlements/v1/...)
    <root>/provisioning/...            Provisioning      (/provisioning/v1/...)
    <root>/saas_provisioning/...       SaaS Provisioning (/saas-manager/v1/..., /api/v2.0/jobs/...)
    <root>/service_manager/...         Service Manager   (/v1/service_instances, ...)
    <root>/events/...                  Events            (/cloud-management/v1/events)
    <root>/resource_consumption/...    Resource Consumption (/reports/v1/...)
    <root>/audit_log/...               Audit log retrieval (/auditlog/v2/auditlogrecords)
    <root>/cf/...                      Cloud Foundry API root (/, /v2/info, /v3/...)
    <root>/multiapps/...               MultiApps controller (/api/v1/..., /api/v2/...)
    <root>/xsuaa/...                   XSUAA authorization API

Every API base also serves its committed ``specs/<api>.json`` through swagger-ui discovery:
``<base>/v3/api-docs``, ``<base>/v3/api-docs/swagger-config``, ``<base>/swagger-resources``,
``<base>/v2/api-docs`` and ``<base>/swagger-ui/swagger-initializer.js`` (no token needed).

Nothing here is imported by ``import scp_async``; the server dependencies (uvicorn) load only when serving.
"""

from ._app import EmulatorApp
from ._clock import Clock, ManualClock, SystemClock
from ._config import (
    API_PREFIXES,
    AUDIT_LOG_RATE_LIMIT,
    UAA_PREFIX,
    Credentials,
    EmulatorConfig,
    FaultConfig,
    FaultRule,
)
from ._faults import Counters
from ._http import ConnectionDropped
from ._keys import service_keys, write_service_keys
from ._server import Emulator, create_app, run_server

__all__ = [
    "API_PREFIXES",
    "AUDIT_LOG_RATE_LIMIT",
    "UAA_PREFIX",
    "Clock",
    "ConnectionDropped",
    "Counters",
    "Credentials",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "FaultConfig",
    "FaultRule",
    "ManualClock",
    "SystemClock",
    "create_app",
    "run_server",
    "service_keys",
    "write_service_keys",
]
