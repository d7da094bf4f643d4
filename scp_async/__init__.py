"""scp-async: a typed async client for the SAP BTP management APIs.

Start with :class:`Session`::

    async with scp_async.Session() as session:
        cis = session.cloud_management(scp_async.ServiceKey.from_file("cis-key.json"))
        global_account = await cis.accounts.get_global_account()

Only the hand-written core is imported here; generated per-API clients and the emulator
are separate imports, so ``import scp_async`` stays cheap.
"""

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._apis import AuditLog, CloudFoundry, MultiApps
    from ._audit_log import AuditLogRecord
    from ._credentials import (
        BindingInfo,
        CfCliConfig,
        CredentialType,
        ServiceKey,
        ServiceKeyKind,
        ServiceKeyLike,
        UaaCredentials,
        load_service_key,
    )
    from ._errors import (
        ApiConnectionError,
        ApiError,
        ApiTimeoutError,
        AuthenticationError,
        BadRequest,
        Conflict,
        ErrorDetail,
        Forbidden,
        InvalidResponseError,
        NotFound,
        RateLimited,
        ResponseTooLargeError,
        ScpAsyncError,
        ServerError,
        ServiceKeyError,
        Unauthorized,
        UnexpectedStatusError,
    )
    from ._fan_out import FanOut, Outcome, fan_out, fan_out_stream
    from ._governor import SAP_PRESETS, ColdStart, GovernorStats, RateGovernor, RateLimit
    from ._limits import DEFAULT_MAX_RESPONSE_SIZE
    from ._logging import RedactingFilter, redact_url
    from ._namespace import Namespace
    from ._oauth import (
        ClientCredentialsGrant,
        Grant,
        OAuth2Auth,
        PasswordGrant,
        RefreshTokenGrant,
        Token,
        TokenCache,
        X509ClientCredentialsGrant,
    )
    from ._options import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, RequestOptions
    from ._pagination import PaginationError, Paginator, paginate
    from ._retry import RetryPolicy
    from ._session import ApiContext, CloudManagement, MultiAppsContext, Session
    from ._transport import DEFAULT_LIMITS, DefaultTransport
    from ._unset import UNSET, Unset
    from ._waiters import (
        WaitFailedError,
        WaitTimeoutError,
        wait_for_cf_job,
        wait_for_cis_job,
        wait_for_mta_operation,
        wait_for_service_instance,
        wait_for_subaccount,
        wait_until,
    )

    __version__: str

# Where each public name lives. The package loads a module on the first use of one of its names: the
# generated clients import `scp_async._unset` and `scp_async._decoding`, and importing them must not
# load the whole facade (authlib, anyio, httpcore) with them.
_EXPORTS: Final[dict[str, str]] = {
    "AuditLogRecord": "_audit_log",
    "BindingInfo": "_credentials",
    "CfCliConfig": "_credentials",
    "CredentialType": "_credentials",
    "ServiceKey": "_credentials",
    "ServiceKeyKind": "_credentials",
    "ServiceKeyLike": "_credentials",
    "UaaCredentials": "_credentials",
    "load_service_key": "_credentials",
    "ApiConnectionError": "_errors",
    "ApiError": "_errors",
    "ApiTimeoutError": "_errors",
    "AuthenticationError": "_errors",
    "BadRequest": "_errors",
    "Conflict": "_errors",
    "ErrorDetail": "_errors",
    "Forbidden": "_errors",
    "InvalidResponseError": "_errors",
    "NotFound": "_errors",
    "RateLimited": "_errors",
    "ResponseTooLargeError": "_errors",
    "ScpAsyncError": "_errors",
    "ServerError": "_errors",
    "ServiceKeyError": "_errors",
    "Unauthorized": "_errors",
    "UnexpectedStatusError": "_errors",
    "FanOut": "_fan_out",
    "Outcome": "_fan_out",
    "fan_out": "_fan_out",
    "fan_out_stream": "_fan_out",
    "SAP_PRESETS": "_governor",
    "ColdStart": "_governor",
    "GovernorStats": "_governor",
    "RateGovernor": "_governor",
    "RateLimit": "_governor",
    "DEFAULT_MAX_RESPONSE_SIZE": "_limits",
    "RedactingFilter": "_logging",
    "redact_url": "_logging",
    "Namespace": "_namespace",
    "ClientCredentialsGrant": "_oauth",
    "Grant": "_oauth",
    "OAuth2Auth": "_oauth",
    "PasswordGrant": "_oauth",
    "RefreshTokenGrant": "_oauth",
    "Token": "_oauth",
    "TokenCache": "_oauth",
    "X509ClientCredentialsGrant": "_oauth",
    "DEFAULT_DEADLINE": "_options",
    "DEFAULT_TIMEOUT": "_options",
    "NOT_GIVEN": "_options",
    "NotGiven": "_options",
    "RequestOptions": "_options",
    "PaginationError": "_pagination",
    "Paginator": "_pagination",
    "paginate": "_pagination",
    "RetryPolicy": "_retry",
    "ApiContext": "_session",
    "CloudManagement": "_session",
    "MultiAppsContext": "_session",
    "Session": "_session",
    "DEFAULT_LIMITS": "_transport",
    "DefaultTransport": "_transport",
    "UNSET": "_unset",
    "Unset": "_unset",
    "WaitFailedError": "_waiters",
    "WaitTimeoutError": "_waiters",
    "wait_for_cf_job": "_waiters",
    "wait_for_cis_job": "_waiters",
    "wait_for_mta_operation": "_waiters",
    "wait_for_service_instance": "_waiters",
    "wait_for_subaccount": "_waiters",
    "wait_until": "_waiters",
    "AuditLog": "_apis",
    "CloudFoundry": "_apis",
    "MultiApps": "_apis",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif name == "__version__":
        # importlib.metadata costs ~30 ms; most programs never ask.
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("scp-async")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "SAP_PRESETS",
    "UNSET",
    "ApiConnectionError",
    "ApiContext",
    "ApiError",
    "ApiTimeoutError",
    "AuditLog",
    "AuditLogRecord",
    "AuthenticationError",
    "BadRequest",
    "BindingInfo",
    "CfCliConfig",
    "ClientCredentialsGrant",
    "CloudFoundry",
    "CloudManagement",
    "ColdStart",
    "Conflict",
    "CredentialType",
    "DefaultTransport",
    "ErrorDetail",
    "FanOut",
    "Forbidden",
    "GovernorStats",
    "Grant",
    "InvalidResponseError",
    "MultiApps",
    "MultiAppsContext",
    "Namespace",
    "NotFound",
    "NotGiven",
    "OAuth2Auth",
    "Outcome",
    "PaginationError",
    "Paginator",
    "PasswordGrant",
    "RateGovernor",
    "RateLimit",
    "RateLimited",
    "RedactingFilter",
    "RefreshTokenGrant",
    "RequestOptions",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ScpAsyncError",
    "ServerError",
    "ServiceKey",
    "ServiceKeyError",
    "ServiceKeyKind",
    "ServiceKeyLike",
    "Session",
    "Token",
    "TokenCache",
    "UaaCredentials",
    "Unauthorized",
    "UnexpectedStatusError",
    "Unset",
    "WaitFailedError",
    "WaitTimeoutError",
    "X509ClientCredentialsGrant",
    "__version__",
    "fan_out",
    "fan_out_stream",
    "load_service_key",
    "paginate",
    "redact_url",
    "wait_for_cf_job",
    "wait_for_cis_job",
    "wait_for_mta_operation",
    "wait_for_service_instance",
    "wait_for_subaccount",
    "wait_until",
]
