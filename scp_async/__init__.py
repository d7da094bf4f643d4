"""scp-async: a typed async client for the SAP BTP management APIs.

Start with :class:`Session`::

    async with scp_async.Session() as session:
        cis = session.cloud_management(scp_async.ServiceKey.from_file("cis-key.json"))
        global_account = await cis.accounts.get_global_account()

Only the hand-written core is imported here; generated per-API clients and the emulator
are separate imports, so ``import scp_async`` stays cheap.
"""

from typing import TYPE_CHECKING, Any

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
from ._governor import SAP_PRESETS, GovernorStats, RateGovernor, RateLimit
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

if TYPE_CHECKING:
    from ._apis import AuditLog, CloudFoundry, MultiApps

    __version__: str


def __getattr__(name: str) -> Any:
    # These subclass generated namespaces: import them (and their generated code) only when asked.
    if name in ("AuditLog", "CloudFoundry", "MultiApps"):
        from . import _apis

        return getattr(_apis, name)
    if name == "__version__":
        # importlib.metadata costs ~30 ms at import; every generated operation imports this package.
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("scp-async")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
