"""scp-async: a typed async client for the SAP BTP management APIs.

Start with :class:`Session`::

    async with scp_async.Session() as session:
        cis = session.cloud_management(scp_async.ServiceKey.from_file("cis-key.json"))
        response = await cis.accounts.request("GET", "/accounts/v1/globalAccount")

Only the hand-written core is imported here; generated per-API clients and the emulator
are separate imports, so ``import scp_async`` stays cheap.
"""

from ._credentials import (
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
    NotFound,
    RateLimited,
    ScpAsyncError,
    ServerError,
    ServiceKeyError,
    Unauthorized,
)
from ._logging import RedactingFilter, redact_url
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
from ._options import DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, RequestOptions
from ._retry import RetryPolicy
from ._session import (
    ApiContext,
    AuditLog,
    AuditLogRecord,
    CloudFoundry,
    CloudManagement,
    ServiceManager,
    Session,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "ApiConnectionError",
    "ApiContext",
    "ApiError",
    "ApiTimeoutError",
    "AuditLog",
    "AuditLogRecord",
    "AuthenticationError",
    "BadRequest",
    "CfCliConfig",
    "ClientCredentialsGrant",
    "CloudFoundry",
    "CloudManagement",
    "Conflict",
    "CredentialType",
    "ErrorDetail",
    "Forbidden",
    "Grant",
    "NotFound",
    "NotGiven",
    "OAuth2Auth",
    "PasswordGrant",
    "RateLimited",
    "RedactingFilter",
    "RefreshTokenGrant",
    "RequestOptions",
    "RetryPolicy",
    "ScpAsyncError",
    "ServerError",
    "ServiceKey",
    "ServiceKeyError",
    "ServiceKeyKind",
    "ServiceKeyLike",
    "ServiceManager",
    "Session",
    "Token",
    "TokenCache",
    "UaaCredentials",
    "Unauthorized",
    "X509ClientCredentialsGrant",
    "load_service_key",
    "redact_url",
]
