"""Shared test data: service keys with distinctive secrets, token bodies, a fake sleep."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx

# Distinctive values: the redaction tests grep every string the library produces for them.
CLIENT_SECRET = "S3cr3t-client-Zq9"
PASSWORD = "P4ss-word-Xk7"
PRIVATE_KEY_MARKER = "PRIV-KEY-MATERIAL-Jw2"
ACCESS_TOKEN = "acc3ss-T0ken-Mn5"
REFRESH_TOKEN = "r3fresh-T0ken-Vb8"

UAA_URL = "https://sub.authentication.eu10.hana.ondemand.com"
TOKEN_URL = f"{UAA_URL}/oauth/token"
ACCOUNTS_URL = "https://accounts-service.cfapps.eu10.hana.ondemand.com"
AUDIT_URL = "https://auditlog-management.cfapps.eu10.hana.ondemand.com"
SM_URL = "https://service-manager.cfapps.eu10.hana.ondemand.com"


def cis_key_dict() -> dict[str, Any]:
    return {
        "endpoints": {
            "accounts_service_url": ACCOUNTS_URL,
            "entitlements_service_url": "https://entitlements-service.cfapps.eu10.hana.ondemand.com",
            "provisioning_service_url": "https://provisioning-service.cfapps.eu10.hana.ondemand.com",
            "saas_registry_service_url": "https://saas-manager.cfapps.eu10.hana.ondemand.com",
            "events_service_url": "https://events-service.cfapps.eu10.hana.ondemand.com",
        },
        "grant_type": "client_credentials",
        "sap.cloud.service": "com.sap.core.commercial.service.central",
        "uaa": {
            "clientid": "sb-ut-cis!b12|cis-central!b14",
            "clientsecret": CLIENT_SECRET,
            "url": UAA_URL,
            "identityzone": "sub",
            "xsappname": "ut-cis!b12|cis-central!b14",
        },
    }


def audit_key_dict() -> dict[str, Any]:
    return {
        "url": AUDIT_URL,
        "uaa": {"clientid": "sb-audit!b1|auditlog!b2", "clientsecret": CLIENT_SECRET, "url": UAA_URL},
        "vendor": "SAP",
    }


def sm_key_dict() -> dict[str, Any]:
    return {
        "clientid": "sb-sm!b1|service-manager!b2",
        "clientsecret": CLIENT_SECRET,
        "sm_url": SM_URL,
        "url": UAA_URL,
        "xsappname": "sm!b1|service-manager!b2",
    }


def token_json(access_token: str = ACCESS_TOKEN, expires_in: int | None = 43199, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access_token, "token_type": "bearer", **extra}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return body


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class Sleeps:
    """Records requested waits instead of sleeping (retry tests never wait)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0  # a clock that only these waits advance (the rate governor's, in tests)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        await anyio.lowlevel.checkpoint()


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))
