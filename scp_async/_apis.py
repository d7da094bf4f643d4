"""Hand-written additions to generated namespaces: Cloud Foundry with its MultiApps controller, and
the audit log's record iterator.

This module imports generated code, so :mod:`scp_async` imports it only when one of these APIs is
first asked for (``Session.cloud_foundry``, ``Session.audit_log``).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

import anyio

from scp_async_clients.audit_log._namespace import AuditLogApi
from scp_async_clients.cf_v3._namespace import CfV3Api
from scp_async_clients.multiapps._namespace import MultiappsApi
from scp_async_clients.multiapps.models import FileMetadata, UploadMtaFileBody
from scp_async_clients.multiapps.types import UNSET, File, Unset

from ._audit_log import AuditLogRecord, iterate_records
from ._errors import ServiceKeyError
from ._session import ApiContext, MultiAppsContext

__all__ = ["AuditLog", "CloudFoundry", "MultiApps", "deploy_service_url_for"]


def deploy_service_url_for(api_url: str) -> str:
    """The MultiApps controller next to a CF API: ``api.cf.<region>...`` → ``deploy-service.cf.<region>...``."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if not host.startswith("api."):
        raise ServiceKeyError(
            api_url,
            "cannot derive the deploy service URL from a CF API host that does not start with `api.`",
            field="deploy_service_url",
            hint="Pass deploy_service_url=... to Session.cloud_foundry()",
        )
    netloc = parts.netloc.replace(host, "deploy-service." + host.removeprefix("api."), 1)
    return urlunsplit((parts.scheme, netloc, "", "", ""))


class AuditLog(AuditLogApi):
    """The Audit Log retrieval API: the generated operation plus :meth:`records`."""

    async def records(
        self,
        *,
        time_from: datetime | str | None = None,
        time_to: datetime | str | None = None,
        category: str | None = None,
    ) -> AsyncIterator[AuditLogRecord]:
        """Every record of a time window, following the service's ``Paging`` handles (500 per page).

        Naive datetimes are taken as UTC; ``category`` filters (comma-separated categories).
        """
        async for record in iterate_records(self._context, time_from=time_from, time_to=time_to, category=category):
            yield record


class MultiApps(MultiappsApi):
    """The CF MultiApps controller (deploy service); CSRF tokens are handled for you."""

    async def upload_mta(
        self,
        space_guid: str,
        archive: str | os.PathLike[str] | BinaryIO,
        *,
        file_name: str | None = None,
        namespace: str | Unset = UNSET,
    ) -> FileMetadata:
        """Upload an MTA archive (a path or an open binary file) to a space; returns its file metadata."""
        if isinstance(archive, (str, os.PathLike)):
            path = anyio.Path(archive)
            content = io.BytesIO(await path.read_bytes())
            return await self.upload_mta(space_guid, content, file_name=file_name or path.name, namespace=namespace)
        body = UploadMtaFileBody(file=File(payload=archive, file_name=file_name or "archive.mtar"))
        return await self.upload_mta_file(space_guid, body=body, namespace=namespace)


class CloudFoundry(CfV3Api):
    """The Cloud Foundry V3 API (every operation as a method) and, as :attr:`multiapps`, its deploy service."""

    def __init__(
        self,
        context: ApiContext,
        *,
        uaa_url: str,
        login_url: str | None = None,
        deploy_service_url: str | None = None,
    ) -> None:
        super().__init__(context)
        self.uaa_url = uaa_url
        self.login_url = login_url
        self._deploy_service_url = deploy_service_url

    @functools.cached_property
    def multiapps(self) -> MultiApps:
        """The MultiApps controller, with this API's token."""
        url = self._deploy_service_url or deploy_service_url_for(self._context.base_url)
        return MultiApps(MultiAppsContext(self._context.session, url, self._context.auth))

    def with_options(self, **options: object) -> CloudFoundry:
        return CloudFoundry(
            self._context.with_options(**options),  # type: ignore[arg-type]
            uaa_url=self.uaa_url,
            login_url=self.login_url,
            deploy_service_url=self._deploy_service_url,
        )
